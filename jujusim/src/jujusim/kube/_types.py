"""The Go types of the fields served here: a JSON value of the wrong type is refused.

kube-apiserver decodes every body into its Go struct (``k8s.io/api/core/v1/types.go``,
``apps/v1/types.go``, ``apimachinery/pkg/apis/meta/v1/types.go``); a value of the wrong JSON
type, or a number out of an integer field's range, fails there with ``encoding/json``'s
``UnmarshalTypeError``: ``json: cannot unmarshal bool into Go struct field
StatefulSetSpec.spec.replicas of type int32``. Only the fields of the kinds served here are
typed; a field not listed is accepted as it comes (``null`` is accepted everywhere: Go leaves
the zero value).
"""

from __future__ import annotations

from typing import Any

from . import _json

# A field type: a scalar name, ('map', value_type), ('list', item_type) or a struct
# ('struct', go_name, {json_name: type}).
Type = Any

_INT_RANGES = {'int32': (-(2**31), 2**31 - 1), 'int64': (-(2**63), 2**63 - 1)}

STRING = 'string'
INT32 = 'int32'
INT64 = 'int64'
BOOL = 'bool'
ANY = 'any'
INT_OR_STRING = 'intstr.IntOrString'
STRING_MAP = ('map', STRING)
STRINGS = ('list', STRING)


def _struct(go_name: str, fields: dict[str, Type]) -> Type:
    return ('struct', go_name, fields)


_OWNER_REFERENCE = _struct(
    'v1.OwnerReference',
    {
        'apiVersion': STRING,
        'kind': STRING,
        'name': STRING,
        'uid': STRING,
        'controller': BOOL,
        'blockOwnerDeletion': BOOL,
    },
)
_OBJECT_META = _struct(
    'v1.ObjectMeta',
    {
        'name': STRING,
        'generateName': STRING,
        'namespace': STRING,
        'selfLink': STRING,
        'uid': STRING,
        'resourceVersion': STRING,
        'generation': INT64,
        'creationTimestamp': STRING,
        'deletionTimestamp': STRING,
        'deletionGracePeriodSeconds': INT64,
        'labels': STRING_MAP,
        'annotations': STRING_MAP,
        'ownerReferences': ('list', _OWNER_REFERENCE),
        'finalizers': STRINGS,
        'managedFields': ('list', ANY),
    },
)
_CONTAINER = _struct(
    'v1.Container',
    {
        'name': STRING,
        'image': STRING,
        'command': STRINGS,
        'args': STRINGS,
        'workingDir': STRING,
        'ports': (
            'list',
            _struct(
                'v1.ContainerPort',
                {
                    'name': STRING,
                    'hostPort': INT32,
                    'containerPort': INT32,
                    'protocol': STRING,
                    'hostIP': STRING,
                },
            ),
        ),
        'env': ('list', _struct('v1.EnvVar', {'name': STRING, 'value': STRING})),
        'imagePullPolicy': STRING,
        'terminationMessagePath': STRING,
        'terminationMessagePolicy': STRING,
    },
)
_POD_SPEC = _struct(
    'v1.PodSpec',
    {
        'containers': ('list', _CONTAINER),
        'initContainers': ('list', _CONTAINER),
        'restartPolicy': STRING,
        'terminationGracePeriodSeconds': INT64,
        'activeDeadlineSeconds': INT64,
        'dnsPolicy': STRING,
        'nodeSelector': STRING_MAP,
        'serviceAccountName': STRING,
        'serviceAccount': STRING,
        'automountServiceAccountToken': BOOL,
        'nodeName': STRING,
        'hostNetwork': BOOL,
        'hostname': STRING,
        'subdomain': STRING,
        'schedulerName': STRING,
        'priority': INT32,
    },
)
_LABEL_SELECTOR = _struct(
    'v1.LabelSelector',
    {
        'matchLabels': STRING_MAP,
        'matchExpressions': (
            'list',
            _struct(
                'v1.LabelSelectorRequirement',
                {'key': STRING, 'operator': STRING, 'values': STRINGS},
            ),
        ),
    },
)
_CONDITIONS = (
    'list',
    _struct('v1.Condition', {'type': STRING, 'status': STRING, 'reason': STRING}),
)

_COMMON: dict[str, Type] = {'kind': STRING, 'apiVersion': STRING, 'metadata': _OBJECT_META}

# One root struct per kind served, named as Go names it in UnmarshalTypeError.Struct.
KINDS: dict[str, Type] = {
    'Namespace': _struct(
        'Namespace',
        {
            **_COMMON,
            'spec': _struct('v1.NamespaceSpec', {'finalizers': STRINGS}),
            'status': _struct('v1.NamespaceStatus', {'phase': STRING}),
        },
    ),
    'ConfigMap': _struct(
        'ConfigMap',
        {**_COMMON, 'data': STRING_MAP, 'binaryData': STRING_MAP, 'immutable': BOOL},
    ),
    'Service': _struct(
        'Service',
        {
            **_COMMON,
            'spec': _struct(
                'v1.ServiceSpec',
                {
                    'ports': (
                        'list',
                        _struct(
                            'v1.ServicePort',
                            {
                                'name': STRING,
                                'protocol': STRING,
                                'appProtocol': STRING,
                                'port': INT32,
                                'targetPort': INT_OR_STRING,
                                'nodePort': INT32,
                            },
                        ),
                    ),
                    'selector': STRING_MAP,
                    'clusterIP': STRING,
                    'clusterIPs': STRINGS,
                    'type': STRING,
                    'externalIPs': STRINGS,
                    'sessionAffinity': STRING,
                    'externalName': STRING,
                    'publishNotReadyAddresses': BOOL,
                },
            ),
        },
    ),
    'Pod': _struct(
        'Pod',
        {
            **_COMMON,
            'spec': _POD_SPEC,
            'status': _struct(
                'v1.PodStatus',
                {'phase': STRING, 'conditions': _CONDITIONS, 'podIP': STRING},
            ),
        },
    ),
    'StatefulSet': _struct(
        'StatefulSet',
        {
            **_COMMON,
            'spec': _struct(
                'v1.StatefulSetSpec',
                {
                    'replicas': INT32,
                    'selector': _LABEL_SELECTOR,
                    'template': _struct(
                        'v1.PodTemplateSpec', {'metadata': _OBJECT_META, 'spec': _POD_SPEC}
                    ),
                    'serviceName': STRING,
                    'podManagementPolicy': STRING,
                    'updateStrategy': _struct(
                        'v1.StatefulSetUpdateStrategy',
                        {
                            'type': STRING,
                            'rollingUpdate': _struct(
                                'v1.RollingUpdateStatefulSetStrategy',
                                {'partition': INT32, 'maxUnavailable': INT_OR_STRING},
                            ),
                        },
                    ),
                    'revisionHistoryLimit': INT32,
                    'minReadySeconds': INT32,
                    'ordinals': _struct('v1.StatefulSetOrdinals', {'start': INT32}),
                },
            ),
            'status': _struct(
                'v1.StatefulSetStatus',
                {
                    'observedGeneration': INT64,
                    'replicas': INT32,
                    'readyReplicas': INT32,
                    'currentReplicas': INT32,
                    'updatedReplicas': INT32,
                    'availableReplicas': INT32,
                    'currentRevision': STRING,
                    'updateRevision': STRING,
                    'collisionCount': INT32,
                    'conditions': _CONDITIONS,
                },
            ),
        },
    ),
    'ControllerRevision': _struct(
        'ControllerRevision', {**_COMMON, 'data': ANY, 'revision': INT64}
    ),
    'Event': _struct(
        'Event',
        {
            **_COMMON,
            'involvedObject': _struct(
                'v1.ObjectReference',
                {
                    'kind': STRING,
                    'namespace': STRING,
                    'name': STRING,
                    'uid': STRING,
                    'apiVersion': STRING,
                    'resourceVersion': STRING,
                    'fieldPath': STRING,
                },
            ),
            'reason': STRING,
            'message': STRING,
            'source': _struct('v1.EventSource', {'component': STRING, 'host': STRING}),
            'firstTimestamp': STRING,
            'lastTimestamp': STRING,
            'count': INT32,
            'type': STRING,
            'reportingComponent': STRING,
            'reportingInstance': STRING,
            'action': STRING,
        },
    ),
}


def json_kind(value: Any) -> str:
    # encoding/json decode.go: the Value of an UnmarshalTypeError.
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, (int, float)):
        return 'number'
    if isinstance(value, str):
        return 'string'
    if isinstance(value, list):
        return 'array'
    return 'object'


def _type_name(type_: Type) -> str:
    if isinstance(type_, str):
        return {STRING: 'string', BOOL: 'bool'}.get(type_, type_)
    if type_[0] == 'map':
        return f'map[string]{_type_name(type_[1])}'
    if type_[0] == 'list':
        return f'[]{_type_name(type_[1])}'
    return str(type_[1])


def _scalar_error(type_: str, value: Any) -> str | None:
    """Why ``value`` cannot decode into scalar ``type_`` (the Value part), or None."""
    if type_ == ANY:
        return None
    if type_ == STRING:
        return None if isinstance(value, str) else json_kind(value)
    if type_ == BOOL:
        return None if isinstance(value, bool) else json_kind(value)
    if type_ == INT_OR_STRING:
        if isinstance(value, str):
            return None
        type_ = INT32  # intstr.IntOrString.UnmarshalJSON: a number goes into an int32
    low, high = _INT_RANGES[type_]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return json_kind(value)
    if isinstance(value, float) or not low <= value <= high:
        # decode.go literalStore: a number that does not fit is "number <literal>".
        return f'number {value}'
    return None


def type_error(kind: str, obj: Any) -> str | None:
    """The ``UnmarshalTypeError`` text decoding ``obj`` into ``kind``'s struct gives, or None.

    Iterative: the object may nest as deep as the decoder allows.
    """
    root = KINDS.get(kind)
    if root is None:
        return None
    stack: list[tuple[Type, Any, str, str]] = [(root, obj, '', str(root[1]))]
    while stack:
        type_, value, path, struct = stack.pop()
        if value is None:
            continue
        problem: str | None
        as_map, as_list = _json.as_map(value), _json.as_list(value)
        if isinstance(type_, str):
            problem = _scalar_error(type_, value)
        elif type_[0] == 'map':
            problem = None if as_map is not None else json_kind(value)
            for key, item in (as_map or {}).items():
                stack.append((type_[1], item, f'{path}.{key}' if path else key, struct))
        elif type_[0] == 'list':
            problem = None if as_list is not None else json_kind(value)
            stack.extend((type_[1], item, path, struct) for item in as_list or [])
        else:
            problem = None if as_map is not None else json_kind(value)
            go_name = str(type_[1]).rsplit('.', 1)[-1]
            for key, field_type in type_[2].items():
                if as_map is not None and key in as_map:
                    child_path = f'{path}.{key}' if path else key
                    stack.append((field_type, as_map[key], child_path, go_name))
        if problem is not None:
            if not path:
                return f'json: cannot unmarshal {problem} into Go value of type {struct}'
            return (
                f'json: cannot unmarshal {problem} into Go struct field {struct}.{path} of '
                f'type {_type_name(type_)}'
            )
    return None
