"""A fake cluster for a charm's unit tests (``ops.testing``): no kubeconfig, no mock.

Use it around ``Context.run``::

    from k8s_labels.testing import FakeCluster

    with FakeCluster('my-app', units=3) as cluster:
        state = ctx.run(ctx.on.relation_changed(relation), state)
    assert cluster.pod_labels('my-app/0')['istio.io/dataplane-mode'] == 'ambient'

While the ``with`` block is open, every :class:`k8s_labels.ServiceMeshConsumer` built
without a ``client_factory`` talks to the fake through a real ``lightkube.Client``
(lightkube's own request building and response parsing; only the HTTP transport is
in-process). The fake holds what Juju creates for a sidecar charm: the StatefulSet, one
Pod per unit and the Service, all labelled ``app.kubernetes.io/name=<app>``; and it answers
as Kubernetes does for the requests the library makes (get, list by label, create,
JSON merge patch, delete), with resourceVersion conflicts (409) and, for an application
that is not trusted, the 403 that Juju's Role gives.

What it leaves out, on purpose: pods are not replaced when the pod template changes (a
real StatefulSet rolls them; the library patches running pods itself, so labels read the
same), labels are not validated by the fake (the library validates before any call), no
watch, no strategic-merge or apply patches (answered 415, so a change in the library that
needs them shows up).

This module imports nothing beyond the library's own dependencies, so it ships with the
library; production code never imports it.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import re
import typing
import urllib.parse
import uuid
from collections.abc import Callable, Generator, Mapping
from typing import Any

import httpx2
import lightkube
from lightkube.config import kubeconfig, models

from . import _service_mesh

__all__ = ['FakeCluster', 'FakeClusterError', 'default_client']

SERVER = 'https://fake-cluster.k8s-labels.invalid'
"""The server URL of the fake's clients (``.invalid``: never resolvable, RFC 2606)."""

_JUJU_SELECTOR = 'app.kubernetes.io/name'
_JUJU_MANAGED_BY = {'app.kubernetes.io/managed-by': 'juju'}

# kind -> (API path prefix, plural): the four kinds the library reads or writes.
_KINDS: dict[str, tuple[str, str]] = {
    'StatefulSet': ('/apis/apps/v1', 'statefulsets'),
    'Pod': ('/api/v1', 'pods'),
    'Service': ('/api/v1', 'services'),
    'ConfigMap': ('/api/v1', 'configmaps'),
}
_BY_PATH = {(prefix, plural): kind for kind, (prefix, plural) in _KINDS.items()}
_PATH = re.compile(
    r'^(?P<prefix>/api/v1|/apis/apps/v1)/namespaces/(?P<ns>[^/]+)/(?P<plural>[a-z]+)'
    r'(?:/(?P<name>[^/]+))?$'
)
_API_VERSION = {'StatefulSet': 'apps/v1', 'Pod': 'v1', 'Service': 'v1', 'ConfigMap': 'v1'}
_GROUP = {'StatefulSet': 'apps', 'Pod': '', 'Service': '', 'ConfigMap': ''}


@contextlib.contextmanager
def default_client(factory: Callable[[str, str], lightkube.Client]) -> Generator[None]:
    """While open, consumers built without ``client_factory`` use ``factory``'s clients.

    ``factory(namespace, field_manager)`` returns a ``lightkube.Client``. :class:`FakeCluster`
    uses this; a project with a fake API of its own can too. Nested blocks restore the
    outer factory on exit.
    """
    _service_mesh._default_client_override.append(factory)
    try:
        yield
    finally:
        _service_mesh._default_client_override.remove(factory)


class FakeClusterError(AssertionError):
    """The test asked the fake something it cannot answer (a wrong namespace, a typo)."""


class FakeCluster:
    """One Juju application's Kubernetes objects, served to the library in-process.

    Args:
        app: the application name (``metadata.yaml``/``charmcraft.yaml`` ``name``).
        namespace: the model name; give ``ops.testing.State(model=Model(name=...))`` the
            same (ops.testing picks a random one otherwise, and the fake then refuses).
        units: pods ``<app>-0`` ... ``<app>-(units-1)``.
        trusted: whether ``juju trust <app> --scope=cluster`` was run; settable later.
        template_labels: labels already on the pod template (and so on every pod),
            besides Juju's ``app.kubernetes.io/name``.
        service_labels: labels already on the Service, besides Juju's.
    """

    def __init__(
        self,
        app: str,
        *,
        namespace: str = 'test-model',
        units: int = 1,
        trusted: bool = True,
        template_labels: Mapping[str, str] | None = None,
        service_labels: Mapping[str, str] | None = None,
    ):
        self.app = app
        self.namespace = namespace
        self.trusted = trusted
        self.requests: list[str] = []
        """Every request the fake answered, as ``'PATCH /api/v1/namespaces/.../pods/x'``."""
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._versions = itertools.count(1)
        self._serving: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        self._juju_objects(units, dict(template_labels or {}), dict(service_labels or {}))

    # Using it.

    def __enter__(self) -> FakeCluster:
        self._serving = default_client(self._factory)
        self._serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(None, None, None)

    def client(self, *, field_manager: str | None = None) -> lightkube.Client:
        """A real ``lightkube.Client`` whose requests reach this fake (for ``LabelManager``)."""
        config = kubeconfig.KubeConfig.from_one(
            cluster=models.Cluster(server=SERVER, insecure=True),
            user=models.User(token=f'{self.app}-token'),
            namespace=self.namespace,
        )
        return lightkube.Client(
            config, transport=_Transport(self), field_manager=field_manager, trust_env=False
        )

    def _factory(self, namespace: str, field_manager: str) -> lightkube.Client:
        self._check_namespace(namespace)
        return self.client(field_manager=field_manager)

    # Reading back.

    def template_labels(self) -> dict[str, str]:
        """The StatefulSet's pod template labels."""
        sts = self._objects[('StatefulSet', self.app)]
        return dict(sts['spec']['template']['metadata'].get('labels') or {})

    def pod_labels(self, unit: str | int) -> dict[str, str]:
        """A pod's labels, by unit name (``app/0``), pod name (``app-0``) or ordinal."""
        return dict(self.get('Pod', self._pod_name(unit))['metadata'].get('labels') or {})

    def service_labels(self) -> dict[str, str]:
        """The Service's labels."""
        return dict(self.get('Service', self.app)['metadata'].get('labels') or {})

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """A copy of an object as the API would return it.

        Raises:
            KeyError: no such object.
        """
        return copy.deepcopy(self._objects[(kind, name)])

    def names(self, kind: str) -> list[str]:
        """The names of every object of ``kind`` (``'ConfigMap'``, ``'Pod'``, ...)."""
        return sorted(name for k, name in self._objects if k == kind)

    # Acting as someone else (kubectl, another controller).

    def set_labels(self, target: str, labels: Mapping[str, str | None]) -> None:
        """Write labels as another client would (``None`` removes a key).

        Args:
            target: ``'template'``, ``'service'``, or a unit or pod name.
            labels: the keys to set or remove.
        """
        if target == 'template':
            obj = self._objects[('StatefulSet', self.app)]
            meta = obj['spec']['template']['metadata']
        else:
            kind, name = ('Service', self.app) if target == 'service' else ('Pod', target)
            obj = self._objects[(kind, self._pod_name(name) if kind == 'Pod' else name)]
            meta = obj['metadata']
        current = meta.setdefault('labels', {})
        for key, value in labels.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        obj['metadata']['resourceVersion'] = self._next_version()

    def put(self, obj: Mapping[str, Any]) -> None:
        """Create or replace any object of the four kinds (a ConfigMap left by someone)."""
        body = copy.deepcopy(dict(obj))
        meta = body.setdefault('metadata', {})
        meta.setdefault('namespace', self.namespace)
        meta.setdefault('uid', str(uuid.uuid4()))
        meta['resourceVersion'] = self._next_version()
        self._objects[(str(body['kind']), str(meta['name']))] = body

    # The objects Juju creates.

    def _juju_objects(
        self, units: int, template_labels: dict[str, str], service_labels: dict[str, str]
    ) -> None:
        # juju/juju caas/kubernetes/provider/application/application.go (ensureStatefulSet,
        # ensureService): the StatefulSet and its template select app.kubernetes.io/name,
        # the StatefulSet and the Service also carry app.kubernetes.io/managed-by=juju.
        selector = {_JUJU_SELECTOR: self.app}
        template = {**template_labels, **selector}
        self.put(
            {
                'apiVersion': 'apps/v1',
                'kind': 'StatefulSet',
                'metadata': {'name': self.app, 'labels': {**selector, **_JUJU_MANAGED_BY}},
                'spec': {
                    'replicas': units,
                    'serviceName': f'{self.app}-endpoints',
                    'selector': {'matchLabels': selector},
                    'template': {
                        'metadata': {'labels': template},
                        'spec': {'containers': [{'name': 'charm', 'image': 'charm'}]},
                    },
                },
            }
        )
        self.put(
            {
                'apiVersion': 'v1',
                'kind': 'Service',
                'metadata': {
                    'name': self.app,
                    'labels': {**service_labels, **selector, **_JUJU_MANAGED_BY},
                },
                'spec': {'selector': selector, 'ports': [{'name': 'placeholder', 'port': 65535}]},
            }
        )
        for ordinal in range(units):
            name = f'{self.app}-{ordinal}'
            # The StatefulSet controller adds the pod's identity labels
            # (kubernetes/kubernetes pkg/controller/statefulset/stateful_set_utils.go,
            # newStatefulSetPod / initIdentity; pod-index since v1.28).
            identity = {
                'controller-revision-hash': f'{self.app}-1',
                'statefulset.kubernetes.io/pod-name': name,
                'apps.kubernetes.io/pod-index': str(ordinal),
            }
            self.put(
                {
                    'apiVersion': 'v1',
                    'kind': 'Pod',
                    'metadata': {'name': name, 'labels': {**template, **identity}},
                    'spec': {'containers': [{'name': 'charm', 'image': 'charm'}]},
                }
            )

    def _pod_name(self, unit: str | int) -> str:
        if isinstance(unit, int):
            return f'{self.app}-{unit}'
        return unit.replace('/', '-')

    def _next_version(self) -> str:
        return str(next(self._versions))

    def _check_namespace(self, namespace: str) -> None:
        if namespace != self.namespace:
            raise FakeClusterError(
                f'the charm runs in model {namespace!r} but the FakeCluster holds namespace '
                f'{self.namespace!r}: give the State model=ops.testing.Model(name='
                f'{self.namespace!r}), or FakeCluster(namespace={namespace!r})'
            )

    # The API.

    def _handle(self, method: str, path: str, query: str, body: bytes, content_type: str):
        """Answer one request: ``(status, JSON body)``."""
        self.requests.append(f'{method} {path}')
        match = _PATH.match(path)
        kind = match and _BY_PATH.get((match['prefix'], match['plural']))
        if match is None or kind is None:
            return _status(404, 'NotFound', f'the fake cluster does not serve {path}')
        self._check_namespace(match['ns'])
        name = match['name']
        verb = {'GET': 'get' if name else 'list', 'POST': 'create'}.get(method, method.lower())
        if not self._allows(kind, verb):
            return _forbidden(kind, name, verb, self.namespace, self.app)
        if verb == 'list':
            return self._list(kind, urllib.parse.parse_qs(query).get('labelSelector', [''])[0])
        if verb == 'create':
            return self._create(kind, json.loads(body))
        current = self._objects.get((kind, name or ''))
        if current is None:
            return _status(404, 'NotFound', f'{_KINDS[kind][1]} "{name}" not found', kind, name)
        if verb == 'get':
            return 200, copy.deepcopy(current)
        if verb == 'delete':
            del self._objects[(kind, name or '')]
            return 200, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Success'}
        if verb == 'patch':
            return self._patch(kind, current, json.loads(body), content_type)
        return _status(405, 'MethodNotAllowed', f'{method} is not supported by the fake')

    def _allows(self, kind: str, verb: str) -> bool:
        # juju/juju caas/kubernetes/provider/application/trust.go: untrusted, the app's Role
        # allows get, list and patch on pods and services only; trust grants everything.
        return self.trusted or (kind in ('Pod', 'Service') and verb in ('get', 'list', 'patch'))

    def _list(self, kind: str, selector: str):
        wanted = [part for part in selector.split(',') if part]
        items = [
            copy.deepcopy(obj)
            for (k, _), obj in sorted(self._objects.items())
            if k == kind and all(_matches(obj, term) for term in wanted)
        ]
        return 200, {
            'apiVersion': _API_VERSION[kind],
            'kind': f'{kind}List',
            'metadata': {'resourceVersion': str(self._peek_version())},
            'items': items,
        }

    def _peek_version(self) -> int:
        version = next(self._versions)
        self._versions = itertools.count(version)
        return version - 1

    def _create(self, kind: str, body: dict[str, Any]):
        meta = body.setdefault('metadata', {})
        name = str(meta.get('name', ''))
        if (kind, name) in self._objects:
            return _status(
                409, 'AlreadyExists', f'{_KINDS[kind][1]} "{name}" already exists', kind, name
            )
        self.put(body)
        return 201, copy.deepcopy(self._objects[(kind, name)])

    def _patch(self, kind: str, current: dict[str, Any], patch: Any, content_type: str):
        name = current['metadata']['name']
        if content_type.split(';')[0].strip() != 'application/merge-patch+json':
            return _status(
                415, 'UnsupportedMediaType', f'the fake answers merge patches only: {content_type}'
            )
        if not isinstance(patch, dict):
            return _status(400, 'BadRequest', 'a merge patch must be a JSON object')
        patch_meta: object = typing.cast('dict[str, Any]', patch).get('metadata')
        wanted = (
            typing.cast('dict[str, Any]', patch_meta).get('resourceVersion')
            if isinstance(patch_meta, dict)
            else None
        )
        if wanted is not None and wanted != current['metadata']['resourceVersion']:
            # The optimistic concurrency check (Kubernetes API conventions, "Concurrency
            # Control and Consistency").
            return _status(
                409,
                'Conflict',
                f'Operation cannot be fulfilled on {_KINDS[kind][1]} "{name}": the object has '
                'been modified; please apply your changes to the latest version and try again',
                kind,
                name,
            )
        merged = _merge_patch(current, patch)
        merged['metadata']['resourceVersion'] = current['metadata']['resourceVersion']
        if merged != current:
            # A write that changes nothing keeps the version, as the API server's storage
            # skips it (kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/storage/
            # etcd3/store.go, GuaranteedUpdate: unchanged data is not written).
            merged['metadata']['resourceVersion'] = self._next_version()
            self._objects[(kind, name)] = merged
        return 200, copy.deepcopy(self._objects[(kind, name)])


class _Transport(httpx2.BaseTransport):
    """Hands each request to the fake, in-process."""

    def __init__(self, cluster: FakeCluster):
        self._cluster = cluster

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        status, body = self._cluster._handle(
            request.method,
            request.url.path,
            request.url.query.decode(),
            request.read(),
            request.headers.get('content-type', ''),
        )
        return httpx2.Response(
            status,
            headers={'Content-Type': 'application/json'},
            content=json.dumps(body).encode(),
            request=request,
        )


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    changes = typing.cast('dict[str, Any]', patch)
    result: dict[str, Any] = (
        copy.deepcopy(typing.cast('dict[str, Any]', target)) if isinstance(target, dict) else {}
    )
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _matches(obj: Mapping[str, Any], term: str) -> bool:
    labels: Mapping[str, str] = obj.get('metadata', {}).get('labels') or {}
    if '!=' in term:
        key, value = term.split('!=', 1)
        return labels.get(key) != value
    if '=' in term:
        key, value = term.replace('==', '=').split('=', 1)
        return labels.get(key) == value
    if term.startswith('!'):
        return term[1:] not in labels
    return term in labels


def _status(
    code: int, reason: str, message: str, kind: str | None = None, name: str | None = None
) -> tuple[int, dict[str, Any]]:
    details = {'name': name, 'kind': _KINDS[kind][1]} if kind and name else {}
    return code, {
        'kind': 'Status',
        'apiVersion': 'v1',
        'metadata': {},
        'status': 'Failure',
        'message': message,
        'reason': reason,
        'details': details,
        'code': code,
    }


def _forbidden(kind: str, name: str | None, verb: str, namespace: str, app: str):
    plural = _KINDS[kind][1]
    what = f'{plural} "{name}"' if name else plural
    group = _GROUP[kind]
    return _status(
        403,
        'Forbidden',
        f'{what} is forbidden: User "system:serviceaccount:{namespace}:{app}" cannot {verb} '
        f'resource "{plural}" in API group "{group}" in the namespace "{namespace}"',
        kind,
        name,
    )
