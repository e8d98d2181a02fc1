"""``FakeKube``: the fake API server's single entry point and its Python-side API."""

from __future__ import annotations

import datetime
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import (
    _controller,
    _errors,
    _faults,
    _http,
    _json,
    _labels,
    _log,
    _protobuf,
    _rbac,
    _resources,
    _store,
    _tables,
    _types,
    _watch,
)
from . import _decode as _decode_module

logger = logging.getLogger(__name__)

SETTLE_BUDGET = 500
"""Controller actions per hold of the lock in serve mode (~0.2 s; 1,000 pods take ~2,000)."""

ADMIN = 'admin'
"""The caller name of Python-side calls unless another is given."""

_SUBRESOURCES = {'status'}
_FIELD_SELECTORS = ('metadata.name', 'metadata.namespace')
# Field selectors a kind adds (its strategy's ToSelectableFields / GetAttrs): kubernetes
# pkg/registry/core/event/strategy.go (kubectl describe lists an object's Events by
# involvedObject), pkg/registry/core/pod/strategy.go (status.phase, spec.nodeName...).
_KIND_FIELD_SELECTORS: dict[str, tuple[str, ...]] = {
    'Event': (
        'involvedObject.kind',
        'involvedObject.namespace',
        'involvedObject.name',
        'involvedObject.uid',
        'involvedObject.apiVersion',
        'involvedObject.resourceVersion',
        'involvedObject.fieldPath',
        'reason',
        'reportingComponent',
        'source',
        'type',
    ),
    'Pod': ('spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'status.phase'),
}


def _fields_match(obj: _json.Obj, fields: list[tuple[str, str, bool]]) -> bool:
    for field, value, positive in fields:
        have = _json.dig(obj, *field.split('.'))
        if field == 'source':
            have = _json.dig(obj, 'source', 'component')  # event strategy: source.component
        if (str(have if have is not None else '') == value) != positive:
            return False
    return True


def _identity(obj: _json.Obj) -> _json.Obj:
    return obj


class _Route:
    __slots__ = ('name', 'namespace', 'resource', 'subresource')

    def __init__(
        self,
        resource: _resources.ResourceType,
        namespace: str,
        name: str,
        subresource: str,
    ):
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.subresource = subresource


def _route(path: str) -> _Route:
    """Map a REST path to a kind, namespace, name and subresource (404 if none)."""
    parts = [p for p in path.split('/') if p]
    if len(parts) >= 2 and parts[0] == 'api':
        group, version, rest = '', parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == 'apis':
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise _errors.path_not_found()
    namespace = ''
    if len(rest) >= 3 and rest[0] == 'namespaces':
        inner = _resources.resource_for_path(group, version, rest[2])
        if inner is not None and inner.namespaced:
            namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise _errors.path_not_found()
    resource = _resources.resource_for_path(group, version, rest[0])
    if resource is None:
        raise _errors.path_not_found()
    name = rest[1] if len(rest) > 1 else ''
    subresource = rest[2] if len(rest) > 2 else ''
    if subresource and subresource not in _SUBRESOURCES:
        raise _errors.path_not_found()
    if resource.namespaced and name and not namespace:
        raise _errors.path_not_found()
    return _Route(resource, namespace, name, subresource)


@functools.lru_cache(maxsize=4096)  # the simulator's faults and trace ask per request
def kind_of_path(path: str) -> str | None:
    """The kind a REST path names, routed as the API routes it; None if it serves no such path."""
    try:
        return _route(path).resource.kind
    except _errors.StatusError:
        return None


def object_of_path(path: str) -> tuple[str, str, str] | None:
    """The kind, namespace and name of the one object a REST path names, or None.

    Routed as the API routes it; None for a collection, a subresource, or a path it does
    not serve.
    """
    try:
        route = _route(path)
    except _errors.StatusError:
        return None
    if not route.name or route.subresource:
        return None
    return route.resource.kind, route.namespace, route.name


def _verb(method: str, route: _Route, watch: bool) -> str:
    named = bool(route.name)
    if method == 'GET' and watch and not route.subresource:
        # A watch of one object (GET .../pods/NAME?watch=true) is a watch with its name.
        return 'watch'
    verbs = {
        ('GET', True): 'get',
        ('GET', False): 'watch' if watch else 'list',
        ('POST', False): 'create',
        ('PUT', True): 'update',
        ('PATCH', True): 'patch',
        ('DELETE', True): 'delete',
        ('DELETE', False): 'deletecollection',
    }
    verb = verbs.get((method, named))
    if verb is None or (verb == 'create' and route.resource.namespaced and not route.namespace):
        raise _errors.method_not_allowed(route.resource, method)
    return verb


def _decode(body: bytes, *, what: str) -> Any:
    try:
        return _decode_module.decode_json(body)
    except _decode_module.DecodeError as e:
        raise _errors.bad_request(f'{what}: {e}') from e


# negotiation.NegotiateInputSerializer (apiserver pkg/endpoints/handlers/negotiation/
# negotiate.go): a body's Content-Type must be one the server decodes; none means the first
# (JSON). The real server also takes application/yaml; this fake does not.
_BODY_TYPES = ('application/json', _protobuf.MEDIA_TYPE)


def _media_type(request: _http.ApiRequest) -> str:
    return request.headers.get('content-type', '').split(';', 1)[0].strip().lower()


def _decode_object(request: _http.ApiRequest, resource: _resources.ResourceType) -> _json.Obj:
    media_type = _media_type(request) or 'application/json'
    if media_type not in _BODY_TYPES:
        raise _errors.unsupported_media_type(media_type, _BODY_TYPES)
    if media_type == _protobuf.MEDIA_TYPE:
        try:
            obj: Any = _protobuf.decode(request.body)
        except _protobuf.ProtobufError as e:
            raise _errors.bad_request(
                f"couldn't get version/kind; protobuf parse error: {e}"
            ) from e
    else:
        # handlers/create.go and update.go: the body must decode to the resource's type.
        obj = _decode(request.body, what="couldn't get version/kind; json parse error")
    obj_map = _json.as_map(obj)
    if obj_map is None:
        raise _errors.bad_request(
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            f'{_types.json_kind(obj)} into Go value of type struct {{ APIVersion string '
            '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
        )
    problem = _types.type_error(resource.kind, obj_map)
    if problem is not None:
        # handlers/rest.go transformDecodeError: a decode failure of a known kind is a 400.
        raise _errors.bad_request(
            f'{resource.kind} in version "{resource.version}" cannot be handled as a '
            f'{resource.kind}: {problem}'
        )
    return obj_map


def _list_items(objs: Iterable[_json.Obj]) -> list[_json.Obj]:
    # The API server's list items carry no kind/apiVersion of their own.
    return [{k: v for k, v in o.items() if k not in ('kind', 'apiVersion')} for o in objs]


def _grace_period(options: _json.Obj) -> int | None:
    value = options.get('gracePeriodSeconds')
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _errors.bad_request(f'gracePeriodSeconds: Invalid value: {value!r}')
    return value


class FakeKube:
    """A fake Kubernetes API server: object store, RBAC, faults, log and controllers.

    ``handle`` is the one entry point of both front ends (the httpx transport and the HTTP
    server); it is thread-safe. The Python-side methods act as an administrator and are
    logged under ``caller`` (``admin`` by default).

    Args:
        namespaces: namespaces that exist from the start.
        auto_settle: run the controllers to completion after every write ``handle`` applies
            (serve mode); by default a simulator steps them explicitly.
        clock: returns the current time for creationTimestamp.
        seed: seeds generated names and uids.
        graceful_pod_deletion: a deleted Pod stays Terminating until deleted again with no
            grace period (the kubelet's part, which a simulator then plays); off by default,
            when every delete is immediate.
        watch_history: how many changes a watch from an old resourceVersion can replay;
            older ones get a 410 Expired event.
    """

    def __init__(
        self,
        *,
        namespaces: Iterable[str] = ('default',),
        auto_settle: bool = False,
        clock: Callable[[], datetime.datetime] | None = None,
        seed: int = 0,
        graceful_pod_deletion: bool = False,
        watch_history: int = _watch.DEFAULT_HISTORY,
    ):
        self.lock = threading.RLock()
        self.store = _store.Store(clock=clock, seed=seed)
        self.store.graceful_pods = graceful_pod_deletion
        self.watches = _watch.WatchHub(watch_history)
        self.store.observers.append(self.watches.record)
        self.log = _log.RequestLog()
        self.faults = _faults.Faults()
        self.controller = _controller.StatefulSetController(self.store, self.log)
        self.auto_settle = auto_settle
        self._settler: threading.Thread | None = None
        self._callers: dict[str, tuple[str, _rbac.Policy]] = {}
        for namespace in namespaces:
            self.ensure_namespace(namespace)

    # -- callers -----------------------------------------------------------------------------

    def register_caller(self, token: str, policy: _rbac.Policy, *, name: str | None = None) -> str:
        """Let requests bearing ``token`` in, under ``policy``; return the caller's log name.

        The name defaults to the policy's user (``system:serviceaccount:NS:APP``).
        """
        caller = name or policy.user
        with self.lock:
            self._callers[token] = (caller, policy)
        return caller

    def policy(self, token: str) -> _rbac.Policy:
        """The policy registered for ``token`` (``KeyError`` if none)."""
        with self.lock:
            return self._callers[token][1]

    # -- the HTTP entry point ----------------------------------------------------------------

    def handle(self, request: _http.ApiRequest) -> _http.ApiResponse:
        """Answer one API request. Thread-safe.

        Raises:
            ResponseLost: an injected fault applied the request and lost its response.
        """
        with self.lock:
            try:
                response, settle = self._handle(request)
            except _errors.ResponseLost:
                raise
            except RecursionError:
                # The decoder bounds nesting (_decode.MAX_DEPTH); this is the belt to its braces.
                return _errors.bad_request('exceeded max depth').response()
            except Exception:
                # A bug must not escape to the caller: answer as the real server's panic
                # recovery does (apiserver pkg/server/filters/wrap.go WithPanicRecovery: 500).
                logger.exception('the fake API failed on %s %s', request.method, request.path)
                return _errors.StatusError(
                    code=500,
                    reason='InternalError',
                    message='Internal error occurred: the fake API failed on this request',
                ).response()
            if settle and self.auto_settle:
                self._settle_after_write()
            return response

    def _settle_after_write(self) -> None:
        """Serve mode: run the controllers now, a bounded number of actions under the lock.

        A small rollout finishes before the response goes out (what ``kubectl`` users of
        ``kube serve`` expect); a large one (up to int32 replicas) goes on in a background
        thread that takes the lock for one budget at a time, so requests keep being answered.
        """
        if self.controller.run(SETTLE_BUDGET) is not None:
            return
        if self._settler is None or not self._settler.is_alive():
            self._settler = threading.Thread(
                target=self._settle_in_background, name='kube-controller', daemon=True
            )
            self._settler.start()

    def _settle_in_background(self) -> None:
        while True:
            with self.lock:
                if self.controller.run(SETTLE_BUDGET) is not None:
                    self._settler = None
                    return
            time.sleep(0.001)  # let waiting requests take the lock between budgets

    def _handle(self, request: _http.ApiRequest) -> tuple[_http.ApiResponse, bool]:
        token = request.bearer_token
        known = self._callers.get(token) if token is not None else None
        caller = known[0] if known else 'anonymous'
        verb, kind, namespace, name = request.method.lower(), '', '', ''
        fault: _faults.Fault | None = None
        try:
            if known is None:
                # Authentication runs before routing: an unknown token never learns a path.
                raise _errors.unauthorized()
            policy = known[1]
            route = _route(request.path)
            kind, namespace, name = route.resource.kind, route.namespace, route.name
            watch = request.query_value('watch') in ('true', '1')
            verb = _verb(request.method, route, watch)
            attributes = _rbac.Attributes(
                verb=verb,
                resource=route.resource,
                namespace=namespace,
                name=name,
                subresource=route.subresource,
            )
            if not policy.allows(attributes):
                raise _errors.forbidden(
                    route.resource, name, user=policy.user, verb=verb, namespace=namespace
                )
            fault = self.faults.take(
                caller=caller, verb=verb, kind=kind, namespace=namespace, name=name
            )
            if fault is not None and fault.status is not None:
                error = _errors.for_code(
                    fault.status,
                    route.resource,
                    name,
                    user=policy.user,
                    verb=verb,
                    namespace=namespace,
                    message=fault.message,
                )
                self._record(caller, verb, kind, namespace, name, error.code, fault=True)
                return error.response(), False
            rv_before = self.store.resource_version
            response, created = self._dispatch(request, route, verb, caller)
            name = name or created
            applied = self.store.resource_version != rv_before
        except _errors.StatusError as e:
            lost = fault is not None and fault.loses_response
            self._record(caller, verb, kind, namespace, name, e.code, lost=lost)
            if lost:
                raise _errors.ResponseLost(
                    f'{verb} {kind} {namespace}/{name}: response lost'
                ) from e
            return e.response(), False
        if fault is not None:
            self._record(caller, verb, kind, namespace, name, response.status, applied, lost=True)
            if applied and self.auto_settle:
                self._settle_after_write()
            raise _errors.ResponseLost(f'{verb} {kind} {namespace}/{name}: response lost')
        self._record(caller, verb, kind, namespace, name, response.status, applied)
        return response, applied

    def _record(
        self,
        caller: str,
        verb: str,
        kind: str,
        namespace: str,
        name: str,
        status: int,
        applied: bool = False,
        *,
        lost: bool = False,
        fault: bool = False,
    ) -> None:
        self.log.add(
            caller=caller,
            verb=verb,
            kind=kind,
            namespace=namespace,
            name=name,
            status=status,
            applied=applied,
            lost=lost,
            fault=fault,
        )

    def _dispatch(
        self, request: _http.ApiRequest, route: _Route, verb: str, caller: str
    ) -> tuple[_http.ApiResponse, str]:
        """Carry out the request; return the response and the name of a created object."""
        if verb == 'create':
            obj = self.store.create(
                route.resource,
                route.namespace,
                _decode_object(request, route.resource),
                caller=caller,
                dry_run=self._dry_run(request),
            )
            return _http.ApiResponse.json(201, obj), str(_json.dig(obj, 'metadata', 'name'))
        return self._dispatch_named(request, route, verb, caller), ''

    def _dispatch_named(
        self, request: _http.ApiRequest, route: _Route, verb: str, caller: str
    ) -> _http.ApiResponse:
        resource, namespace, name = route.resource, route.namespace, route.name
        dry_run = self._dry_run(request)
        subresource = route.subresource or None
        if verb == 'get':
            return _http.ApiResponse.json(200, self.store.get(resource, namespace, name))
        if verb == 'list':
            return _http.ApiResponse.json(200, self._list(request, resource, namespace or None))
        if verb == 'watch':
            return self._watch(request, route)
        if verb == 'update':
            obj = self.store.update(
                resource,
                namespace,
                name,
                _decode_object(request, route.resource),
                caller=caller,
                subresource=subresource,
                dry_run=dry_run,
            )
            return _http.ApiResponse.json(200, obj)
        if verb == 'patch':
            return _http.ApiResponse.json(200, self._patch(request, route, caller, dry_run))
        if verb == 'delete':
            options = self._delete_options(request)
            obj = self.store.delete(
                resource,
                namespace,
                name,
                caller=caller,
                propagation=_json.dig(options, 'propagationPolicy'),
                preconditions=_json.as_map(options.get('preconditions')),
                dry_run=dry_run,
                grace_period=_grace_period(options),
            )
            return _http.ApiResponse.json(200, self._success(resource, obj))
        # deletecollection
        options = self._delete_options(request)
        doomed = self._select(request, resource, namespace or None)
        deleted = [
            self.store.delete(
                resource,
                str(_json.dig(o, 'metadata', 'namespace') or ''),
                str(_json.dig(o, 'metadata', 'name')),
                caller=caller,
                propagation=_json.dig(options, 'propagationPolicy'),
                dry_run=dry_run,
            )
            for o in list(doomed)
        ]
        return _http.ApiResponse.json(200, self._list_body(resource, deleted))

    @staticmethod
    def _dry_run(request: _http.ApiRequest) -> bool:
        values = request.query.get('dryRun', [])
        for value in values:
            if value != 'All':
                # handlers/rest.go: dryRun accepts only "All".
                raise _errors.bad_request(
                    f'dryRun: Unsupported value: "{value}": supported values: "All"'
                )
        return bool(values)

    def _delete_options(self, request: _http.ApiRequest) -> _json.Obj:
        options: _json.Obj = {}
        if request.body.strip():
            body = _json.as_map(_decode(request.body, what='error decoding DeleteOptions'))
            if body is None:
                raise _errors.bad_request('DeleteOptions must be a JSON object')
            options.update(body)
        policy = request.query_value('propagationPolicy')
        if policy is not None:
            options['propagationPolicy'] = policy
        return options

    @staticmethod
    def _success(resource: _resources.ResourceType, obj: _json.Obj) -> _json.Obj:
        # An immediate delete answers a Status Success naming the object (registry/store.go).
        details: _json.Obj = {'name': _json.dig(obj, 'metadata', 'name')}
        if resource.group:
            details['group'] = resource.group
        details['kind'] = resource.plural
        details['uid'] = _json.dig(obj, 'metadata', 'uid')
        return {
            'kind': 'Status',
            'apiVersion': 'v1',
            'metadata': {},
            'status': 'Success',
            'details': details,
        }

    def _select(
        self, request: _http.ApiRequest, resource: _resources.ResourceType, namespace: str | None
    ) -> list[_json.Obj]:
        try:
            selector = _labels.parse_selector(request.query_value('labelSelector'))
        except _labels.SelectorError as e:
            raise _errors.bad_request(str(e)) from e
        fields = self._field_selector(request.query_value('fieldSelector'), resource)
        out: list[_json.Obj] = []
        for obj in self.store.list(resource, namespace):
            meta = _json.as_map(obj.get('metadata')) or {}
            if not selector.matches(_json.str_map(meta.get('labels'))):
                continue
            if _fields_match(obj, fields):
                out.append(obj)
        return out

    def _watch(self, request: _http.ApiRequest, route: _Route) -> _http.ApiResponse:
        """Open a watch (under the lock); its stream runs on the caller's thread, unlocked."""
        resource = route.resource
        try:
            selector = _labels.parse_selector(request.query_value('labelSelector'))
        except _labels.SelectorError as e:
            raise _errors.bad_request(str(e)) from e
        fields = self._field_selector(request.query_value('fieldSelector'), resource)
        if route.name:
            fields.append(('metadata.name', route.name, True))
        timeout = _watch.DEFAULT_TIMEOUT
        timeout_text = request.query_value('timeoutSeconds')
        if timeout_text:
            if not timeout_text.isdigit():
                raise _errors.bad_request(f'invalid timeoutSeconds: {timeout_text!r}')
            timeout = float(min(int(timeout_text), int(_watch.DEFAULT_TIMEOUT)))
        resource_version = request.query_value('resourceVersion')
        if resource_version not in (None, '') and not str(resource_version).isdigit():
            # storage/etcd3 APIObjectVersioner.ParseResourceVersion.
            raise _errors.bad_request(f'invalid resource version: {resource_version!r}')
        namespace = route.namespace or None
        opened = self.watches.open(
            kind=resource.kind,
            namespace=namespace if resource.namespaced else None,
            resource_version=resource_version,
            selector=selector,
            fields=lambda obj: _fields_match(obj, fields),
            current=lambda: self.store.list(resource, namespace),
        )
        if isinstance(opened, int):
            return _http.ApiResponse(
                status=200, stream=_watch.expired(str(resource_version), opened)
            )
        watcher, initial = opened
        table = _tables.wants_table(request)
        stream = self.watches.stream(
            watcher,
            initial,
            timeout=timeout,
            render=_tables.to_table if table else _identity,
        )
        return _http.ApiResponse(status=200, stream=stream)

    def _field_selector(
        self, text: str | None, resource: _resources.ResourceType | None = None
    ) -> list[tuple[str, str, bool]]:
        # Field selectors every kind supports: metadata.name and metadata.namespace
        # (https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/).
        out: list[tuple[str, str, bool]] = []
        for part in (text or '').split(','):
            part = part.strip()
            if not part:
                continue
            op = next((o for o in ('!=', '==', '=') if o in part), None)
            if op is None:
                raise _errors.bad_request(f"invalid selector: {part!r}; can't understand it")
            field, value = (s.strip() for s in part.split(op, 1))
            kind_fields = _KIND_FIELD_SELECTORS.get(resource.kind, ()) if resource else ()
            if field not in _FIELD_SELECTORS and field not in kind_fields:
                raise _errors.bad_request(f'field label not supported: {field}')
            out.append((field, value, op != '!='))
        return out

    def _list_body(
        self, resource: _resources.ResourceType, objs: Iterable[_json.Obj]
    ) -> _json.Obj:
        return {
            'kind': resource.list_kind,
            'apiVersion': resource.api_version,
            'metadata': {'resourceVersion': str(self.store.resource_version)},
            'items': _list_items(objs),
        }

    def _list(
        self, request: _http.ApiRequest, resource: _resources.ResourceType, namespace: str | None
    ) -> _json.Obj:
        return self._list_body(resource, self._select(request, resource, namespace))

    def _patch(
        self, request: _http.ApiRequest, route: _Route, caller: str, dry_run: bool
    ) -> _json.Obj:
        content_type = request.headers.get('content-type', '').split(';', 1)[0].strip().lower()
        if content_type not in _store.PATCH_TYPES:
            # Server-side apply is not served yet: like a server without it, answer 415.
            raise _errors.unsupported_media_type(content_type, _store.PATCH_TYPES)
        if request.query_value('force') is not None:
            # apimachinery/pkg/apis/meta/v1/validation ValidatePatchOptions.
            raise _errors.StatusError(
                code=422,
                reason='Invalid',
                message=(
                    'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be '
                    'specified for non-apply patch'
                ),
                details={
                    'group': 'meta.k8s.io',
                    'kind': 'PatchOptions',
                    'causes': [
                        {
                            'reason': 'FieldValueForbidden',
                            'message': 'Forbidden: may not be specified for non-apply patch',
                            'field': 'force',
                        }
                    ],
                },
            )
        patch = _decode(request.body, what='error decoding patch')
        return self.store.patch(
            route.resource,
            route.namespace,
            route.name,
            content_type,
            patch,
            caller=caller,
            subresource=route.subresource or None,
            dry_run=dry_run,
        )

    # -- the Python-side API (administrator) -------------------------------------------------

    def ensure_namespace(self, name: str, *, caller: str = ADMIN) -> _json.Obj:
        """Create namespace ``name`` unless it exists; return (a copy of) it."""
        with self.lock:
            resource = _resources.resource_for_kind('Namespace')
            obj = self.store.find(resource, '', name)
            if obj is None:
                obj = self.store.create(
                    resource,
                    '',
                    {'metadata': {'name': name}},
                    caller=caller,
                )
            return _json.deep_copy(obj)

    def get(self, kind: str, namespace: str | None, name: str) -> _json.Obj | None:
        """A copy of the object, or None."""
        with self.lock:
            resource = _resources.resource_for_kind(kind)
            obj = self.store.find(resource, namespace or '', name)
            return None if obj is None else _json.deep_copy(obj)

    def objects(
        self, kind: str, namespace: str | None = None, *, selector: str | None = None
    ) -> list[_json.Obj]:
        """Copies of the objects of ``kind`` (in ``namespace``, or all), optionally selected."""
        with self.lock:
            resource = _resources.resource_for_kind(kind)
            parsed = _labels.parse_selector(selector)
            return [
                _json.deep_copy(o)
                for o in self.store.list(resource, namespace)
                if parsed.matches(_json.str_map(_json.dig(o, 'metadata', 'labels')))
            ]

    def create(
        self, obj: _json.Obj, *, namespace: str | None = None, caller: str = ADMIN
    ) -> _json.Obj:
        """Create ``obj`` (its ``kind`` says which) as an administrator; return a copy.

        The namespace (the argument, else ``metadata.namespace``, else ``default``) is created
        if missing; a given ``status`` is kept, as a controller or kubelet would set it.
        """
        with self.lock:
            resource = self._resource_of(obj)
            ns = namespace or str(_json.dig(obj, 'metadata', 'namespace') or 'default')
            if resource.namespaced:
                self.ensure_namespace(ns, caller=caller)
            created = self.store.create(resource, ns, obj, caller=caller, keep_status=True)
            self._record(
                caller,
                'create',
                resource.kind,
                ns if resource.namespaced else '',
                str(_json.dig(created, 'metadata', 'name')),
                201,
                applied=True,
            )
            return _json.deep_copy(created)

    def put_object(self, obj: _json.Obj, *, caller: str = ADMIN) -> _json.Obj:
        """Create ``obj`` or replace the stored one unconditionally (status included)."""
        with self.lock:
            resource = self._resource_of(obj)
            ns = str(_json.dig(obj, 'metadata', 'namespace') or 'default')
            name = str(_json.dig(obj, 'metadata', 'name') or '')
            if self.store.find(resource, ns, name) is None:
                return self.create(obj, namespace=ns, caller=caller)
            body = _json.deep_copy(obj)
            _json.child(body, 'metadata').pop('resourceVersion', None)
            before = self.store.resource_version
            updated = self.store.update(resource, ns, name, body, caller=caller, keep_status=True)
            self._record(
                caller,
                'update',
                resource.kind,
                ns if resource.namespaced else '',
                name,
                200,
                applied=self.store.resource_version != before,
            )
            return _json.deep_copy(updated)

    def patch(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: str = 'application/strategic-merge-patch+json',
        caller: str = ADMIN,
    ) -> _json.Obj:
        """Patch an object as an administrator (status included); return a copy."""
        with self.lock:
            resource = _resources.resource_for_kind(kind)
            before = self.store.resource_version
            patched = self.store.patch(
                resource,
                namespace or '',
                name,
                patch_type,
                patch,
                caller=caller,
                keep_status=True,
            )
            self._record(
                caller,
                'patch',
                kind,
                namespace or '',
                name,
                200,
                applied=self.store.resource_version != before,
            )
            return _json.deep_copy(patched)

    def delete(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        caller: str = ADMIN,
        propagation: str | None = None,
        grace_period: int | None = None,
    ) -> bool:
        """Delete an object (and its dependents); False if it did not exist.

        ``grace_period`` is DeleteOptions' ``gracePeriodSeconds`` (0: at once).
        """
        with self.lock:
            resource = _resources.resource_for_kind(kind)
            if self.store.find(resource, namespace or '', name) is None:
                return False
            self.store.delete(
                resource,
                namespace or '',
                name,
                caller=caller,
                propagation=propagation,
                grace_period=grace_period,
            )
            self._record(caller, 'delete', kind, namespace or '', name, 200, applied=True)
            return True

    @staticmethod
    def _resource_of(obj: _json.Obj) -> _resources.ResourceType:
        try:
            return _resources.resource_for_kind(str(obj.get('kind')))
        except KeyError:
            raise ValueError(f'not a kind this fake serves: {obj.get("kind")!r}') from None

    @property
    def resource_version(self) -> int:
        """The global resourceVersion counter."""
        return self.store.resource_version

    # -- observers and controllers -----------------------------------------------------------

    def observe(self, callback: Callable[[_store.Event], None]) -> Callable[[], None]:
        """Call ``callback`` with every store change (under the lock); return an unsubscriber.

        A simulator uses it to kill a unit's process the moment its Pod is deleted.
        """
        with self.lock:
            self.store.observers.append(callback)

        def unsubscribe() -> None:
            with self.lock:
                if callback in self.store.observers:
                    self.store.observers.remove(callback)

        return unsubscribe

    def step(self) -> bool:
        """Let the controllers take one action; True if they did something."""
        with self.lock:
            return self.controller.step()

    def settle(self, max_steps: int = 10_000) -> int:
        """Step until the controllers have nothing left to do; return the number of actions."""
        with self.lock:
            return self.controller.settle(max_steps)
