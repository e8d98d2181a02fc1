"""The object store and the write semantics of the API server's generic registry.

Every rule cites its source. The generic flow is ``staging/src/k8s.io/apiserver/pkg/registry/
generic/registry/store.go`` (Create, Update, Delete) with ``rest.BeforeCreate`` /
``rest.BeforeUpdate`` (``apiserver/pkg/registry/rest/create.go``, ``update.go``) and each kind's
strategy under ``pkg/registry/...``. Not thread-safe: ``FakeKube`` holds the lock.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import random
import uuid
from collections.abc import Callable
from typing import Any, Literal

from . import _errors, _json, _labels, _patch, _resources, _types

EventType = Literal['ADDED', 'MODIFIED', 'DELETED']

# rand.SafeEncodeString's alphabet (apimachinery/pkg/util/rand/rand.go): no vowels, no 0/1/3.
SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'

PATCH_TYPES = (
    'application/json-patch+json',
    'application/merge-patch+json',
    'application/strategic-merge-patch+json',
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """One change to the store, as a watcher would see it.

    Attributes:
        type: ``ADDED``, ``MODIFIED`` or ``DELETED``.
        kind: the object's kind.
        namespace: its namespace (``''`` for cluster-scoped kinds).
        name: its name.
        object: a copy of the object after the change (before it, for ``DELETED``).
        caller: who made the change (a caller name, ``statefulset-controller``...).
    """

    type: EventType
    kind: str
    namespace: str
    name: str
    object: _json.Obj
    caller: str


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _meta(obj: _json.Obj) -> _json.Obj:
    return _json.child(obj, 'metadata')


# Kinds whose strategy keeps a status subresource: a main-resource write cannot change status
# (PrepareForUpdate "newX.Status = oldX.Status" in pkg/registry/{apps/statefulset,core/pod,
# core/service}/strategy.go).
_STATUS_KINDS = {'StatefulSet', 'Pod', 'Service', 'Namespace'}
# Kinds whose strategy sets generation: statefulset/strategy.go PrepareForCreate
# ("Generation = 1") and PrepareForUpdate (bump on spec change). Pods, Services, ConfigMaps and
# Namespaces carry no generation on v1.32.
_GENERATION_KINDS = {'StatefulSet'}
# StatefulSetSpec fields a user may change (apps/validation/validation.go
# ValidateStatefulSetUpdate); any other spec change is Forbidden.
_STS_MUTABLE_SPEC = {
    'replicas',
    'ordinals',
    'template',
    'updateStrategy',
    'persistentVolumeClaimRetentionPolicy',
    'minReadySeconds',
}


def _initial_status(kind: str) -> _json.Obj:
    # Go's non-omitempty fields appear even when zero: StatefulSetStatus.replicas and
    # availableReplicas (apps/v1 types.go); a new Pod is Pending; a Service has loadBalancer.
    if kind == 'StatefulSet':
        return {'replicas': 0, 'availableReplicas': 0}
    if kind == 'Pod':
        return {'phase': 'Pending'}
    if kind == 'Service':
        return {'loadBalancer': {}}
    return {}


def _default_pod_spec(spec: _json.Obj) -> None:
    # pkg/apis/core/v1/defaults.go SetDefaults_PodSpec / SetDefaults_Container.
    spec.setdefault('restartPolicy', 'Always')
    spec.setdefault('terminationGracePeriodSeconds', 30)
    spec.setdefault('dnsPolicy', 'ClusterFirst')
    spec.setdefault('schedulerName', 'default-scheduler')
    spec.setdefault('securityContext', {})
    for field in ('containers', 'initContainers'):
        for raw in _json.as_list(spec.get(field)) or []:
            container = _json.as_map(raw)
            if container is None:
                continue
            image = str(container.get('image', ''))
            latest = ':' not in image.rsplit('/', 1)[-1] or image.endswith(':latest')
            container.setdefault('imagePullPolicy', 'Always' if latest else 'IfNotPresent')
            container.setdefault('terminationMessagePath', '/dev/termination-log')
            container.setdefault('terminationMessagePolicy', 'File')
            for port_raw in _json.as_list(container.get('ports')) or []:
                port = _json.as_map(port_raw)
                if port is not None:
                    port.setdefault('protocol', 'TCP')


def apply_defaults(kind: str, obj: _json.Obj) -> None:
    """Server-side defaulting, applied to every write as the decoder does."""
    spec = _json.as_map(obj.get('spec'))
    if kind == 'StatefulSet' and spec is not None:
        # pkg/apis/apps/v1/defaults.go SetDefaults_StatefulSet.
        spec.setdefault('replicas', 1)
        spec.setdefault('podManagementPolicy', 'OrderedReady')
        spec.setdefault('revisionHistoryLimit', 10)
        strategy = _json.child(spec, 'updateStrategy')
        strategy.setdefault('type', 'RollingUpdate')
        if strategy['type'] == 'RollingUpdate':
            _json.child(strategy, 'rollingUpdate').setdefault('partition', 0)
        retention = _json.child(spec, 'persistentVolumeClaimRetentionPolicy')
        retention.setdefault('whenDeleted', 'Retain')
        retention.setdefault('whenScaled', 'Retain')
        template = _json.child(spec, 'template')
        _default_pod_spec(_json.child(template, 'spec'))
    elif kind == 'Pod' and spec is not None:
        _default_pod_spec(spec)
    elif kind == 'Service' and spec is not None:
        # SetDefaults_Service: type ClusterIP, sessionAffinity None, port protocol TCP and
        # targetPort = port.
        spec.setdefault('type', 'ClusterIP')
        spec.setdefault('sessionAffinity', 'None')
        for raw in _json.as_list(spec.get('ports')) or []:
            port = _json.as_map(raw)
            if port is not None:
                port.setdefault('protocol', 'TCP')
                if 'port' in port:
                    port.setdefault('targetPort', port['port'])
    elif kind == 'Namespace':
        # pkg/registry/core/namespace/strategy.go: the immutable kubernetes.io/metadata.name
        # label (v1.21+), the "kubernetes" finalizer and phase Active.
        meta = _meta(obj)
        _json.child(meta, 'labels')['kubernetes.io/metadata.name'] = meta.get('name', '')
        _json.child(obj, 'spec').setdefault('finalizers', ['kubernetes'])
        _json.child(obj, 'status').setdefault('phase', 'Active')


def _invalid_cause(field: str, value: Any, message: str) -> _errors.Cause:
    return _errors.Cause(
        reason='FieldValueInvalid',
        message=f'Invalid value: {_json.canonical(value)}: {message}',
        field=field,
    )


def validate(kind: str, obj: _json.Obj, old: _json.Obj | None) -> list[_errors.Cause]:
    """The field errors ``strategy.Validate`` / ``ValidateUpdate`` would report."""
    meta = _meta(obj)
    causes: list[_errors.Cause] = []
    name = meta.get('name')
    if not isinstance(name, str) or not name:
        causes.append(
            _errors.Cause(
                reason='FieldValueRequired',
                message='Required value: name or generateName is required',
                field='metadata.name',
            )
        )
    else:
        # ValidateObjectMeta: names are DNS-1123 subdomains for every kind served here.
        causes.extend(
            _invalid_cause('metadata.name', name, m)
            for m in _labels.dns1123_subdomain_errors(name)
        )
    causes.extend(_labels.validate_labels(meta.get('labels'), 'metadata.labels'))
    annotations = meta.get('annotations')
    if annotations is not None and _json.as_map(annotations) is None:
        causes.append(_invalid_cause('metadata.annotations', annotations, 'must be a map'))
    elif _utf8_size(_json.str_map(annotations), keys=True) > TOTAL_ANNOTATION_SIZE:
        # apimachinery pkg/api/validation/objectmeta.go ValidateAnnotations: keys and values
        # together at most TotalAnnotationSizeLimitB (256 KiB), field.TooLong.
        causes.append(_too_long('metadata.annotations', TOTAL_ANNOTATION_SIZE))
    if kind == 'StatefulSet':
        causes.extend(_validate_statefulset(obj, old))
    elif kind == 'ConfigMap':
        causes.extend(_validate_configmap(obj))
    return causes


TOTAL_ANNOTATION_SIZE = 256 * 1024
MAX_CONFIGMAP_SIZE = 1024 * 1024
"""``core.MaxSecretSize``: a ConfigMap's data and binaryData together (pkg/apis/core/types.go)."""


def _utf8_size(values: dict[str, str], *, keys: bool = False) -> int:
    # Go's len() of a string counts UTF-8 bytes.
    total = sum(len(v.encode('utf-8', 'surrogatepass')) for v in values.values())
    if keys:
        total += sum(len(k.encode('utf-8', 'surrogatepass')) for k in values)
    return total


def _too_long(field: str, limit: int) -> _errors.Cause:
    # field.TooLong (apimachinery pkg/util/validation/field/errors.go): the value is omitted.
    return _errors.Cause(
        reason='FieldValueTooLong',
        message=f'Too long: may not be more than {limit} bytes',
        field=field,
    )


def _validate_configmap(obj: _json.Obj) -> list[_errors.Cause]:
    # kubernetes pkg/apis/core/validation/validation.go ValidateConfigMap: every key of data
    # and binaryData passes IsConfigMapKey; their values total at most core.MaxSecretSize.
    causes: list[_errors.Cause] = []
    data = _json.str_map(obj.get('data'))
    binary = _json.str_map(obj.get('binaryData'))
    for field, values in (('data', data), ('binaryData', binary)):
        for key in values:
            problems = _labels.config_map_key_errors(key)
            causes.extend(_invalid_cause(f'{field}[{key}]', key, m) for m in problems)
    binary_size = sum(len(v) * 3 // 4 - v.count('=') for v in binary.values())  # base64 bytes
    if _utf8_size(data) + binary_size > MAX_CONFIGMAP_SIZE:
        causes.append(_too_long('', MAX_CONFIGMAP_SIZE))
    return causes


def _validate_statefulset(obj: _json.Obj, old: _json.Obj | None) -> list[_errors.Cause]:
    # pkg/apis/apps/validation/validation.go ValidateStatefulSetSpec / ...Update.
    causes: list[_errors.Cause] = []
    spec = _json.as_map(obj.get('spec')) or {}
    template_labels = _json.dig(spec, 'template', 'metadata', 'labels')
    causes.extend(_labels.validate_labels(template_labels, 'spec.template.metadata.labels'))
    selector = _json.as_map(spec.get('selector'))
    if selector is None:
        causes.append(
            _errors.Cause(
                reason='FieldValueRequired', message='Required value', field='spec.selector'
            )
        )
    elif not selector.get('matchLabels') and not selector.get('matchExpressions'):
        causes.append(
            _invalid_cause('spec.selector', selector, 'empty selector is invalid for statefulset')
        )
    elif not _labels.selector_from_match_labels(selector).matches(_json.str_map(template_labels)):
        causes.append(
            _invalid_cause(
                'spec.template.metadata.labels',
                template_labels,
                '`selector` does not match template `labels`',
            )
        )
    replicas = spec.get('replicas')
    # The decoder has already refused non-integers and values beyond int32 (see _types).
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(
            _invalid_cause('spec.replicas', replicas, 'must be greater than or equal to 0')
        )
    if old is not None:
        old_spec = _json.as_map(old.get('spec')) or {}
        frozen_new = {k: v for k, v in spec.items() if k not in _STS_MUTABLE_SPEC}
        frozen_old = {k: v for k, v in old_spec.items() if k not in _STS_MUTABLE_SPEC}
        if frozen_new != frozen_old:
            causes.append(
                _errors.Cause(
                    reason='FieldValueForbidden',
                    message=(
                        'Forbidden: updates to statefulset spec for fields other than '
                        "'replicas', 'ordinals', 'template', 'updateStrategy', "
                        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
                        'forbidden'
                    ),
                    field='spec',
                )
            )
    return causes


class Store:
    """Objects per kind and namespace, with a global resourceVersion counter.

    Args:
        clock: returns the current time (creationTimestamp); a simulator may pass its own.
        seed: seeds generated names and uids, so that a run replays exactly.
    """

    def __init__(self, *, clock: Callable[[], datetime.datetime] | None = None, seed: int = 0):
        # Off: every delete is immediate. On: a Pod deleted with a grace period is only marked
        # (deletionTimestamp) and stays Terminating until deleted again with no grace period,
        # which is the kubelet's part once the containers stopped; a simulator plays it.
        self.graceful_pods = False
        self._objects: dict[str, dict[tuple[str, str], _json.Obj]] = {
            r.kind: {} for r in _resources.RESOURCES
        }
        self._rv = 0
        # Indexes kept in step with _objects, so that garbage collection costs what it
        # collects, not the size of the store: uid -> (kind, key), owner uid -> dependents.
        self._uids: dict[str, tuple[str, tuple[str, str]]] = {}
        self._dependents: dict[str, set[tuple[str, tuple[str, str]]]] = {}
        self._clock = clock or _utc_now
        self._random = random.Random(seed)  # noqa: S311 (names and uids, not secrets)
        self.observers: list[Callable[[Event], None]] = []

    def reseed(self, seed: int) -> None:
        """Draw generated names and uids from ``seed`` from now on, as a new store would."""
        self._random.seed(seed)

    def __deepcopy__(self, memo: dict[int, Any]) -> Store:
        """A copy of the objects and counters, with no observers.

        Observers (a fake's watch history, a simulator's callbacks) belong to the original;
        test environments copy a store to branch a scenario.
        """
        twin = Store.__new__(Store)
        for key, value in self.__dict__.items():
            twin.__dict__[key] = [] if key == 'observers' else copy.deepcopy(value, memo)
        return twin

    # -- reading -----------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The global counter: the resourceVersion of the latest write."""
        return self._rv

    def get(self, resource: _resources.ResourceType, namespace: str, name: str) -> _json.Obj:
        """The stored object (not a copy); raises a 404 StatusError if absent."""
        obj = self._objects[resource.kind].get((self._ns(resource, namespace), name))
        if obj is None:
            raise _errors.not_found(resource, name)
        return obj

    def find(
        self, resource: _resources.ResourceType, namespace: str, name: str
    ) -> _json.Obj | None:
        """The stored object (not a copy), or None."""
        return self._objects[resource.kind].get((self._ns(resource, namespace), name))

    def list(self, resource: _resources.ResourceType, namespace: str | None) -> list[_json.Obj]:
        """Stored objects (not copies) of a kind, in one namespace or all, in key order."""
        table = self._objects[resource.kind]
        keys = sorted(table)
        if namespace is not None and resource.namespaced:
            keys = [k for k in keys if k[0] == namespace]
        return [table[k] for k in keys]

    def dependents(self, owner_uid: str) -> list[_json.Obj]:
        """The stored objects (not copies) ``owner_uid`` owns, by kind and key."""
        return [
            self._objects[kind][key] for kind, key in sorted(self._dependents.get(owner_uid, ()))
        ]

    def find_uid(self, uid: str, namespace: str) -> _json.Obj | None:
        """The object with ``uid`` in ``namespace`` or cluster-scoped, if any."""
        where = self._uids.get(uid)
        if where is None or where[1][0] not in (namespace, ''):
            return None
        return self._objects[where[0]].get(where[1])

    @staticmethod
    def _owner_uids(obj: _json.Obj) -> set[str]:
        refs = _json.as_list(_meta(obj).get('ownerReferences')) or []
        return {str(_json.dig(r, 'uid')) for r in refs if _json.as_map(r) is not None}

    def _put(self, kind: str, key: tuple[str, str], obj: _json.Obj) -> None:
        """Store ``obj`` at ``key`` (replacing any), keeping the indexes in step."""
        old = self._objects[kind].get(key)
        if old is not None:
            self._unindex(kind, key, old)
        self._objects[kind][key] = obj
        self._uids[str(_meta(obj).get('uid'))] = (kind, key)
        for owner in self._owner_uids(obj):
            self._dependents.setdefault(owner, set()).add((kind, key))

    def _unindex(self, kind: str, key: tuple[str, str], obj: _json.Obj) -> None:
        self._uids.pop(str(_meta(obj).get('uid')), None)
        for owner in self._owner_uids(obj):
            dependents = self._dependents.get(owner)
            if dependents is not None:
                dependents.discard((kind, key))
                if not dependents:
                    del self._dependents[owner]

    @staticmethod
    def _ns(resource: _resources.ResourceType, namespace: str | None) -> str:
        return (namespace or '') if resource.namespaced else ''

    # -- writing -----------------------------------------------------------------------------

    def _next_rv(self) -> str:
        # One counter for every kind: etcd's revision (storage/etcd3/store.go).
        self._rv += 1
        return str(self._rv)

    def _emit(self, type_: EventType, obj: _json.Obj, caller: str) -> None:
        if not self.observers:
            return
        meta = _meta(obj)
        event = Event(
            type=type_,
            kind=str(obj.get('kind')),
            namespace=str(meta.get('namespace', '')),
            name=str(meta.get('name')),
            object=_json.deep_copy(obj),
            caller=caller,
        )
        for observer in list(self.observers):
            observer(event)

    def _random_suffix(self, n: int = 5) -> str:
        return ''.join(self._random.choice(SAFE_ALPHABET) for _ in range(n))

    def _check_namespace(
        self, resource: _resources.ResourceType, namespace: str, obj: _json.Obj
    ) -> None:
        meta = _meta(obj)
        if not resource.namespaced:
            meta.pop('namespace', None)
            return
        body_ns = meta.get('namespace')
        if body_ns and body_ns != namespace:
            # rest.EnsureObjectNamespaceMatchesRequestNamespace.
            raise _errors.bad_request(
                'the namespace of the provided object does not match the namespace sent on '
                'the request'
            )
        meta['namespace'] = namespace

    def create(
        self,
        resource: _resources.ResourceType,
        namespace: str,
        body: _json.Obj,
        *,
        caller: str,
        dry_run: bool = False,
        keep_status: bool = False,
    ) -> _json.Obj:
        """POST: store a new object and return it (stored, not a copy)."""
        obj = _json.deep_copy(body)
        namespace = self._ns(resource, namespace)
        self._check_kind(resource, obj)
        self._check_namespace(resource, namespace, obj)
        meta = _meta(obj)
        if resource.namespaced and self.find(_NAMESPACE, '', namespace) is None:
            # The NamespaceLifecycle admission plugin: no objects in a missing namespace.
            raise _errors.not_found(_NAMESPACE, namespace)
        if meta.get('resourceVersion'):
            # storage/etcd3/store.go Create: a plain error, which the server sends as a 500.
            raise _errors.StatusError(
                code=500,
                reason='InternalError',
                message='resourceVersion should not be set on objects to be created',
                details={},
            )
        if not meta.get('name') and isinstance(meta.get('generateName'), str):
            # names.SimpleNameGenerator: generateName plus 5 random safe characters.
            meta['name'] = f'{meta["generateName"]}{self._random_suffix()}'
        # rest.FillObjectMetaSystemFields: the server sets uid and creationTimestamp.
        meta['uid'] = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        meta['creationTimestamp'] = self._clock().strftime('%Y-%m-%dT%H:%M:%SZ')
        for field in ('deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink'):
            meta.pop(field, None)
        if resource.kind in _GENERATION_KINDS:
            meta['generation'] = 1
        else:
            meta.pop('generation', None)
        if resource.kind in _STATUS_KINDS and not keep_status:
            # PrepareForCreate resets status: only controllers (and kubelets) set it.
            obj['status'] = _initial_status(resource.kind)
        apply_defaults(resource.kind, obj)
        causes = validate(resource.kind, obj, None)
        name = str(meta.get('name') or '')
        if causes:
            raise _errors.invalid(resource, name, causes)
        key = (namespace, name)
        if key in self._objects[resource.kind]:
            raise _errors.already_exists(resource, name)
        meta['resourceVersion'] = str(self._rv + 1)
        if dry_run:
            return obj
        meta['resourceVersion'] = self._next_rv()
        self._put(resource.kind, key, obj)
        self._emit('ADDED', obj, caller)
        return obj

    @staticmethod
    def _check_kind(resource: _resources.ResourceType, obj: _json.Obj) -> None:
        kind = obj.get('kind')
        api_version = obj.get('apiVersion')
        if kind is not None and kind != resource.kind:
            raise _errors.bad_request(
                f'the kind of the provided object ({kind}) does not match the resource '
                f'({resource.kind})'
            )
        if api_version is not None and api_version != resource.api_version:
            raise _errors.bad_request(
                f'the API version in the data ({api_version}) does not match the expected API '
                f'version ({resource.api_version})'
            )
        obj['kind'] = resource.kind
        obj['apiVersion'] = resource.api_version

    def is_noop(self, old: _json.Obj, new: _json.Obj) -> bool:
        """Whether ``new`` equals ``old`` apart from resourceVersion.

        storage/etcd3/store.go GuaranteedUpdate: when the encoded new object equals the stored
        bytes the write is skipped, so resourceVersion (and generation) stay as they were.
        """
        return _without_rv(old) == _without_rv(new)

    def update(
        self,
        resource: _resources.ResourceType,
        namespace: str,
        name: str,
        body: _json.Obj,
        *,
        caller: str,
        subresource: str | None = None,
        dry_run: bool = False,
        keep_status: bool = False,
    ) -> _json.Obj:
        """PUT (or the write half of PATCH): replace an object and return it (stored)."""
        namespace = self._ns(resource, namespace)
        old = self.get(resource, namespace, name)
        new = _json.deep_copy(body)
        self._check_kind(resource, new)
        meta = _meta(new)
        if meta.get('name') != name:
            # handlers/rest.go checkName.
            raise _errors.bad_request(
                f'the name of the object ({meta.get("name")}) does not match the name on the '
                f'URL ({name})'
            )
        self._check_namespace(resource, namespace, new)
        old_meta = _meta(old)
        body_rv = meta.get('resourceVersion')
        if body_rv not in (None, ''):
            if not isinstance(body_rv, str) or not body_rv.isdigit():
                raise _errors.bad_request(f'invalid resource version: {body_rv!r}')
            if body_rv != old_meta.get('resourceVersion'):
                # registry/store.go Update: a stale resourceVersion is a Conflict.
                raise _errors.conflict(resource, name)
        # An empty resourceVersion is an unconditional update: AllowUnconditionalUpdate() is
        # true for every kind served here.
        meta['resourceVersion'] = old_meta.get('resourceVersion')
        if subresource == 'status':
            # statusStrategy.PrepareForUpdate: only status changes through /status.
            status = new.get('status')
            new = _json.deep_copy(old)
            if status is not None:
                new['status'] = status
        elif resource.kind in _STATUS_KINDS and not keep_status:
            if 'status' in old:
                new['status'] = _json.deep_copy(old['status'])
            else:
                new.pop('status', None)
        meta = _meta(new)
        # rest.BeforeUpdate: generation, creationTimestamp and (if empty) uid come from the
        # stored object; a different uid is an immutable-field error.
        if old_meta.get('generation') is not None:
            meta['generation'] = old_meta['generation']
        else:
            meta.pop('generation', None)
        meta['creationTimestamp'] = old_meta.get('creationTimestamp')
        if not meta.get('uid'):
            meta['uid'] = old_meta.get('uid')
        causes: list[_errors.Cause] = []
        if meta['uid'] != old_meta.get('uid'):
            causes.append(_invalid_cause('metadata.uid', meta['uid'], 'field is immutable'))
        apply_defaults(resource.kind, new)
        causes.extend(validate(resource.kind, new, old))
        if causes:
            raise _errors.invalid(resource, name, causes)
        if self.is_noop(old, new):
            return old
        if resource.kind in _GENERATION_KINDS and new.get('spec') != old.get('spec'):
            # statefulset/strategy.go PrepareForUpdate: spec changes bump generation.
            meta['generation'] = int(old_meta.get('generation') or 0) + 1
        if dry_run:
            meta['resourceVersion'] = str(self._rv + 1)
            return new
        meta['resourceVersion'] = self._next_rv()
        self._put(resource.kind, (namespace, name), new)
        self._emit('MODIFIED', new, caller)
        return new

    def patch(
        self,
        resource: _resources.ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        *,
        caller: str,
        subresource: str | None = None,
        dry_run: bool = False,
        keep_status: bool = False,
    ) -> _json.Obj:
        """PATCH: apply ``patch`` (already decoded) to the stored object, then update it.

        handlers/patch.go: the patched object goes through the same update path, so a
        resourceVersion inside the patch is checked like a PUT's and a changed name is a 400.
        """
        current = self.get(resource, namespace, name)
        try:
            if content_type == 'application/json-patch+json':
                ops = _json.as_list(patch)
                if ops is None:
                    raise _errors.bad_request(
                        'json: cannot unmarshal object into Go value of type jsonpatch.Patch'
                    )
                patched = _patch.json_patch(current, ops)
            elif content_type == 'application/merge-patch+json':
                if _json.as_map(patch) is None:
                    raise _errors.bad_request('invalid JSON Patch')
                patched = _patch.merge_patch(current, patch)
            else:
                patch_map = _json.as_map(patch)
                if patch_map is None:
                    raise _errors.bad_request(
                        'json: cannot unmarshal array into Go value of type '
                        'map[string]interface {}'
                    )
                patched = _patch.strategic_merge(resource.kind, current, patch_map)
        except _patch.BadPatchFormatError as e:
            # handlers/patch.go interpretStrategicMergePatchError: these are a 400.
            raise _errors.bad_request(str(e)) from e
        except _patch.PatchError as e:
            raise _errors.unprocessable(str(e)) from e
        patched_map = _json.as_map(patched)
        if patched_map is None:
            raise _errors.unprocessable('the patch result is not an object')
        problem = _types.type_error(resource.kind, patched_map)
        if problem is not None:
            # handlers/patch.go applyPatchToCurrentObject / applyPatch: the patched object
            # fails to decode into the kind's type: NewInvalid on the field "patch".
            raise _errors.invalid_patch(problem)
        return self.update(
            resource,
            namespace,
            name,
            patched_map,
            caller=caller,
            subresource=subresource,
            dry_run=dry_run,
            keep_status=keep_status,
        )

    def delete(
        self,
        resource: _resources.ResourceType,
        namespace: str,
        name: str,
        *,
        caller: str,
        propagation: str | None = None,
        preconditions: _json.Obj | None = None,
        dry_run: bool = False,
        grace_period: int | None = None,
    ) -> _json.Obj:
        """DELETE: remove an object and collect its dependents; return the deleted object.

        Deletion is immediate (no finalizers), and garbage collection runs at once rather
        than in the background: the end state is the same. With :attr:`graceful_pods`, a
        Pod's deletion is graceful unless ``grace_period`` is 0 (see there).
        """
        namespace = self._ns(resource, namespace)
        obj = self.get(resource, namespace, name)
        meta = _meta(obj)
        if preconditions:
            # registry/store.go Delete: preconditions failing is a Conflict.
            want_uid = preconditions.get('uid')
            if want_uid and want_uid != meta.get('uid'):
                raise _errors.conflict(
                    resource,
                    name,
                    f'Precondition failed: UID in precondition: {want_uid}, UID in object meta: '
                    f'{meta.get("uid")}',
                )
            want_rv = preconditions.get('resourceVersion')
            if want_rv and want_rv != meta.get('resourceVersion'):
                raise _errors.conflict(
                    resource,
                    name,
                    f'Precondition failed: ResourceVersion in precondition: {want_rv}, '
                    f'ResourceVersion in object meta: {meta.get("resourceVersion")}',
                )
        if propagation not in (None, 'Orphan', 'Background', 'Foreground'):
            raise _errors.bad_request(
                f'propagationPolicy: Unsupported value: "{propagation}": supported values: '
                '"Foreground", "Background", "Orphan"'
            )
        if dry_run:
            return obj
        if resource.kind == 'Pod' and self.graceful_pods:
            if grace_period is None:
                grace_period = int(_json.dig(obj, 'spec', 'terminationGracePeriodSeconds') or 0)
            if grace_period > 0:
                return self._mark_terminating(obj, grace_period, caller)
        if resource.kind == 'Namespace':
            # The namespace controller deletes everything in a deleted namespace.
            for other in _resources.RESOURCES:
                if other.namespaced:
                    for child in self.list(other, name):
                        self._remove(other, child, caller)
        self._remove(resource, obj, caller)
        if propagation == 'Orphan':
            self._orphan(str(meta.get('uid')), caller)
        else:
            # Background (the default for every kind here) and Foreground both delete the
            # dependents: https://kubernetes.io/docs/concepts/architecture/garbage-collection/
            self._collect_dependents(str(meta.get('uid')), caller)
        return obj

    def _mark_terminating(self, pod: _json.Obj, grace_period: int, caller: str) -> _json.Obj:
        # Graceful deletion (registry/core/pod/strategy.go CheckGracefulDelete,
        # registry/generic/registry/store.go updateForGracefulDeletionAndFinalizers): the
        # API sets deletionTimestamp to now plus the grace period and keeps the pod; the
        # kubelet stops its containers and then deletes it for good. A second graceful
        # delete of a terminating pod changes nothing here (it may only shorten the period).
        meta = _meta(pod)
        if meta.get('deletionTimestamp'):
            return pod
        when = self._clock() + datetime.timedelta(seconds=grace_period)
        meta['deletionTimestamp'] = when.strftime('%Y-%m-%dT%H:%M:%SZ')
        meta['deletionGracePeriodSeconds'] = grace_period
        meta['resourceVersion'] = self._next_rv()
        self._emit('MODIFIED', pod, caller)
        return pod

    def _collect_dependents(self, uid: str, caller: str) -> None:
        """Delete, transitively, the dependents of ``uid`` that have no owner left."""
        served = {r.kind for r in _resources.RESOURCES}
        gone = [uid]
        while gone:
            for kind, key in sorted(self._dependents.pop(gone.pop(), set())):
                obj = self._objects[kind].get(key)
                if obj is None or self._has_live_owner(obj, served):
                    continue
                self._remove(_resources.resource_for_kind(kind), obj, caller)
                gone.append(str(_meta(obj).get('uid')))

    def _has_live_owner(self, obj: _json.Obj, served: set[str]) -> bool:
        ns = str(_meta(obj).get('namespace', ''))
        refs = [
            _json.as_map(r) or {} for r in _json.as_list(_meta(obj).get('ownerReferences')) or []
        ]
        return any(
            r.get('kind') not in served or self.find_uid(str(r.get('uid')), ns) is not None
            for r in refs
        )

    def _remove(self, resource: _resources.ResourceType, obj: _json.Obj, caller: str) -> None:
        meta = _meta(obj)
        key = (self._ns(resource, str(meta.get('namespace', ''))), str(meta.get('name')))
        del self._objects[resource.kind][key]
        self._unindex(resource.kind, key, obj)
        meta['resourceVersion'] = self._next_rv()
        self._emit('DELETED', obj, caller)

    def _orphan(self, owner_uid: str, caller: str) -> None:
        # The "orphan" finalizer: the garbage collector strips the owner's references.
        dependents = sorted(self._dependents.get(owner_uid, set()))
        for kind, key in dependents:
            resource = _resources.resource_for_kind(kind)
            for obj in [self._objects[kind][key]]:
                refs = _json.as_list(_meta(obj).get('ownerReferences')) or []
                kept = [r for r in refs if _json.dig(r, 'uid') != owner_uid]
                if len(kept) != len(refs):
                    new = _json.deep_copy(obj)
                    _meta(new)['ownerReferences'] = kept
                    meta = _meta(new)
                    self.update(
                        resource,
                        str(meta.get('namespace', '')),
                        str(meta.get('name')),
                        new,
                        caller=caller,
                        keep_status=True,
                    )

    def collect_garbage(self, caller: str) -> bool:
        """Delete objects all of whose owners are gone; True if any was deleted.

        https://kubernetes.io/docs/concepts/architecture/garbage-collection/#owners-dependents:
        a dependent goes once none of its owners (looked up by uid, in its own namespace or
        at cluster scope) exists. Owners of kinds this fake does not serve are assumed alive.
        """
        served = {r.kind for r in _resources.RESOURCES}
        doomed: list[tuple[_resources.ResourceType, _json.Obj]] = []
        for resource in _resources.RESOURCES:
            for obj in self._objects[resource.kind].values():
                meta = _meta(obj)
                refs = [
                    _json.as_map(r) or {} for r in _json.as_list(meta.get('ownerReferences')) or []
                ]
                if not refs:
                    continue
                ns = str(meta.get('namespace', ''))
                alive = any(
                    r.get('kind') not in served or self.find_uid(str(r.get('uid')), ns) is not None
                    for r in refs
                )
                if not alive:
                    doomed.append((resource, obj))
        for resource, obj in doomed:
            self._remove(resource, obj, caller)
        return bool(doomed)


def _without_rv(obj: _json.Obj) -> _json.Obj:
    meta = _json.as_map(obj.get('metadata')) or {}
    return {
        **obj,
        'metadata': {k: v for k, v in meta.items() if k != 'resourceVersion'},
    }


_NAMESPACE = _resources.resource_for_kind('Namespace')
