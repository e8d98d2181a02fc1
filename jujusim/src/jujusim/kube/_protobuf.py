r"""Protobuf request bodies, decoded to the JSON form, for the kinds kubectl sends them as.

kubectl 1.32's ``create namespace``, ``create configmap`` and ``create service ...`` build
typed objects and send them with ``Content-Type: application/vnd.kubernetes.protobuf``
(see ``kubectl create namespace x -v=8``). Their client is configured for protobuf, not told
so by the server: no discovery or OpenAPI answer turns it to JSON, and client-go falls back
from a 415 only for CBOR (client-go ``rest/client.go``, ``requestClientContentConfigProvider``).
A real server accepts protobuf for every built-in kind, so the fake decodes it too, for the
kinds a ``kubectl create`` generator makes among those served.

The envelope is ``k8s\x00`` followed by a ``runtime.Unknown`` (apimachinery
``pkg/runtime/serializer/protobuf/protobuf.go``; ``pkg/runtime/generated.proto``); field
numbers are from ``k8s.io/api`` ``core/v1/generated.proto`` and apimachinery
``pkg/apis/meta/v1/generated.proto``. gogo-protobuf writes every non-pointer field even when
empty; Go's JSON then omits the empty ones (``omitempty``), and so does this decoder.
A protobuf parser library would need the generated schema classes, which nobody publishes
for Python; the wire format itself is a few lines.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

MEDIA_TYPE = 'application/vnd.kubernetes.protobuf'
_MAGIC = b'k8s\x00'

# message -> {field number: (json name, kind, sub-message)}; kinds: string, bytes, int, bool,
# message, map (string->string), bytesmap (string->bytes, base64 in JSON), strings, messages.
_Schema = dict[int, tuple[str, str, str]]
_MESSAGES: dict[str, _Schema] = {
    'Unknown': {
        1: ('typeMeta', 'message', 'TypeMeta'),
        2: ('raw', 'bytes', ''),
        3: ('contentEncoding', 'string', ''),
        4: ('contentType', 'string', ''),
    },
    'TypeMeta': {1: ('apiVersion', 'string', ''), 2: ('kind', 'string', '')},
    'Time': {1: ('seconds', 'int', ''), 2: ('nanos', 'int', '')},
    'ObjectMeta': {
        1: ('name', 'string', ''),
        2: ('generateName', 'string', ''),
        3: ('namespace', 'string', ''),
        4: ('selfLink', 'string', ''),
        5: ('uid', 'string', ''),
        6: ('resourceVersion', 'string', ''),
        7: ('generation', 'int', ''),
        8: ('creationTimestamp', 'message', 'Time'),
        9: ('deletionTimestamp', 'message', 'Time'),
        10: ('deletionGracePeriodSeconds', 'int', ''),
        11: ('labels', 'map', ''),
        12: ('annotations', 'map', ''),
        13: ('ownerReferences', 'messages', 'OwnerReference'),
        14: ('finalizers', 'strings', ''),
    },
    'OwnerReference': {
        5: ('apiVersion', 'string', ''),
        1: ('kind', 'string', ''),
        3: ('name', 'string', ''),
        4: ('uid', 'string', ''),
        6: ('controller', 'bool', ''),
        7: ('blockOwnerDeletion', 'bool', ''),
    },
    'Namespace': {
        1: ('metadata', 'message', 'ObjectMeta'),
        2: ('spec', 'message', 'NamespaceSpec'),
        3: ('status', 'message', 'NamespaceStatus'),
    },
    'NamespaceSpec': {1: ('finalizers', 'strings', '')},
    'NamespaceStatus': {1: ('phase', 'string', '')},
    'ConfigMap': {
        1: ('metadata', 'message', 'ObjectMeta'),
        2: ('data', 'map', ''),
        3: ('binaryData', 'bytesmap', ''),
        4: ('immutable', 'bool', ''),
    },
    'Service': {
        1: ('metadata', 'message', 'ObjectMeta'),
        2: ('spec', 'message', 'ServiceSpec'),
        3: ('status', 'message', 'ServiceStatus'),
    },
    'ServiceStatus': {},
    'ServiceSpec': {
        1: ('ports', 'messages', 'ServicePort'),
        2: ('selector', 'map', ''),
        3: ('clusterIP', 'string', ''),
        18: ('clusterIPs', 'strings', ''),
        4: ('type', 'string', ''),
        5: ('externalIPs', 'strings', ''),
        7: ('sessionAffinity', 'string', ''),
        8: ('loadBalancerIP', 'string', ''),
        9: ('loadBalancerSourceRanges', 'strings', ''),
        10: ('externalName', 'string', ''),
        11: ('externalTrafficPolicy', 'string', ''),
        12: ('healthCheckNodePort', 'int', ''),
        13: ('publishNotReadyAddresses', 'bool', ''),
        19: ('ipFamilies', 'strings', ''),
        17: ('ipFamilyPolicy', 'string', ''),
        20: ('allocateLoadBalancerNodePorts', 'bool', ''),
        21: ('loadBalancerClass', 'string', ''),
        22: ('internalTrafficPolicy', 'string', ''),
    },
    'ServicePort': {
        1: ('name', 'string', ''),
        2: ('protocol', 'string', ''),
        6: ('appProtocol', 'string', ''),
        3: ('port', 'int', ''),
        4: ('targetPort', 'message', 'IntOrString'),
        5: ('nodePort', 'int', ''),
    },
    'IntOrString': {1: ('type', 'int', ''), 2: ('intVal', 'int', ''), 3: ('strVal', 'string', '')},
}

DECODABLE_KINDS = frozenset({'Namespace', 'ConfigMap', 'Service'})
"""Kinds whose protobuf bodies are decoded (what kubectl's generators send among those served)."""


class ProtobufError(ValueError):
    """A body that is not a well-formed Kubernetes protobuf message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError('truncated or overlong varint')
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) for each field of one message."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError('truncated length-delimited field')
            value, pos = data[pos : pos + length], pos + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise ProtobufError('truncated fixed-size field')
            value, pos = data[pos : pos + size], pos + size
        else:
            raise ProtobufError(f'unsupported wire type {wire}')
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    # int32/int64 are two's complement in a 64-bit varint.
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(raw: Any) -> str:
    if not isinstance(raw, bytes):
        raise ProtobufError('expected a length-delimited string')
    return raw.decode('utf-8', 'replace')


def _map_entry(raw: Any) -> tuple[str, bytes]:
    key, value = '', b''
    for number, _, field in _fields(raw if isinstance(raw, bytes) else b''):
        if number == 1:
            key = _text(field)
        elif number == 2 and isinstance(field, bytes):
            value = field
    return key, value


def _message(name: str, data: bytes, depth: int = 0) -> dict[str, Any]:
    if depth > 16:
        raise ProtobufError('message nested too deeply')
    schema = _MESSAGES[name]
    out: dict[str, Any] = {}
    for number, _, raw in _fields(data):
        if number not in schema:
            continue  # a field this fake does not model: Go would keep it, nothing reads it
        json_name, kind, sub = schema[number]
        if kind == 'string':
            out[json_name] = _text(raw)
        elif kind == 'bytes':
            out[json_name] = raw
        elif kind == 'int':
            out[json_name] = _signed(raw) if isinstance(raw, int) else 0
        elif kind == 'bool':
            out[json_name] = bool(raw)
        elif kind == 'message':
            value = _message(sub, raw if isinstance(raw, bytes) else b'', depth + 1)
            if sub == 'Time':
                out[json_name] = _time(value) if value else ''
            elif sub == 'IntOrString':
                # intstr.IntOrString: type 1 is a string, else an int (apimachinery intstr.go).
                is_string = value.get('type') == 1
                out[json_name] = value.get('strVal', '') if is_string else value.get('intVal', 0)
            else:
                out[json_name] = value
        elif kind == 'strings':
            out.setdefault(json_name, []).append(_text(raw))
        elif kind == 'messages':
            out.setdefault(json_name, []).append(
                _message(sub, raw if isinstance(raw, bytes) else b'', depth + 1)
            )
        else:
            key, value = _map_entry(raw)
            out.setdefault(json_name, {})[key] = (
                value.decode('utf-8', 'replace')
                if kind == 'map'
                else base64.b64encode(value).decode()
            )
    return _as_json(name, out)


def _time(value: dict[str, Any]) -> str:
    # metav1.Time marshals to RFC 3339 at second precision (apimachinery meta/v1/time.go).
    moment = datetime.datetime.fromtimestamp(int(value.get('seconds', 0)), datetime.UTC)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def _as_json(name: str, out: dict[str, Any]) -> dict[str, Any]:
    if name in ('IntOrString', 'Time'):
        return out  # resolved by the parent
    for key in list(out):
        value = out[key]
        if value in ('', 0, False, [], {}) and not (name == 'ServicePort' and key == 'port'):
            del out[key]  # omitempty: gogo wrote the zero value, Go's JSON leaves it out
    return out


def decode(body: bytes) -> dict[str, Any]:
    r"""The JSON form of a ``k8s\x00``-framed protobuf object.

    Raises:
        ProtobufError: not such a body, or a kind whose protobuf this fake does not decode.
    """
    if not body.startswith(_MAGIC):
        raise ProtobufError('provided data does not appear to be a protobuf message')
    unknown = _message('Unknown', body[len(_MAGIC) :])
    type_meta: dict[str, Any] = unknown.get('typeMeta') or {}
    kind, api_version = str(type_meta.get('kind', '')), str(type_meta.get('apiVersion', ''))
    if kind not in DECODABLE_KINDS:
        raise ProtobufError(
            f'the fake API decodes protobuf bodies only for {", ".join(sorted(DECODABLE_KINDS))}'
            f' (got {kind or "no kind"}); send application/json'
        )
    obj = _message(kind, bytes(unknown.get('raw', b'')))
    return {'kind': kind, 'apiVersion': api_version, **obj}
