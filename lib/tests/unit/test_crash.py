"""Kills between every two API calls of every reconcile kind, then recovery on another unit.

For each kind of reconcile (add, change, remove, take over, release, relation-broken) the
leader's hook is killed before and after each of its API requests (applied or not). Then
another unit becomes leader with fresh local state and reconciles with the data as it is
then: the new data (the change completes) or the old (it is undone). At quiescence R1-R4
must hold, the ledger must be exact, and a further reconcile must write nothing.

The same matrix, run with a LabelManager that writes its ledger after the objects, fails:
the check catches the bug class it exists for.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Mapping

import ops
import pytest
from k8s_labels_testenv import Env, Kill, Killed, iter_kills, relation, state

import k8s_labels
from k8s_labels import _plan


@dataclasses.dataclass(frozen=True)
class Case:
    """A reconcile kind: labels applied first, then the change whose hook is killed.

    Attributes:
        name: the kind.
        start: labels applied before the killed hook.
        target: labels the killed hook applies; None: the relation is removed.
        foreign: labels others set before anything (template, service).
    """

    name: str
    start: Mapping[str, str]
    target: Mapping[str, str] | None
    foreign: Mapping[str, Mapping[str, str]] = dataclasses.field(
        default_factory=dict[str, Mapping[str, str]]
    )

    @property
    def managed(self) -> set[str]:
        return set(self.start) | set(self.target or {})


THEIRS = {'template': {'a.io/x': 'theirs'}, 'service': {'a.io/x': 'svc'}}
CASES = [
    Case('add', {}, {'a.io/x': '1', 'b.io/y': '1'}),
    Case('change', {'a.io/x': '1'}, {'a.io/x': '2'}),
    Case('remove', {'a.io/x': '1', 'b.io/y': '1'}, {'a.io/x': '1'}),
    Case('takeover', {}, {'a.io/x': '1'}, THEIRS),
    Case('release', {'a.io/x': '1'}, {}, THEIRS),
    Case('relation-broken', {'a.io/x': '1'}, None),
]


def _env(case: Case) -> Env:
    """A fresh application with the case's foreign labels and its start labels applied."""
    key = case.name
    if key not in _STARTS:
        env = Env(
            template_labels=case.foreign.get('template'),
            service_labels=case.foreign.get('service'),
        )
        if case.start:
            ctx = env.context(0)
            rel = relation(case.start)
            ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))
            env.settle()
        _STARTS[key] = env
    return _STARTS[key].clone()


_STARTS: dict[str, Env] = {}


def _killed_hook(
    env: Env, case: Case, manager_class: type[k8s_labels.LabelManager], kill: Kill | None
) -> None:
    """Unit 0, the leader, runs the hook for the case's change; ``kill`` armed."""
    env.kill = kill
    ctx = env.context(0, manager_class=manager_class)
    if case.target is None:
        rel = relation(case.start)
        ctx.run(ctx.on.relation_broken(rel), state(rel))
    else:
        rel = relation(case.target)
        ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))


def _requests(case: Case, manager_class: type[k8s_labels.LabelManager]) -> int:
    env = _env(case)
    _killed_hook(env, case, manager_class, None)
    return len(env.api.log.entries(env.caller))


def _recover(env: Env, case: Case, *, undo: bool) -> Mapping[str, str]:
    """Unit 1 becomes leader, fresh local state, with the data as it is now."""
    final = case.start if undo else case.target
    ctx = env.context(1)
    rel = relation(final) if final is not None else None
    ctx.run(ctx.on.leader_elected(), state(rel))
    return final or {}


def run_matrix(
    case: Case, manager_class: type[k8s_labels.LabelManager], *, first_only: bool = False
) -> list[str]:
    """Every kill point x (complete, undo) x (rollout finished before recovery, or not).

    Returns the failures, one line each (empty: all held); with ``first_only``, stops at
    the first.
    """
    failures: list[str] = []
    total = _requests(case, manager_class)
    assert total >= 6, total  # 4 reads, then the writes
    for kill in iter_kills(total):
        killed = _env(case)
        with pytest.raises(Killed):
            _killed_hook(killed, case, manager_class, kill)
        for undo, rolled in itertools.product((False, True), (False, True)):
            env = killed.clone()
            if rolled and not env.settle():
                continue  # no rollout started: the same case as rolled=False
            final = _recover(env, case, undo=undo)
            where = f'{case.name}: kill {"after" if kill.after else "before"} request '
            where += f'{kill.at}, {"undo" if undo else "complete"}, rolled={rolled}'
            try:
                env.check(final, managed=case.managed, foreign=case.foreign)
                # Settled: another reconcile (any unit, fresh) writes nothing.
                writes = len(env.writes())
                env.manager(1).reconcile(final)
                assert len(env.writes()) == writes, 'a settled reconcile wrote'
                # And every key can still be given back: nothing hides as foreign.
                env.manager(1).reconcile({})
                env.check({}, managed=case.managed, foreign=case.foreign)
            except AssertionError as e:
                failures.append(f'{where}: {str(e).splitlines()[0]}')
                if first_only:
                    return failures
    return failures


@pytest.mark.parametrize('case', CASES, ids=[c.name for c in CASES])
def test_kill_between_any_two_calls_then_another_unit_completes_or_undoes(case: Case):
    assert run_matrix(case, k8s_labels.LabelManager) == []


class LedgerAfterObjects(k8s_labels.LabelManager):
    """Broken on purpose: writes the objects first and records them afterwards."""

    def _execute(self, plan: _plan.Plan, snapshot: object) -> None:
        assert plan.after is not None
        for patch in plan.patches:
            self._patch(patch, plan.after.epoch)
        self._write_ledger(plan.after, snapshot.ledger_rv, snapshot.owner_uid)  # type: ignore[attr-defined]


WRITE_AHEAD_CASES = [c for c in CASES if c.name in ('add', 'change', 'takeover')]


@pytest.mark.parametrize('case', WRITE_AHEAD_CASES, ids=[c.name for c in WRITE_AHEAD_CASES])
def test_the_kill_matrix_catches_a_ledger_written_after_the_objects(case: Case):
    # Killed between an object write and the ledger write, the variant leaves a value no
    # record names: the new leader cannot remove it, or takes it for someone else's.
    failures = run_matrix(case, LedgerAfterObjects, first_only=True)
    assert failures, 'the variant passed the crash matrix'


# Data the library must refuse (a reserved key): the new leader is Blocked and applies none
# of it.
REFUSED = {'labels': json.dumps({'app.kubernetes.io/name': 'x'}), 'mesh_type': '"istio"'}


def _labels_now(env: Env) -> list[dict[str, str]]:
    return [env.template(), env.service(), *env.pods().values()]


def run_refused_matrix(case: Case, manager_class: type[k8s_labels.LabelManager]) -> list[str]:
    """Every kill point of the case's hook, then a new leader whose data must be refused.

    No object may keep a mix of the old labels and the new: the batch the killed leader
    began is finished (all target) or, if none of its object writes landed, may equally
    not have begun (all start). Returns the failures, one line each.
    """
    failures: list[str] = []
    assert case.target is not None
    for kill in iter_kills(_requests(case, manager_class)):
        env = _env(case)
        start = _labels_now(env)
        with pytest.raises(Killed):
            _killed_hook(env, case, manager_class, kill)
        landed = _labels_now(env) != start
        ctx = env.context(1, manager_class=manager_class)
        out = ctx.run(ctx.on.leader_elected(), state(relation(raw=REFUSED)))
        where = f'{case.name}: kill {"after" if kill.after else "before"} request {kill.at}'
        try:
            assert isinstance(out.unit_status, ops.BlockedStatus), out.unit_status
            try:
                env.check(case.target, managed=case.managed, foreign=case.foreign)
            except AssertionError:
                if landed:
                    raise
                env.check(case.start, managed=case.managed, foreign=case.foreign)
        except AssertionError as e:
            failures.append(f'{where}: {str(e).splitlines()[0]}')
    return failures


REFUSED_CASES = [c for c in CASES if c.target is not None]


@pytest.mark.parametrize('case', REFUSED_CASES, ids=[c.name for c in REFUSED_CASES])
def test_kill_mid_batch_then_refused_data_leaves_no_object_with_a_mix(case: Case):
    assert run_refused_matrix(case, k8s_labels.LabelManager) == []


class LeavesOpenBatches(k8s_labels.LabelManager):
    """Broken on purpose: refused data leaves a batch cut short as it is."""

    def finish_open_batch(self) -> k8s_labels.ReconcileResult:
        return k8s_labels.ReconcileResult(k8s_labels.Outcome.UNCHANGED, 1)


def test_the_refused_matrix_catches_a_library_that_leaves_open_batches():
    assert run_refused_matrix(CASES[1], LeavesOpenBatches), 'the variant passed'
