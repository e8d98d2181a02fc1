"""Planning, pure: what each case writes, and crash safety over every kill point."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping

import pytest

from k8s_labels import _ledger, _plan

Entry = _ledger.Entry
KeyPlan = _plan.KeyPlan
ME = 'app/0'


def e(*values: str, foreign: str | None = None) -> Entry:
    return Entry(frozenset(values), foreign)


@pytest.mark.parametrize(
    ('entry', 'current', 'desired', 'expected'),
    [
        # Not desired, never ours: leave alone.
        pytest.param(None, 'x', None, KeyPlan(False, None, None, None), id='foreign-kept'),
        pytest.param(None, None, None, KeyPlan(False, None, None, None), id='absent'),
        # Add: record before writing.
        pytest.param(None, None, '1', KeyPlan(True, '1', e('1'), e('1')), id='add'),
        # Already right and not ours: nothing to record.
        pytest.param(None, '1', '1', KeyPlan(False, None, None, None), id='foreign-equal'),
        # Change: both values recorded until the batch closes.
        pytest.param(e('1'), '1', '2', KeyPlan(True, '2', e('1', '2'), e('2')), id='change'),
        # Take over: the foreign value is kept to give back.
        pytest.param(
            None, 'x', '1', KeyPlan(True, '1', e('1', foreign='x'), e('1', foreign='x')), id='take'
        ),
        pytest.param(
            e('1', foreign='x'),
            'y',
            '1',
            KeyPlan(True, '1', e('1', foreign='y'), e('1', foreign='y')),
            id='retake-after-foreign-change',
        ),
        # Ours and right: compact a leftover of a killed batch.
        pytest.param(e('1', '2'), '2', '2', KeyPlan(False, None, e('2'), e('2')), id='compact'),
        pytest.param(
            e('1', foreign='x'),
            'z',
            None,
            KeyPlan(False, None, None, None),
            id='release-after-foreign-change',
        ),
        # Release: delete, or give the foreign value back.
        pytest.param(e('1'), '1', None, KeyPlan(True, None, e('1'), None), id='release-delete'),
        pytest.param(
            e('1', foreign='x'),
            '1',
            None,
            KeyPlan(True, 'x', e('1', foreign='x'), None),
            id='release-restore',
        ),
        pytest.param(e('1'), None, None, KeyPlan(False, None, None, None), id='release-gone'),
        pytest.param(
            e('1', '2', foreign='x'),
            'x',
            None,
            KeyPlan(False, None, None, None),
            id='release-already-restored',
        ),
        # Someone else wrote the desired value over ours: theirs to get back on release.
        pytest.param(
            e('1', foreign='x'),
            '2',
            '2',
            KeyPlan(False, None, e('2', foreign='2'), e('2', foreign='2')),
            id='foreign-wrote-desired',
        ),
    ],
)
def test_plan_key(
    entry: Entry | None, current: str | None, desired: str | None, expected: KeyPlan
):
    assert _plan.plan_key(entry, current, desired) == expected


def obj(kind: _plan.Kind, name: str, labels: Mapping[str, str], uid: str = '') -> _plan.Observed:
    return _plan.Observed(kind, name, uid or f'uid-{name}', '1', dict(labels))


def objects(
    template: Mapping[str, str] | None = None,
    service: Mapping[str, str] | None = None,
    **pods: Mapping[str, str],
) -> list[_plan.Observed]:
    result = [
        obj(_plan.Kind.TEMPLATE, 'app', template or {}),
        obj(_plan.Kind.SERVICE, 'app', service or {}),
    ]
    result += [obj(_plan.Kind.POD, n.replace('_', '-'), labels) for n, labels in pods.items()]
    return result


def test_first_reconcile_records_before_writing_and_writes_template_last():
    plan = _plan.plan(None, {'a': '1'}, objects(app_0={}), writer=ME)
    assert plan.before is not None and plan.after is not None
    assert plan.before.open and not plan.after.open
    assert plan.before.template == {'a': e('1')} == plan.before.service
    assert plan.before.pods == {}  # the pod inherits the template's entries
    assert [p.target.kind for p in plan.patches] == [
        _plan.Kind.SERVICE,
        _plan.Kind.POD,
        _plan.Kind.TEMPLATE,
    ]
    assert all(p.labels == {'a': '1'} and not p.fence for p in plan.patches)
    assert plan.writes == 5


def test_first_reconcile_with_nothing_to_do_claims_the_ledger_once():
    plan = _plan.plan(None, {}, objects(app_0={}), writer=ME)
    assert (plan.before, plan.patches, plan.delete_legacy) == (None, (), None)
    assert plan.after == _ledger.Ledger(writer=ME, epoch=1)
    assert plan.writes == 1


def _settled(desired: Mapping[str, str], objs: list[_plan.Observed]) -> _ledger.Ledger:
    plan = _plan.plan(None, desired, objs, writer=ME)
    assert plan.after is not None
    return plan.after


def test_nothing_to_change_writes_nothing():
    ledger = _settled({'a': '1'}, objects(app_0={}))
    done = objects({'a': '1'}, {'a': '1'}, app_0={'a': '1'})
    assert _plan.plan(ledger, {'a': '1'}, done, writer=ME).writes == 0


def test_a_new_pod_inherits_the_template_entries_without_a_write():
    ledger = _settled({'a': '1'}, objects(app_0={}))
    done = objects({'a': '1'}, {'a': '1'}, app_0={'a': '1'}, app_1={'a': '1'})
    assert _plan.plan(ledger, {'a': '1'}, done, writer=ME).writes == 0


def test_a_new_writer_claims_with_one_write_when_no_batch_is_open():
    ledger = _settled({'a': '1'}, objects(app_0={}))
    done = objects({'a': '1'}, {'a': '1'}, app_0={'a': '1'})
    plan = _plan.plan(ledger, {'a': '1'}, done, writer='app/1')
    assert plan.patches == () and plan.before is None
    assert plan.after == dataclasses.replace(ledger, writer='app/1', epoch=2)


def test_a_new_writer_fences_every_object_when_a_batch_may_be_in_flight():
    ledger = dataclasses.replace(_settled({'a': '1'}, objects(app_0={})), open=True)
    done = objects({'a': '1'}, {'a': '1'}, app_0={'a': '1'})
    plan = _plan.plan(ledger, {'a': '1'}, done, writer='app/1')
    assert len(plan.patches) == 3
    assert all(p.fence and not p.labels for p in plan.patches)
    assert plan.before is not None and plan.before.epoch == 2 == plan.after.epoch  # type: ignore[union-attr]


def test_a_fencing_claim_keeps_the_previous_writers_values_until_every_object_is_fenced():
    # The previous writer's open batch was adding b=1 (not yet on any object); the new
    # writer's data drops it.
    objs = objects({'a': '1'}, {'a': '1'}, app_0={'a': '1'})
    ledger = _ledger.Ledger(
        writer='app/0',
        epoch=4,
        open=True,
        template={'a': e('1'), 'b': e('1')},
        service={'a': e('1'), 'b': e('1')},
    )
    plan = _plan.plan(ledger, {'a': '1'}, objs, writer='app/1')
    assert plan.before is not None and plan.after is not None
    # Until the fence is done, b=1 may still land: it stays the owner's.
    assert plan.before.template['b'] == e('1') == plan.before.service['b']
    assert plan.before.fence_pending and plan.before.epoch == 5
    assert all(p.fence for p in plan.patches) and len(plan.patches) == 3
    # Once every fence has landed, nothing of the old batch can: compact.
    assert 'b' not in plan.after.template and not plan.after.fence_pending


def test_an_unfinished_fence_is_finished_by_the_claimer_s_own_next_process():
    # The claimer (app/1) was killed after its claim: the ledger is its own, but the fence
    # it owed is still pending, and the previous writer's value is still listed.
    objs = objects({'a': '1'}, {'a': '1'}, app_0={'a': '1'})
    ledger = _ledger.Ledger(
        writer='app/1',
        epoch=5,
        open=True,
        fence_pending=True,
        template={'a': e('1'), 'b': e('1')},
        service={'a': e('1'), 'b': e('1')},
    )
    plan = _plan.plan(ledger, {'a': '1'}, objs, writer='app/1')
    assert plan.before is not None and plan.after is not None
    assert plan.before.epoch == 5  # no new claim: same unit
    assert plan.before.fence_pending and plan.before.template['b'] == e('1')
    assert [p.fence for p in plan.patches] == [True, True, True]
    assert not plan.after.fence_pending and 'b' not in plan.after.service


def test_without_a_pending_fence_a_restarted_writer_does_not_fence():
    objs = objects({'a': '1'}, {'a': '1'}, app_0={'a': '1'})
    ledger = _ledger.Ledger(writer=ME, epoch=5, open=True, template={'a': e('1', '2')})
    plan = _plan.plan(ledger, {'a': '1'}, objs, writer=ME)
    assert not any(p.fence for p in plan.patches)


def test_take_over_and_give_back():
    start = objects({'a': 'x'}, {}, app_0={'a': 'x'})
    taken = _settled({'a': '1'}, start)
    assert taken.template == {'a': e('1', foreign='x')}
    assert taken.service == {'a': e('1')}
    after = objects({'a': '1'}, {'a': '1'}, app_0={'a': '1'})
    release = _plan.plan(taken, {}, after, writer=ME)
    by_kind = {p.target.kind: dict(p.labels) for p in release.patches}
    assert by_kind == {
        _plan.Kind.TEMPLATE: {'a': 'x'},
        _plan.Kind.SERVICE: {'a': None},
        _plan.Kind.POD: {'a': 'x'},
    }
    assert release.after is not None and release.after.empty


def test_a_pod_with_its_own_foreign_value_gets_a_record():
    ledger = _settled({'a': '1'}, objects({}, {}, app_0={'a': 'mine'}, app_1={}))
    assert ledger.pods == {'app-0': _ledger.PodRecord('uid-app-0', {'a': e('1', foreign='mine')})}


def test_release_leaves_a_value_someone_else_changed():
    ledger = _settled({'a': '1'}, objects(app_0={}))
    changed = objects({'a': '1'}, {'a': 'theirs'}, app_0={'a': '1'})
    plan = _plan.plan(ledger, {}, changed, writer=ME)
    assert {p.target.kind for p in plan.patches} == {_plan.Kind.TEMPLATE, _plan.Kind.POD}
    assert plan.after is not None and plan.after.empty


def test_records_of_pods_gone_are_dropped_without_a_write_of_their_own():
    ledger = _settled({'a': '1'}, objects({}, {}, app_0={'a': 'mine'}))
    recreated = [
        *objects({'a': '1'}, {'a': '1'}),
        obj(_plan.Kind.POD, 'app-0', {'a': '1'}, uid='new'),
    ]
    assert _plan.plan(ledger, {'a': '1'}, recreated, writer=ME).writes == 0


def test_legacy_keys_are_adopted_where_the_value_is_still_there():
    legacy = ('juju-service-mesh-app-labels', {'a': '1', 'b': '2'})
    objs = objects({'a': '1', 'b': 'changed'}, {'a': '1', 'b': '2'}, app_0={'a': '1'})
    plan = _plan.plan(None, {}, objs, writer=ME, legacy=legacy)
    assert plan.delete_legacy == 'juju-service-mesh-app-labels'
    assert plan.before is not None and plan.before.legacy == plan.delete_legacy
    assert plan.before.template == {'a': e('1')}
    assert plan.before.service == {'a': e('1'), 'b': e('2')}
    removed = {(p.target.kind, k) for p in plan.patches for k, v in p.labels.items() if v is None}
    assert removed == {
        (_plan.Kind.TEMPLATE, 'a'),
        (_plan.Kind.SERVICE, 'a'),
        (_plan.Kind.SERVICE, 'b'),
        (_plan.Kind.POD, 'a'),
    }
    assert plan.after is not None and plan.after.legacy is None


# A pure model of the API: objects' labels and the last ledger written. A kill after any
# prefix of a plan's writes is followed by a fresh, complete reconcile (by any writer,
# with any desired labels); then every object must hold exactly its foreign labels
# overlaid with the desired ones.

FOREIGN = {'template': {'a': 'x'}, 'service': {}, 'app-0': {'b': 'y'}, 'app-1': {}}
DESIREDS: list[dict[str, str]] = [{}, {'a': '1'}, {'a': '2', 'b': '1'}, {'b': '1', 'c': '1'}]


@dataclasses.dataclass
class World:
    labels: dict[str, dict[str, str]]
    ledger: _ledger.Ledger | None = None

    def observed(self) -> list[_plan.Observed]:
        result = [
            obj(_plan.Kind.TEMPLATE, 'app', self.labels['template']),
            obj(_plan.Kind.SERVICE, 'app', self.labels['service']),
        ]
        return result + [obj(_plan.Kind.POD, n, self.labels[n]) for n in ('app-0', 'app-1')]

    def run(self, desired: Mapping[str, str], writer: str, kill_after: int | None = None) -> int:
        """Plan and carry out; stop after ``kill_after`` writes. Returns the writes made."""
        plan = _plan.plan(self.ledger, desired, self.observed(), writer=writer)
        steps: list[object] = []
        if plan.before is not None:
            steps.append(plan.before)
        steps += plan.patches
        if plan.after is not None:
            steps.append(plan.after)
        for done, step in enumerate(steps):
            if kill_after is not None and done == kill_after:
                return done
            if isinstance(step, _ledger.Ledger):
                self.ledger = step
            else:
                assert isinstance(step, _plan.Patch)
                name = 'template' if step.target.kind is _plan.Kind.TEMPLATE else step.target.name
                name = 'service' if step.target.kind is _plan.Kind.SERVICE else name
                for key, value in step.labels.items():
                    if value is None:
                        self.labels[name].pop(key, None)
                    else:
                        self.labels[name][key] = value
        return len(steps)


def _expected(desired: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {name: {**labels, **desired} for name, labels in FOREIGN.items()}


@pytest.mark.parametrize('first', range(len(DESIREDS)))
def test_kill_at_every_point_then_any_reconcile_converges(first: int):
    cases = 0
    for second, last, fresh_writer in itertools.product(
        range(len(DESIREDS)), range(len(DESIREDS)), (False, True)
    ):
        probe = World({k: dict(v) for k, v in FOREIGN.items()})
        probe.run(DESIREDS[first], ME)
        total = World({k: dict(v) for k, v in probe.labels.items()}, probe.ledger).run(
            DESIREDS[second], ME
        )
        for kill_after in range(total + 1):
            world = World({k: dict(v) for k, v in probe.labels.items()}, probe.ledger)
            world.run(DESIREDS[second], ME, kill_after=kill_after)
            writer = 'app/1' if fresh_writer else ME
            world.run(DESIREDS[last], writer)
            assert world.labels == _expected(DESIREDS[last]), (second, kill_after, last)
            # And it stays put: a second reconcile changes nothing.
            assert world.run(DESIREDS[last], writer) == 0
            cases += 1
    assert cases > 100
