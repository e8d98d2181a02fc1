"""What a service-mesh consumer must refuse: the checker's own reading of the provider's data.

The checker does not import the library: it reads the databag as the ``service_mesh``
interface defines it (istio-beacon-k8s ``src/charm.py``: ``labels`` a JSON object of
strings, ``mesh_type`` a JSON string) and judges each label by Kubernetes' syntax
(apimachinery ``pkg/util/validation/validation.go``: ``IsQualifiedName``,
``IsValidLabelValue``) and by the keys the library documents as refused (``lib/README.md``,
"Keys refused"). Data refused there must leave the consumer Blocked with nothing changed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, cast

from ..kube._labels import label_key_errors, label_value_errors

# The keys the library documents as refused (lib/README.md): Juju's selector and ownership
# labels, the controllers' identity labels, and Kubernetes' reserved prefixes.
REFUSED_KEYS: frozenset[str] = frozenset(
    {
        'app.kubernetes.io/name',
        'app.kubernetes.io/managed-by',
        'controller-revision-hash',
        'statefulset.kubernetes.io/pod-name',
        'apps.kubernetes.io/pod-index',
        'pod-template-hash',
    }
)
REFUSED_PREFIXES: frozenset[str] = frozenset({'kubernetes.io', 'k8s.io'})


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeshData:
    """A provider databag as the consumer must read it.

    Attributes:
        labels: the labels it asks for, or None when the consumer must refuse the data.
        refused: why it must be refused (the consumer is then Blocked and changes
            nothing), or None.
    """

    labels: Mapping[str, str] | None
    refused: str | None = None


def label_refusal(key: object, value: object) -> str | None:
    """Why one label cannot be managed: invalid for Kubernetes or refused; None if fine."""
    if not isinstance(key, str):
        return f'label key {key!r} is not a string'
    problems = label_key_errors(key)
    if problems:
        return f'label key {key!r}: {problems[0]}'
    prefix = key.rpartition('/')[0]
    if key in REFUSED_KEYS or prefix in REFUSED_PREFIXES:
        return f'label key {key!r} is reserved for Juju or Kubernetes'
    if not isinstance(value, str):
        return f'label {key!r}: the value is not a string'
    problems = label_value_errors(value)
    if problems:
        return f'label {key!r}: value {value!r}: {problems[0]}'
    return None


def read_mesh_databag(data: Mapping[str, str]) -> MeshData:
    """The labels a provider's application databag asks for, or why they are refused.

    An empty databag (the provider has not written yet) asks for no labels.
    """
    try:
        decoded: Any = json.loads(data.get('labels', '{}'))
    except json.JSONDecodeError:
        return MeshData(labels=None, refused='relation field "labels" is not valid JSON')
    if not isinstance(decoded, dict):
        return MeshData(labels=None, refused='relation field "labels" is not a JSON object')
    if 'mesh_type' in data:
        try:
            mesh_type: Any = json.loads(data['mesh_type'])
        except json.JSONDecodeError:
            return MeshData(labels=None, refused='relation field "mesh_type" is not valid JSON')
        if not isinstance(mesh_type, str):
            return MeshData(labels=None, refused='relation field "mesh_type" is not a JSON string')
    labels = cast('dict[Any, Any]', decoded)
    for key, value in sorted(labels.items(), key=lambda item: str(item[0])):
        refusal = label_refusal(key, value)
        if refusal is not None:
            return MeshData(labels=None, refused=refusal)
    return MeshData(labels={str(k): str(v) for k, v in labels.items()})
