"""The ledger's JSON form: round trip, and a named field for every kind of corruption."""

from __future__ import annotations

import dataclasses
import json

import pytest

import k8s_labels
from k8s_labels import _ledger

WHERE = 'model/app-k8s-labels-service-mesh'


def _entry(*values: str, foreign: str | None = None) -> _ledger.Entry:
    return _ledger.Entry(frozenset(values), foreign)


LEDGER = _ledger.Ledger(
    writer='app/0@uid-0',
    epoch=3,
    open=True,
    legacy='juju-service-mesh-app-labels',
    template={'a': _entry('1', '2'), 'b': _entry('x', foreign='y')},
    service={'a': _entry('1')},
    pods={'app-1': _ledger.PodRecord('uid-1', {'a': _entry('1', foreign='mine')})},
)


def test_round_trip():
    assert _ledger.loads(_ledger.dumps(LEDGER), configmap=WHERE) == LEDGER


def test_app_and_fence_pending_round_trip_and_default_when_absent():
    ledger = dataclasses.replace(LEDGER, app='app', fence_pending=True)
    assert _ledger.loads(_ledger.dumps(ledger), configmap=WHERE) == ledger
    doc = json.loads(_ledger.dumps(ledger))
    del doc['app'], doc['fence_pending']  # a ledger written before these were recorded
    assert _ledger.loads(json.dumps(doc), configmap=WHERE) == LEDGER


def test_an_open_batchs_target_round_trips_and_is_none_when_absent():
    ledger = dataclasses.replace(LEDGER, target={'a': '2', 'b': 'x'})
    assert _ledger.loads(_ledger.dumps(ledger), configmap=WHERE) == ledger
    doc = json.loads(_ledger.dumps(ledger))
    del doc['target']  # a ledger written before targets were recorded
    assert _ledger.loads(json.dumps(doc), configmap=WHERE).target is None


def test_dump_is_stable():
    # Same ledger, same text: a no-op reconcile can compare without writing.
    assert _ledger.dumps(LEDGER) == _ledger.dumps(
        _ledger.loads(_ledger.dumps(LEDGER), configmap=WHERE)
    )


def _doc() -> dict[str, object]:
    return json.loads(_ledger.dumps(LEDGER))


@pytest.mark.parametrize(
    ('update', 'fragment'),
    [
        pytest.param({'format': 2}, 'field "format" is 2', id='format'),
        pytest.param({'epoch': -1}, 'field "epoch"', id='epoch-negative'),
        pytest.param({'epoch': '3'}, 'field "epoch"', id='epoch-string'),
        pytest.param({'epoch': True}, 'field "epoch"', id='epoch-bool'),
        pytest.param({'open': 'yes'}, 'field "open"', id='open'),
        pytest.param({'writer': None}, 'field "writer"', id='writer'),
        pytest.param({'legacy': 5}, 'field "legacy"', id='legacy'),
        pytest.param({'template': []}, 'field "template"', id='template'),
        pytest.param({'service': {'a': {'values': []}}}, "service['a'].values", id='empty'),
        pytest.param(
            {'service': {'a': {'values': [1]}}}, "service['a'].values holds 1", id='int-value'
        ),
        pytest.param(
            {'service': {'a': {'values': ['bad value']}}}, "service['a'].values", id='bad-value'
        ),
        pytest.param({'service': {'a': {'values': ['1'], 'foreign': 2}}}, 'foreign', id='fgn'),
        pytest.param(
            {'service': {'bad key': {'values': ['1']}}}, "service['bad key']", id='bad-key'
        ),
        pytest.param({'pods': {'app-1': {'labels': {}}}}, "pods['app-1'].uid", id='pod-uid'),
        pytest.param({'pods': {'app-1': 'x'}}, "pods['app-1']", id='pod-record'),
        pytest.param({'fence_pending': 1}, 'field "fence_pending"', id='fence-pending'),
        pytest.param({'app': 7}, 'field "app"', id='app'),
        pytest.param({'target': ['a']}, 'field "target"', id='target-list'),
        pytest.param({'target': {'a': 1}}, 'in "target" is not', id='target-int'),
        pytest.param({'target': {'a': 'b c'}}, 'in "target" is not', id='target-value'),
        pytest.param(
            {'target': {'app.kubernetes.io/name': 'x'}},
            'in "target" is not',
            id='target-reserved',
        ),
        pytest.param(
            {'template': {'app.kubernetes.io/name': {'values': ['app']}}},
            'reserved',
            id='reserved-key',
        ),
        pytest.param(
            {'service': {'kubernetes.io/x': {'values': ['1']}}}, 'reserved', id='reserved-prefix'
        ),
        pytest.param({'service': {'a\n': {'values': ['1']}}}, "service['a\\n']", id='key-nl'),
        pytest.param({'service': {'a': {'values': ['1\n']}}}, "holds '1\\n'", id='value-nl'),
        pytest.param({'template': [[['x']]]}, 'field "template"', id='nested-array'),
    ],
)
def test_corruption_names_the_field(update: dict[str, object], fragment: str):
    doc = _doc()
    doc.update(update)
    with pytest.raises(k8s_labels.LedgerCorruptError) as info:
        _ledger.loads(json.dumps(doc), configmap=WHERE)
    assert fragment in str(info.value)
    assert info.value.configmap == WHERE
    assert str(info.value).startswith(f'ConfigMap {WHERE} is corrupt: ')
    assert str(info.value).endswith('fix or delete it')


@pytest.mark.parametrize('text', ['', '{', 'null', '[]'])
def test_not_a_json_object(text: str):
    with pytest.raises(k8s_labels.LedgerCorruptError, match=WHERE):
        _ledger.loads(text, configmap=WHERE)


def test_legacy_labels():
    text = json.dumps({'istio.io/dataplane-mode': 'ambient'})
    assert _ledger.loads_legacy(text, configmap='m/cm') == {'istio.io/dataplane-mode': 'ambient'}


@pytest.mark.parametrize(
    ('text', 'fragment'),
    [
        (None, 'no data field "labels"'),
        ('{', 'not valid JSON'),
        ('[]', 'field "labels" must be a JSON object'),
        ('{"k": 1}', "label 'k'"),
        ('{"bad key": "v"}', "label 'bad key'"),
    ],
)
def test_corrupt_legacy(text: str | None, fragment: str):
    with pytest.raises(k8s_labels.LedgerCorruptError) as info:
        _ledger.loads_legacy(text, configmap='m/cm')
    assert fragment in str(info.value)
    assert 'ConfigMap m/cm is corrupt' in str(info.value)


def test_deep_nesting_is_refused_before_parsing():
    text = '{"format": 1, "template": ' + '[' * 100_000 + ']' * 100_000 + '}'
    with pytest.raises(k8s_labels.LedgerCorruptError, match='nested more than 32 levels'):
        _ledger.loads(text, configmap=WHERE)


def test_the_upstream_configmap_with_a_reserved_key_is_refused():
    with pytest.raises(k8s_labels.LedgerCorruptError, match=r'app\.kubernetes\.io/name'):
        _ledger.loads_legacy('{"app.kubernetes.io/name": "x"}', configmap=WHERE)
