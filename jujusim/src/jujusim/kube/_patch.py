"""The three PATCH bodies Kubernetes accepts: strategic merge, JSON merge, JSON patch.

Strategic merge is hand-written for the kinds served here, following
``staging/src/k8s.io/apimachinery/pkg/util/strategicpatch/patch.go`` and the docs page
"Update API Objects in Place Using kubectl patch"
(https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/):
maps merge recursively, ``null`` deletes a key, lists whose Go field carries
``patchStrategy:"merge"`` merge element-wise by their ``patchMergeKey``, every other list is
replaced, and the ``$patch``, ``$retainKeys``, ``$deleteFromPrimitiveList/`` and
``$setElementOrder/`` directives are honoured.

JSON patch (RFC 6902) uses the ``jsonpatch`` package (typed stubs ship with it).
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer

from . import _json

_PRIMITIVE = ''
"""Merge key of a merged list of primitives (a set, e.g. ``metadata.finalizers``)."""

# List fields with patchStrategy "merge" and their patchMergeKey, from the struct tags in
# staging/src/k8s.io/api/core/v1/types.go, apps/v1/types.go and apimachinery meta/v1/types.go.
# Paths are the map keys from the object's root; list positions add no step.
_META: dict[tuple[str, ...], str] = {
    ('ownerReferences',): 'uid',  # ObjectMeta.OwnerReferences patchMergeKey:"uid"
    ('finalizers',): _PRIMITIVE,  # ObjectMeta.Finalizers patchStrategy:"merge"
}
_CONTAINER: dict[tuple[str, ...], str] = {
    ('ports',): 'containerPort',  # Container.Ports patchMergeKey:"containerPort"
    ('env',): 'name',  # Container.Env patchMergeKey:"name"
    ('volumeMounts',): 'mountPath',  # Container.VolumeMounts patchMergeKey:"mountPath"
    ('volumeDevices',): 'devicePath',  # Container.VolumeDevices patchMergeKey:"devicePath"
}
_POD_SPEC: dict[tuple[str, ...], str] = {
    ('volumes',): 'name',  # PodSpec.Volumes patchMergeKey:"name"
    ('imagePullSecrets',): 'name',
    ('hostAliases',): 'ip',
    ('topologySpreadConstraints',): 'topologyKey',
    ('resourceClaims',): 'name',
    ('schedulingGates',): 'name',
}
for _field in ('containers', 'initContainers', 'ephemeralContainers'):
    _POD_SPEC[(_field,)] = 'name'
    for _sub, _key in _CONTAINER.items():
        _POD_SPEC[(_field, *_sub)] = _key


def _prefixed(prefix: tuple[str, ...], table: dict[tuple[str, ...], str]) -> dict[Any, str]:
    return {(*prefix, *path): key for path, key in table.items()}


_COMMON = _prefixed(('metadata',), _META)
_MERGE_KEYS: dict[str, dict[tuple[str, ...], str]] = {
    'Pod': {
        **_COMMON,
        **_prefixed(('spec',), _POD_SPEC),
        ('status', 'conditions'): 'type',  # PodStatus.Conditions patchMergeKey:"type"
        ('status', 'podIPs'): 'ip',
    },
    'StatefulSet': {
        **_COMMON,
        **_prefixed(('spec', 'template', 'metadata'), _META),
        **_prefixed(('spec', 'template', 'spec'), _POD_SPEC),
        ('status', 'conditions'): 'type',  # StatefulSetStatus.Conditions patchMergeKey:"type"
    },
    'Service': {
        **_COMMON,
        ('spec', 'ports'): 'port',  # ServiceSpec.Ports patchMergeKey:"port"
        ('status', 'conditions'): 'type',
    },
}


def merge_key(kind: str, path: tuple[str, ...]) -> str | None:
    """The ``patchMergeKey`` of the list at ``path`` in a ``kind``; None for atomic lists."""
    return _MERGE_KEYS.get(kind, _COMMON).get(path)


class PatchError(ValueError):
    """A patch body that cannot be applied (the server answers 422)."""


class BadPatchFormatError(PatchError):
    """A malformed directive (``mergepatch.ErrBadPatchFormatFor...``): the server answers 400."""


def strategic_merge(kind: str, original: _json.Obj, patch: _json.Obj) -> _json.Obj:
    """Apply a strategic-merge patch to ``original`` (not modified) and return the result."""
    result = _merge_map(kind, (), _json.deep_copy(original), patch)
    if result is None:
        raise PatchError('a strategic merge patch may not delete the whole object')
    return result


def _directive(patch: _json.Obj) -> str | None:
    value = patch.get('$patch')
    if value is None:
        return None
    if value not in ('replace', 'merge', 'delete'):
        raise PatchError(f'Unknown patch directive: {value!r}')
    return str(value)


def _strip(kind: str, path: tuple[str, ...], value: Any) -> Any:
    """A patch value placed where nothing was: merge it into emptiness."""
    m = _json.as_map(value)
    if m is not None:
        return _merge_map(kind, path, {}, m)
    lst = _json.as_list(value)
    if lst is not None:
        return _merge_list(kind, path, [], lst)
    return value


def _merge_map(
    kind: str, path: tuple[str, ...], original: _json.Obj, patch: _json.Obj
) -> _json.Obj | None:
    directive = _directive(patch)
    if directive == 'delete':
        return None
    if directive == 'replace':
        # patch.go: "$patch: replace" replaces the map with the patch, directives removed.
        original = {}
    retain = _json.as_list(patch.get('$retainKeys'))
    if retain is None and patch.get('$retainKeys') is not None:
        # apimachinery pkg/util/mergepatch/errors.go ErrBadPatchFormatErrorForRetainKeys.
        raise BadPatchFormatError('invalid patch format of retainKeys')
    for key, value in patch.items():
        if key in ('$patch', '$retainKeys'):
            continue
        if key.startswith('$setElementOrder/'):
            continue
        if key.startswith('$deleteFromPrimitiveList/'):
            field = key.split('/', 1)[1]
            doomed = _json.as_list(value)
            if doomed is None:
                raise BadPatchFormatError('invalid patch format of primitive list')
            current = _json.as_list(original.get(field))
            if current is not None:
                original[field] = [v for v in current if v not in doomed]
            continue
        if value is None:
            original.pop(key, None)
            continue
        sub = (*path, key)
        have = original.get(key)
        patch_map = _json.as_map(value)
        have_map = _json.as_map(have)
        patch_list = _json.as_list(value)
        have_list = _json.as_list(have)
        if patch_map is not None:
            merged = _merge_map(kind, sub, have_map if have_map is not None else {}, patch_map)
            if merged is None:
                original.pop(key, None)
            else:
                original[key] = merged
        elif patch_list is not None:
            original[key] = _merge_list(
                kind, sub, have_list if have_list is not None else [], patch_list
            )
        else:
            original[key] = value
    for key, value in patch.items():
        if key.startswith('$setElementOrder/'):
            field = key.split('/', 1)[1]
            order = _json.as_list(value)
            if order is None:
                raise BadPatchFormatError('invalid patch format of setElementOrder list')
            current = _json.as_list(original.get(field))
            if current is not None:
                original[field] = _reorder(kind, (*path, field), current, order)
    if retain is not None:
        # $retainKeys: keys of the result not listed are cleared (patchStrategy "retainKeys").
        for key in list(original):
            if key not in retain:
                del original[key]
    return original


def _element_key(element: Any, key: str) -> Any:
    if key == _PRIMITIVE:
        return element
    m = _json.as_map(element)
    return None if m is None else m.get(key)


def _reorder(kind: str, path: tuple[str, ...], current: list[Any], order: list[Any]) -> list[Any]:
    key = merge_key(kind, path)
    if key is None:
        return current
    wanted: list[Any] = []
    for want in order:
        want_key = want if key == _PRIMITIVE else _element_key(want, key)
        wanted.extend(e for e in current if _element_key(e, key) == want_key)
    rest = [e for e in current if not any(e is w for w in wanted)]
    return wanted + rest


def _merge_list(
    kind: str, path: tuple[str, ...], original: list[Any], patch: list[Any]
) -> list[Any]:
    key = merge_key(kind, path)
    if key is None:
        # No patch strategy: the list is atomic and replaced wholesale.
        return [_strip(kind, path, v) for v in patch]
    if key == _PRIMITIVE:
        result = list(original)
        for value in patch:
            if value not in result:
                result.append(value)
        return result
    elements = list(patch)
    for element in elements:
        m = _json.as_map(element)
        if m is not None and set(m) == {'$patch'} and _directive(m) == 'replace':
            # A lone {"$patch": "replace"} element replaces the list with the others.
            rest = [e for e in elements if e is not element]
            return [_strip(kind, path, e) for e in rest]
    result = [_json.deep_copy(e) if _json.as_map(e) is not None else e for e in original]
    for element in elements:
        m = _json.as_map(element)
        if m is None:
            raise PatchError(
                f'{".".join(path)}: elements of a list merged by {key!r} must be objects'
            )
        if key not in m:
            raise PatchError(f'map: {m!r} does not contain declared merge key: {key}')
        index = next((i for i, e in enumerate(result) if _element_key(e, key) == m[key]), None)
        if _directive(m) == 'delete':
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(_merge_map(kind, path, {}, m))
            continue
        base = _json.as_map(result[index]) or {}
        merged = _merge_map(kind, path, base, m)
        if merged is None:
            del result[index]
        else:
            result[index] = merged
    return result


def merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386 merge patch: objects merge recursively, ``null`` deletes, the rest replaces."""
    patch_map = _json.as_map(patch)
    if patch_map is None:
        return patch
    original_map = _json.as_map(original)
    result: _json.Obj = _json.deep_copy(original_map) if original_map is not None else {}
    for key, value in patch_map.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(original: _json.Obj, operations: list[Any]) -> Any:
    """RFC 6902 JSON patch; raises PatchError when an operation cannot be applied."""
    try:
        return jsonpatch.JsonPatch(operations).apply(_json.deep_copy(original))
    except (
        jsonpatch.JsonPatchException,
        jsonpointer.JsonPointerException,
        KeyError,
        IndexError,
        TypeError,
        ValueError,
        AttributeError,
    ) as e:
        # jsonpatch raises plain KeyError/TypeError for some malformed operations.
        raise PatchError(str(e) or type(e).__name__) from e
