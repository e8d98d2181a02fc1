"""Label selectors on list, every operator, through lightkube's own selector encoding."""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

from typing import Any

import lightkube
import pytest
from kube_core_helpers import Raw
from lightkube import operators
from lightkube.resources.core_v1 import ConfigMap

from jujusim import kube

LABELS = {
    'a': {'tier': 'web', 'env': 'prod'},
    'b': {'tier': 'db', 'env': 'prod'},
    'c': {'tier': 'web'},
    'd': {},
}


@pytest.fixture(autouse=True)
def _objects(api: kube.FakeKube) -> None:
    for name, labels in LABELS.items():
        api.create({'kind': 'ConfigMap', 'metadata': {'name': name, 'labels': labels}})
    api.create({'kind': 'ConfigMap', 'metadata': {'name': 'elsewhere', 'namespace': 'other'}})


@pytest.mark.parametrize(
    ('labels', 'expected'),
    [
        ({'tier': 'web'}, ['a', 'c']),
        ({'tier': operators.equal('db')}, ['b']),
        ({'tier': operators.not_equal('web')}, ['b', 'd']),
        ({'tier': operators.in_(['web', 'db'])}, ['a', 'b', 'c']),
        ({'tier': operators.not_in(['web'])}, ['b', 'd']),
        ({'env': None}, ['a', 'b']),
        ({'env': operators.exists()}, ['a', 'b']),
        ({'env': operators.not_exists()}, ['c', 'd']),
        ({'tier': 'web', 'env': 'prod'}, ['a']),
        ({}, ['a', 'b', 'c', 'd']),
    ],
)
def test_lightkube_selectors(
    client: lightkube.Client, labels: dict[str, Any], expected: list[str]
) -> None:
    names = [cm.metadata.name for cm in client.list(ConfigMap, labels=labels) if cm.metadata]
    assert names == expected


@pytest.mark.parametrize(
    ('selector', 'expected'),
    [
        ('tier==web', ['a', 'c']),
        ('tier=web,env', ['a']),
        ('tier in (web, db),!env', ['c']),
        ('tier notin (db,web)', ['d']),
        ('env!=prod', ['c', 'd']),
        ('!tier', ['d']),
        (' tier = web , env != prod ', ['c']),
    ],
)
def test_raw_selector_strings(raw: Raw, selector: str, expected: list[str]) -> None:
    response = raw.request(
        'GET', '/api/v1/namespaces/default/configmaps', params={'labelSelector': selector}
    )
    assert response.status_code == 200
    assert [i['metadata']['name'] for i in response.json()['items']] == expected


@pytest.mark.parametrize(
    'selector', ['tier in (web', 'bad key!=x', 'tier=bad value!', '=x', 'a,,b']
)
def test_malformed_selectors_are_400(raw: Raw, selector: str) -> None:
    response = raw.request(
        'GET', '/api/v1/namespaces/default/configmaps', params={'labelSelector': selector}
    )
    assert response.status_code == 400
    assert response.json()['reason'] == 'BadRequest'


def test_field_selectors_and_all_namespaces(client: lightkube.Client, raw: Raw) -> None:
    named = client.list(ConfigMap, fields={'metadata.name': 'b'})
    assert [cm.metadata.name for cm in named if cm.metadata] == ['b']
    everywhere = client.list(ConfigMap, namespace='*')
    assert [(cm.metadata.namespace, cm.metadata.name) for cm in everywhere if cm.metadata] == [
        ('default', 'a'),
        ('default', 'b'),
        ('default', 'c'),
        ('default', 'd'),
        ('other', 'elsewhere'),
    ]
    unsupported = raw.request(
        'GET', '/api/v1/namespaces/default/configmaps', params={'fieldSelector': 'spec.x=1'}
    )
    assert unsupported.status_code == 400
