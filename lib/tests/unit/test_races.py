"""Two writers at once: the 409 race between two leaders, and a stale leader resuming.

ops.testing cannot run two hooks at once in one process (docs/design-notes.md, "ops and
ops.testing"), so these drive ``LabelManager`` directly, as the consumer builds it, each
unit with its own lightkube client. One unit is paused just before its Nth request while
the other runs a whole reconcile; then the first carries on. Every N is tried.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from k8s_labels_testenv import NS, Env, Kill, Killed

import k8s_labels
from k8s_labels import _ledger, _plan


def _base(start: Mapping[str, str]) -> Env:
    env = Env()
    env.manager(0).reconcile(start)
    env.settle()
    return env


def _requests(env: Env, desired: Mapping[str, str]) -> int:
    probe = env.clone()
    probe.manager(0).reconcile(desired)
    return len(probe.api.log.entries(probe.caller))


# -- two leaders (both believe it: a test of the ledger's 409 handling) -------------------


@pytest.mark.parametrize(
    ('first', 'second'),
    [
        pytest.param({'a.io/x': '2', 'b.io/y': '1'}, {'a.io/x': '2', 'b.io/y': '1'}, id='same'),
        pytest.param({'a.io/x': '2'}, {'b.io/y': '1'}, id='different'),
    ],
)
def test_409_race_between_two_leaders(first: dict[str, str], second: dict[str, str]):
    base = _base({'a.io/x': '1'})
    total = _requests(base, first)
    retried = 0
    for k in range(total):
        env = base.clone()

        def other(n: int, k: int = k, env: Env = env) -> None:
            if n == k:
                assert env.manager(1).reconcile(second).outcome is k8s_labels.Outcome.APPLIED

        result = env.manager(0, client=env.client(before=other)).reconcile(first)
        retried += result.attempts > 1
        # Unit 0 finished last: its data is on every object, nothing half-applied.
        env.check(first, managed={'a.io/x', 'b.io/y'})
        # The leader that stays (unit 1) then reconciles its data: it wins everywhere.
        env.manager(1).reconcile(second)
        env.check(second, managed={'a.io/x', 'b.io/y'})
    assert retried, 'no interleaving produced a 409'


# -- a stale leader resuming after a new leader finished ----------------------------------

START = {'a.io/x': '1'}
STALE_CASES = [
    # The new leader changes every object.
    pytest.param({'a.io/x': '2', 'b.io/y': '1'}, {'a.io/x': '3', 'c.io/z': '1'}, id='changes'),
    # The new leader has nothing to write on the objects: only the fence stops the stale one.
    pytest.param({'a.io/x': '1', 'b.io/y': '1'}, START, id='nothing-to-write'),
    pytest.param({'a.io/x': '1', 'b.io/y': '1'}, {}, id='release'),
]


def stale_leader(
    k: int,
    old: Mapping[str, str],
    new: Mapping[str, str],
    manager_class: type[k8s_labels.LabelManager] = k8s_labels.LabelManager,
) -> tuple[Env, k8s_labels.ReconcileResult]:
    """Unit 0 (old data) stalls before its request ``k``, past its lease.

    Meanwhile unit 1 is elected and reconciles the new data to the end. Unit 0 then
    resumes: its cached leadership has expired, so ops asks Juju again and hears False
    (ops/model.py, ``_ModelBackend.is_leader``).
    """
    env = _base(START)
    leader = [True]

    def stall(n: int) -> None:
        if n == k:
            env.manager(1, manager_class=manager_class).reconcile(new)
            leader[0] = False

    result = env.manager(
        0, client=env.client(before=stall), is_leader=lambda: leader[0]
    ).reconcile(old)
    return env, result


@pytest.mark.parametrize(('old', 'new'), STALE_CASES)
def test_a_stale_leader_resuming_after_a_new_leader_finished_leaves_nothing(
    old: dict[str, str], new: dict[str, str]
):
    total = _requests(_base(START), old)
    for k in range(total):
        env, result = stale_leader(k, old, new)
        env.check(new, managed=set(old) | set(new) | set(START))
        # It stopped on noticing, at its next batch or conflict; it never finished its plan.
        assert result.outcome is k8s_labels.Outcome.NOT_LEADER, (k, result)


class NoFence(k8s_labels.LabelManager):
    """Broken on purpose: a new writer claims the ledger but does not fence the objects."""

    def _plan(self, snapshot: object, desired: Mapping[str, str]) -> _plan.Plan:
        plan = super()._plan(snapshot, desired)  # type: ignore[arg-type]
        patches = tuple(dataclasses.replace(p, fence=False) for p in plan.patches if p.labels)
        return dataclasses.replace(plan, patches=patches)


def test_the_stale_leader_check_catches_a_writer_that_does_not_fence():
    old, new = {'a.io/x': '1', 'b.io/y': '1'}, START
    total = _requests(_base(START), old)
    caught: list[int] = []
    for k in range(total):
        env, _ = stale_leader(k, old, new, manager_class=NoFence)
        try:
            env.check(new, managed={'a.io/x', 'b.io/y'})
        except AssertionError:
            caught.append(k)
    # Stalled after recording its batch and before its object writes, the stale leader's
    # writes land on objects nobody fenced: b.io/y is left behind.
    assert caught, 'the unfenced variant passed'


# -- other writers between a read and a write ---------------------------------------------


def _index_of(env: Env, desired: Mapping[str, str], kind: str, name: str) -> int:
    probe = env.clone()
    probe.manager(0).reconcile(desired)
    entries = probe.api.log.entries(probe.caller)
    return next(
        i for i, e in enumerate(entries) if (e.verb, e.kind, e.name) == ('patch', kind, name)
    )


@pytest.mark.parametrize(
    ('kind', 'name'), [('Pod', 'app-0'), ('Service', 'app'), ('StatefulSet', 'app')]
)
def test_a_write_that_leaves_the_labels_alone_costs_one_retry_of_that_write(kind: str, name: str):
    # A kubelet or controller status write bumps resourceVersion without touching labels.
    env = Env()
    desired = {'a.io/x': '1'}
    at = _index_of(env, desired, kind, name)

    def status_write(n: int) -> None:
        if n == at:
            body = {'metadata': {'annotations': {'touched': 'yes'}}}
            merge = 'application/merge-patch+json'
            env.api.patch(kind, NS, name, body, patch_type=merge, caller='kubelet')

    result = env.manager(0, client=env.client(before=status_write)).reconcile(desired)
    assert result.attempts == 1
    answers = [
        e.status
        for e in env.api.log.entries(env.caller)
        if (e.verb, e.kind, e.name) == ('patch', kind, name)
    ]
    assert answers == [409, 200]
    env.check(desired, managed=set(desired))


def test_conflicts_past_the_last_attempt_fail_the_hook_unless_leadership_is_gone():
    # Every request meets a newer Service (a status write before each): every attempt
    # conflicts. A leader still leading fails its hook for Juju to retry; one deposed
    # during its last attempt stops, as after any other conflict (chaos seed 2026, 549).
    desired = {'a.io/x': '1'}

    def run(env: Env, is_leader: Callable[[], bool]) -> k8s_labels.ReconcileResult:
        def status_write(_: int) -> None:
            body = {'metadata': {'annotations': {'touched': str(len(env.api.log.entries()))}}}
            merge = 'application/merge-patch+json'
            env.api.patch('Service', NS, 'app', body, patch_type=merge, caller='kubelet')

        return env.manager(
            0, client=env.client(before=status_write), is_leader=is_leader
        ).reconcile(desired)

    def conflicts(env: Env) -> int:
        return sum(e.status == 409 for e in env.api.log.entries(env.caller))

    leading = Env()
    with pytest.raises(k8s_labels.TransientError, match='gave up after 5 attempts'):
        run(leading, lambda: True)
    deposed = Env()
    result = run(deposed, lambda: conflicts(deposed) < conflicts(leading))
    assert result == k8s_labels.ReconcileResult(k8s_labels.Outcome.NOT_LEADER, 5)


def test_a_label_written_between_read_and_write_starts_the_reconcile_over():
    env = Env()
    desired = {'a.io/x': '1'}
    at = _index_of(env, desired, 'Pod', 'app-0')

    def kubectl(n: int) -> None:
        if n == at:
            env.label('app-0', 'a.io/x', 'theirs')

    result = env.manager(0, client=env.client(before=kubectl)).reconcile(desired)
    assert result.attempts == 2
    ledger = env.ledger()
    assert ledger is not None
    # Re-read, the value is someone else's: taken over, recorded to give back.
    assert ledger['pods']['app-0']['labels']['a.io/x'] == {'values': ['1'], 'foreign': 'theirs'}


# -- a stale leader, and a new leader killed before it fenced -----------------------------


def stale_leader_and_killed_new_leader(
    k: int,
    kill: Kill,
    old: Mapping[str, str],
    new: Mapping[str, str],
    manager_class: type[k8s_labels.LabelManager] = k8s_labels.LabelManager,
) -> tuple[Env, k8s_labels.ReconcileResult]:
    """Unit 0 (old data) stalls before its request ``k``, past its lease.

    Unit 1 is elected and killed at ``kill``; its pod restarts (a fresh process, the same
    unit) and reconciles the new data to the end. Then unit 0 resumes and hears it is no
    longer leader at its next check.
    """
    env = _base(START)
    leader = [True]

    def stall(n: int) -> None:
        if n != k:
            return
        with contextlib.suppress(Killed):
            first = env.manager(1, client=env.client(kill=kill), manager_class=manager_class)
            first.reconcile(new)
        env.manager(1, manager_class=manager_class).reconcile(new)
        leader[0] = False

    result = env.manager(
        0, client=env.client(before=stall), is_leader=lambda: leader[0]
    ).reconcile(old)
    return env, result


def _kill_points() -> Iterator[Kill]:
    """Every kill of unit 1's first reconcile: before each request, and after each.

    The caller uses each kill before asking for the next; a kill that did not fire means
    the reconcile made fewer requests, and the points end.
    """
    at = 0
    while True:
        for after in (False, True):
            kill = Kill(at, after=after)
            yield kill
            if not kill.fired:
                return
        at += 1


@pytest.mark.parametrize(('old', 'new'), STALE_CASES)
def test_a_stale_leader_and_a_new_leader_killed_at_any_call_leave_nothing(
    old: dict[str, str], new: dict[str, str]
):
    """Every call the stale leader may stall before, times every kill of the new one."""
    total = _requests(_base(START), old)
    runs = 0
    for k in range(total):
        for kill in _kill_points():
            env, _ = stale_leader_and_killed_new_leader(k, kill, old, new)
            env.check(new, managed=set(old) | set(new) | set(START))
            runs += 1
    assert runs > total * 10


class ForgetsTheFence(k8s_labels.LabelManager):
    """Broken on purpose: the claimer's own next process does not finish its fence."""

    def _plan(self, snapshot: Any, desired: Mapping[str, str]) -> _plan.Plan:
        ledger: _ledger.Ledger | None = snapshot.ledger
        if ledger is not None and ledger.writer == self.writer:
            ledger = dataclasses.replace(ledger, fence_pending=False)
            snapshot = dataclasses.replace(snapshot, ledger=ledger)
        return super()._plan(snapshot, desired)


class DropsInFlightValues(k8s_labels.LabelManager):
    """Broken on purpose: a fencing claim keeps only its own plan's entries."""

    def _plan(self, snapshot: object, desired: Mapping[str, str]) -> _plan.Plan:
        plan = super()._plan(snapshot, desired)  # type: ignore[arg-type]
        if plan.before is None or not plan.before.fence_pending:
            return plan
        # Only the desired keys' entries: the previous writer's values in flight are lost.
        stripped = dataclasses.replace(
            plan.before,
            template={k: v for k, v in plan.before.template.items() if k in desired},
            service={k: v for k, v in plan.before.service.items() if k in desired},
            pods={},
        )
        return dataclasses.replace(plan, before=stripped)


@pytest.mark.parametrize('variant', [ForgetsTheFence, DropsInFlightValues])
def test_the_check_catches_each_half_of_the_fence_rule(variant: type[k8s_labels.LabelManager]):
    old, new = {'a.io/x': '1', 'b.io/y': '1'}, START
    total = _requests(_base(START), old)
    caught = 0
    for k in range(total):
        for kill in _kill_points():
            env, _ = stale_leader_and_killed_new_leader(k, kill, old, new, manager_class=variant)
            try:
                env.check(new, managed={'a.io/x', 'b.io/y'})
            except AssertionError:
                caught += 1
    assert caught, f'{variant.__name__} passed'
