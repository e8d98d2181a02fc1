"""parse_provider_data: the istio-beacon-k8s wire format, and bad relation data."""

from __future__ import annotations

import json

import pytest

import k8s_labels

BEACON = {
    # What istio-beacon-k8s publishes (canonical/service-mesh charms/istio-beacon-k8s).
    'labels': json.dumps(
        {
            'istio.io/dataplane-mode': 'ambient',
            'istio.io/use-waypoint': 'model-beacon-waypoint',
            'istio.io/use-waypoint-namespace': 'model',
        }
    ),
    'mesh_type': '"istio"',
}


def test_beacon_data_is_accepted():
    assert k8s_labels.parse_provider_data(BEACON) == json.loads(BEACON['labels'])


def test_empty_databag_means_no_labels():
    assert k8s_labels.parse_provider_data({}) == {}


def test_extra_keys_are_tolerated():
    assert k8s_labels.parse_provider_data({**BEACON, 'policies': 'not even json'}) == (
        json.loads(BEACON['labels'])
    )


@pytest.mark.parametrize(
    ('databag', 'field', 'fragment'),
    [
        ({'labels': '{not json'}, 'labels', 'not valid JSON'),
        ({'labels': '["a"]'}, 'labels', 'not an array'),
        ({'labels': '"a"'}, 'labels', 'not a string'),
        ({'labels': 'null'}, 'labels', 'not null'),
        ({'labels': '{}', 'mesh_type': 'istio'}, 'mesh_type', 'not valid JSON'),
        ({'labels': '{}', 'mesh_type': '3'}, 'mesh_type', 'not a number'),
        ({'labels': '{}', 'mesh_type': '{"a": 1}'}, 'mesh_type', 'not an object'),
    ],
)
def test_bad_fields_are_named(databag: dict[str, str], field: str, fragment: str):
    with pytest.raises(k8s_labels.InvalidRelationDataError) as info:
        k8s_labels.parse_provider_data(databag)
    assert info.value.field == field
    assert f'"{field}"' in str(info.value)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ('labels', 'key'),
    [
        ({'k': 1}, 'k'),
        ({'bad key': 'v'}, 'bad key'),
        ({'app.kubernetes.io/name': 'other'}, 'app.kubernetes.io/name'),
    ],
)
def test_bad_labels_are_named(labels: dict[str, object], key: str):
    with pytest.raises(k8s_labels.InvalidLabelsError) as info:
        k8s_labels.parse_provider_data({'labels': json.dumps(labels)})
    assert info.value.key == key
