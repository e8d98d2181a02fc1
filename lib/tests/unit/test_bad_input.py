"""Bad input a real cluster or provider can send: a clear status, nothing changed.

Each case runs the consumer in an ops.testing charm against the fake API: relation data,
a corrupted or foreign ledger, and every kind of API answer. It must end Blocked with a
message under 1 KiB naming the fault (or fail the hook with ``TransientError``, which Juju
retries), with no object changed, and recover once the input is fixed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import ops
import pytest
from k8s_labels_testenv import APP, LEDGER, NS, Env, relation, state
from ops import testing

import k8s_labels
from k8s_labels import _ledger

AMBIENT = {'istio.io/dataplane-mode': 'ambient'}


def run_changed(env: Env, rel: testing.Relation) -> testing.State:
    ctx = env.context()
    return ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))


def assert_blocked(out: testing.State, *fragments: str) -> str:
    status = out.unit_status
    assert isinstance(status, ops.BlockedStatus), status
    assert len(status.message.encode()) < 1024, len(status.message.encode())
    for fragment in fragments:
        assert fragment in status.message, (fragment, status.message[:300])
    return status.message


@pytest.fixture
def applied(env: Env) -> Env:
    """The app with AMBIENT applied and the rollout done: what a bad input must not change."""
    out = run_changed(env, relation(AMBIENT))
    assert out.unit_status == ops.ActiveStatus()
    env.settle()
    return env


# -- relation data ------------------------------------------------------------------------

DEEP = 5_000
BAD_RELATION_DATA = [
    # Python's ``$`` matches before a final newline; the API server answers 422.
    pytest.param({'labels': '{"a.io/x": "v\\n"}'}, ["'a.io/x'", 'value'], id='value-newline'),
    pytest.param({'labels': '{"x\\n": "v"}'}, ["'x\\n'", 'invalid name'], id='key-newline'),
    pytest.param({'labels': '{"a.io\\n/x": "v"}'}, ['invalid prefix'], id='prefix-newline'),
    # json.loads recurses per level: these raised RecursionError out of the hook.
    pytest.param(
        {'labels': '[' * 100_000 + ']' * 100_000},
        ['field "labels" is nested more than'],
        id='labels-100000-arrays',
    ),
    pytest.param(
        {'labels': '{"a.io/x": ' + '[' * DEEP + ']' * DEEP + '}'},
        ['field "labels" is nested more than'],
        id='value-5000-deep',
    ),
    pytest.param(
        {'labels': '{}', 'mesh_type': '{"a":' * DEEP + '1' + '}' * DEEP},
        ['field "mesh_type" is nested more than'],
        id='mesh-type-5000-deep',
    ),
    # A whole megabyte key in a status: status-set fails with "Argument list too long".
    pytest.param(
        {'labels': json.dumps({'k' * 1_000_000: 'v'})}, ["'kkkk", 'cut'], id='megabyte-key'
    ),
    pytest.param(
        {'labels': json.dumps({'a.io/x': 'v' * 1_000_000})},
        ["'a.io/x'", 'cut'],
        id='megabyte-value',
    ),
    pytest.param({'labels': '9' * 5_000}, ['field "labels" is not valid JSON'], id='long-int'),
]


@pytest.mark.parametrize(('databag', 'fragments'), BAD_RELATION_DATA)
def test_bad_relation_data_blocks_and_changes_nothing(
    applied: Env, databag: dict[str, str], fragments: list[str]
):
    env = applied
    objects = env.objects()
    out = run_changed(env, relation(raw=databag))
    assert_blocked(out, 'service-mesh relation data: ', *fragments)
    assert env.objects() == objects
    fixed = relation({'a.io/x': '1'})
    assert run_changed(env, fixed).unit_status == ops.ActiveStatus()
    env.check({'a.io/x': '1'}, managed={'a.io/x', *AMBIENT})


def test_a_label_set_whose_ledger_a_configmap_cannot_hold_is_refused_before_any_write(
    applied: Env,
):
    env = applied
    # Valid labels one by one; 20,000 of them need a ledger of several MiB.
    labels = {f'example.com/key-{n:05}': f'value-{n}' for n in range(20_000)}
    objects = env.objects()
    writes = len(env.writes())
    out = run_changed(env, relation(labels))
    message = assert_blocked(out, 'service-mesh relation data: ', '20000 labels', '1048576')
    assert 'fewer' in message
    assert len(env.writes()) == writes  # reads only
    assert env.objects() == objects


def test_a_label_set_just_under_the_limit_is_applied(applied: Env):
    # The refusal is about size, not the number of labels: 2,000 fit.
    env = applied
    labels = {f'example.com/key-{n:05}': f'value-{n}' for n in range(2_000)}
    assert run_changed(env, relation(labels)).unit_status == ops.ActiveStatus()
    ledger = env.api.get('ConfigMap', NS, LEDGER)
    assert ledger is not None
    assert len(ledger['data']['ledger.json']) <= _ledger.MAX_BYTES
    env.check(labels, managed={*labels, *AMBIENT})


# -- corrupted and foreign ledgers --------------------------------------------------------


def edit_ledger(env: Env, edit: Any) -> None:
    """Change the ledger ConfigMap as someone with kubectl might: ``edit(cm, doc)``."""
    cm = env.api.get('ConfigMap', NS, LEDGER)
    assert cm is not None
    doc = json.loads(cm['data']['ledger.json'])
    text = edit(cm, doc)
    cm['data']['ledger.json'] = text if isinstance(text, str) else json.dumps(doc)
    env.api.put_object(cm)


def _reserved_on(where: str) -> Any:
    def edit(_: dict[str, Any], doc: dict[str, Any]) -> None:
        doc[where]['app.kubernetes.io/name'] = {'values': [APP], 'foreign': None}

    return edit


def _set(path: list[str], value: object) -> Any:
    def edit(_: dict[str, Any], doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _deep(_: dict[str, Any], doc: dict[str, Any]) -> str:
    return '{"format": 1, "template": ' + '[' * 100_000 + ']' * 100_000 + '}'


def _owned_by_another_app(cm: dict[str, Any], doc: dict[str, Any]) -> None:
    cm['metadata']['ownerReferences'][0].update(name='other', uid='uid-of-other')
    doc['app'] = 'other'


def _other_app_no_owner(cm: dict[str, Any], doc: dict[str, Any]) -> None:
    del cm['metadata']['ownerReferences']
    doc['app'] = 'other'


def _other_uid(cm: dict[str, Any], _: dict[str, Any]) -> None:
    # Same name, another StatefulSet (another model, or one deleted and recreated).
    cm['metadata']['ownerReferences'][0]['uid'] = 'uid-of-another-statefulset'


def _anonymous(cm: dict[str, Any], doc: dict[str, Any]) -> None:
    del cm['metadata']['ownerReferences']
    del doc['app']


CORRUPT_LEDGERS = [
    pytest.param(_reserved_on('template'), ["template['app.kubernetes.io/name']"], id='tpl'),
    pytest.param(_reserved_on('service'), ["service['app.kubernetes.io/name']", 'reserved']),
    pytest.param(
        _set(['template', 'istio.io/dataplane-mode', 'values'], ['ambient\n']),
        ["'ambient\\n'"],
        id='value-newline',
    ),
    pytest.param(
        _set(['service', 'a.io/x\n'], {'values': ['1'], 'foreign': None}),
        ["'a.io/x\\n'"],
        id='key-newline',
    ),
    pytest.param(_deep, ['nested more than'], id='deep'),
    pytest.param(_set(['epoch'], 'e' * 1_000_000), ['field "epoch"', 'cut'], id='long-field'),
    pytest.param(_owned_by_another_app, ["StatefulSet 'other'"], id='other-app'),
    pytest.param(_other_app_no_owner, ["records application 'other'"], id='other-app-record'),
    pytest.param(_other_uid, ["StatefulSet 'app'", 'uid-of-another'], id='other-uid'),
    pytest.param(_anonymous, ['names neither'], id='no-owner'),
    # The library deletes the ConfigMap "legacy" names: only ever the upstream one.
    pytest.param(_set(['legacy'], 'kube-root-ca.crt'), ['"legacy"'], id='legacy-other'),
]


@pytest.mark.parametrize(('edit', 'fragments'), CORRUPT_LEDGERS)
def test_a_corrupt_or_foreign_ledger_blocks_and_changes_nothing(
    applied: Env, edit: Any, fragments: list[str]
):
    env = applied
    edit_ledger(env, edit)
    objects = env.objects()
    # Release everything: the case in which a bad entry would delete a label.
    out = run_changed(env, relation({}))
    assert_blocked(out, f'ConfigMap {NS}/{LEDGER} is corrupt', 'fix or delete it', *fragments)
    assert env.objects() == objects
    assert env.template()['app.kubernetes.io/name'] == APP
    assert env.service()['app.kubernetes.io/name'] == APP


def test_a_ledger_copied_from_another_application_leaves_its_labels_alone():
    # Our Service carries someone else's team=blue; the other app's ledger says the key
    # is the owner's, so acting on it would delete team=blue here.
    env = Env(service_labels={'team': 'blue'})
    assert run_changed(env, relation(AMBIENT)).unit_status == ops.ActiveStatus()
    env.settle()

    def copied(cm: dict[str, Any], doc: dict[str, Any]) -> None:
        doc['service']['team'] = {'values': ['blue'], 'foreign': None}
        _owned_by_another_app(cm, doc)

    edit_ledger(env, copied)
    out = run_changed(env, relation({}))
    assert_blocked(out, "StatefulSet 'other'")
    assert env.service()['team'] == 'blue'


def test_a_ledger_written_before_app_and_fence_pending_were_recorded_is_read():
    env = Env()
    assert run_changed(env, relation(AMBIENT)).unit_status == ops.ActiveStatus()

    def older(_: dict[str, Any], doc: dict[str, Any]) -> None:
        del doc['app'], doc['fence_pending']

    edit_ledger(env, older)
    assert run_changed(env, relation({})).unit_status == ops.ActiveStatus()
    env.check({}, managed=set(AMBIENT))


# -- API answers --------------------------------------------------------------------------

REFUSED = [
    # (status, verb, kind): an answer retrying will not change.
    (400, 'patch', 'Service'),
    (422, 'patch', 'StatefulSet'),
    (422, 'patch', 'ConfigMap'),
    (404, 'list', 'Pod'),
    (401, 'get', 'ConfigMap'),
    (405, 'patch', 'Pod'),
    (413, 'patch', 'ConfigMap'),
    (415, 'get', 'StatefulSet'),
    (418, 'get', 'Service'),
]


@pytest.mark.parametrize(('status', 'verb', 'kind'), REFUSED)
def test_an_api_refusal_blocks_naming_the_request_and_the_next_reconcile_finishes(
    applied: Env, status: int, verb: str, kind: str
):
    env = applied
    # The Status message, where the fake honours one, is long: the status must not be.
    env.api.faults.fail(status, caller=env.caller, verb=verb, kind=kind, message='x' * 100_000)
    out = run_changed(env, relation({'a.io/x': '1'}))
    assert_blocked(out, 'Kubernetes API refused to ', f'{verb} {kind}', f'{status} ')
    ctx = env.context()
    rel = relation({'a.io/x': '1'})
    out = ctx.run(ctx.on.update_status(), dataclasses.replace(out, relations=[rel]))
    assert out.unit_status == ops.ActiveStatus()
    env.check({'a.io/x': '1'}, managed={'a.io/x', *AMBIENT})


def test_a_long_api_message_is_cut(applied: Env):
    env = applied
    env.api.faults.fail(422, caller=env.caller, verb='patch', kind='Pod', message='x' * 100_000)
    assert_blocked(run_changed(env, relation({'a.io/x': '1'})), '422 xxxx', 'cut')


@pytest.mark.parametrize(('status', 'verb', 'kind'), [(400, 'get', 'ConfigMap')])
def test_a_refused_read_changes_nothing(applied: Env, status: int, verb: str, kind: str):
    env = applied
    objects = env.objects()
    env.api.faults.fail(status, caller=env.caller, verb=verb, kind=kind)
    assert_blocked(run_changed(env, relation({'a.io/x': '1'})), f'{status} ')
    assert env.objects() == objects


@pytest.mark.parametrize(
    ('status', 'verb', 'kind'),
    [(410, 'list', 'Pod'), (408, 'patch', 'Service'), (429, 'get', 'StatefulSet')],
)
def test_answers_a_later_attempt_may_not_get_are_retried(
    applied: Env, status: int, verb: str, kind: str
):
    env = applied
    env.api.faults.fail(status, caller=env.caller, verb=verb, kind=kind, count=2)
    assert run_changed(env, relation({'a.io/x': '1'})).unit_status == ops.ActiveStatus()
    env.check({'a.io/x': '1'}, managed={'a.io/x', *AMBIENT})


@pytest.mark.parametrize('status', [500, 503, 429, 410])
def test_retried_answers_that_persist_fail_the_hook_with_transient_error(
    applied: Env, status: int
):
    env = applied
    env.api.faults.fail(status, caller=env.caller, verb='get', kind='ConfigMap', count=3)
    objects = env.objects()
    with pytest.raises(testing.errors.UncaughtCharmError) as info:
        run_changed(env, relation({'a.io/x': '1'}))
    assert isinstance(info.value.__cause__, k8s_labels.TransientError)
    assert env.objects() == objects
