"""What a consumer must refuse, read without the library: Kubernetes' syntax, refused keys."""

import json

import pytest

from jujusim.check import REFUSED_KEYS, read_mesh_databag


def bag(labels: object, **extra: str) -> dict[str, str]:
    return {'labels': json.dumps(labels), **extra}


@pytest.mark.parametrize(
    'data',
    [
        {},
        bag({}),
        bag({'istio.io/dataplane-mode': 'ambient', 'tier': ''}),
        bag({'a': 'b'}, mesh_type='"istio"'),
    ],
)
def test_valid_data_asks_for_its_labels(data: dict[str, str]):
    read = read_mesh_databag(data)
    assert read.refused is None
    assert read.labels == json.loads(data.get('labels', '{}'))


@pytest.mark.parametrize(
    ('data', 'why'),
    [
        ({'labels': 'not json'}, 'not valid JSON'),
        (bag(['a']), 'not a JSON object'),
        (bag({'a': 1}), 'value is not a string'),
        (bag({'foo bar': 'x'}), "label key 'foo bar'"),
        (bag({'a': 'x' * 64}), 'no more than 63 characters'),
        (bag({'kubernetes.io/arch': 'x'}), 'reserved'),
        (bag({'k8s.io/x': 'y'}), 'reserved'),
        (bag({'a': 'b'}, mesh_type='istio'), '"mesh_type" is not valid JSON'),
        (bag({'a': 'b'}, mesh_type='1'), '"mesh_type" is not a JSON string'),
    ],
)
def test_refused_data_says_why(data: dict[str, str], why: str):
    read = read_mesh_databag(data)
    assert read.labels is None
    assert read.refused is not None and why in read.refused


@pytest.mark.parametrize('key', sorted(REFUSED_KEYS))
def test_every_documented_refused_key_is_refused(key: str):
    assert read_mesh_databag(bag({key: 'x'})).refused == (
        f'label key {key!r} is reserved for Juju or Kubernetes'
    )
