"""The body decoders on their own: protobuf as kubectl sends it, and the anchored regexes."""

from __future__ import annotations

import pytest

from jujusim.kube import _decode, _labels, _protobuf, _types

# `kubectl create namespace xx` (v1.32.4), as `-v=8` prints the request body.
KUBECTL_NAMESPACE = bytes.fromhex(
    '6b 38 73 00 0a 0f 0a 02 76 31 12 09 4e 61 6d 65 '
    '73 70 61 63 65 12 1a 0a 12 0a 02 78 78 12 00 1a '
    '00 22 00 2a 00 32 00 38 00 42 00 12 00 1a 02 0a '
    '00 1a 00 22 00'
)


def test_kubectls_protobuf_namespace_decodes_to_its_json_form():
    assert _protobuf.decode(KUBECTL_NAMESPACE) == {
        'kind': 'Namespace',
        'apiVersion': 'v1',
        'metadata': {'name': 'xx'},
    }


@pytest.mark.parametrize(
    'body',
    [b'', b'k8s\x00', b'k8s\x00\x0a\xff', b'{"kind": "Namespace"}', KUBECTL_NAMESPACE[:-9]],
)
def test_malformed_protobuf_is_a_protobuf_error(body: bytes):
    with pytest.raises(_protobuf.ProtobufError):
        _protobuf.decode(body)


@pytest.mark.parametrize('value', ['v\n', 'v\r\n', '\nv', 'a b'])
def test_label_values_are_matched_whole(value: str):
    assert _labels.label_value_errors(value)


@pytest.mark.parametrize('key', ['x\n', 'a.io/x\n', 'a.io\n/x'])
def test_label_keys_are_matched_whole(key: str):
    assert _labels.label_key_errors(key)


def test_names_are_matched_whole():
    assert _labels.dns1123_subdomain_errors('web\n')
    assert not _labels.dns1123_subdomain_errors('web')


def test_depth_is_measured_outside_strings():
    deep = b'[' * (_decode.MAX_DEPTH + 1) + b']' * (_decode.MAX_DEPTH + 1)
    with pytest.raises(_decode.DecodeError, match='exceeded max depth'):
        _decode.decode_json(deep)
    brackets_in_a_string = b'["' + b'[' * 5000 + b'"]'
    assert _decode.decode_json(brackets_in_a_string) == ['[' * 5000]


def test_type_errors_name_the_go_field():
    problem = _types.type_error('StatefulSet', {'spec': {'replicas': 2**31}})
    assert problem == (
        'json: cannot unmarshal number 2147483648 into Go struct field '
        'StatefulSetSpec.spec.replicas of type int32'
    )
    assert _types.type_error('StatefulSet', {'spec': {'replicas': 2**31 - 1}}) is None
    assert _types.type_error('ConfigMap', {'data': None}) is None  # null is Go's zero value
