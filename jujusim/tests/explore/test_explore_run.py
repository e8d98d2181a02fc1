"""One explored schedule: what counts as a finding."""

import dataclasses
import pathlib
import re
import time

import pytest
from explore_helpers import (
    fighting_the_statefulset_controller,
    hanging_on_labels,
    no_conflict_retry,
)

from jujusim.explore import FAILED_HOOK, REFUSED_NOT_BLOCKED, explain, prelude, run_schedule
from jujusim.explore import _run as explore_run
from jujusim.model import HookFailureKind
from jujusim.model import _scheduler as scheduler
from jujusim.scenarios import (
    ApiError,
    Check,
    Integrate,
    Kill,
    RemoveRelation,
    RequestMatch,
    Scenario,
    SetLabels,
    Settle,
    Stall,
)

ROOT = pathlib.Path(__file__).parents[3]
CHARMS = {
    'consumer': ROOT / 'charms' / 'mesh-consumer',
    'provider': ROOT / 'charms' / 'beacon-stub',
}
# The leader's relation-created writes application data, then stalls past its lease at
# its first pod patch; a new leader is elected meanwhile. When the stale hook ends, Juju
# refuses its commit (any charm's) and retries it (shrunk from chaos seed 2026, index 6).
STALE_LEADER_COMMIT = Scenario(
    name='stale-leader-commit',
    description="a stale leader's application data, refused at commit",
    steps=(
        *prelude(3),
        RemoveRelation(apps=('consumer', 'beacon')),
        Integrate(apps=('consumer', 'beacon')),
        Stall(
            unit='consumer/leader',
            seconds=90.0,
            request=RequestMatch(method='patch', kind='Pod', nth=1),
        ),
        SetLabels(app='beacon', labels={'foo': 'b'}),
        Settle(),
        Check(app='consumer'),
    ),
)


def one_change(labels: dict[str, str], *, units: int) -> Scenario:
    """Deployed and checked, then the provider's data set to ``labels``, settled, checked."""
    steps = (
        *prelude(units),
        SetLabels(app='beacon', labels=labels),
        Settle(),
        Check(app='consumer'),
    )
    return Scenario(name='one-change', description=f'the data set to {labels}', steps=steps)


def test_a_kill_aimed_at_a_call_no_hook_makes_is_not_a_finding():
    # Nothing runs after the prelude, so no hook reaches call 1: the kill never fires. The
    # scenario runner's check reports that; the explorer must not call it a violation.
    schedule = Scenario(
        name='unfired-kill',
        description='a kill that never fires',
        steps=(*prelude(2), Kill(unit='consumer/1', at_call=1), Settle(), Check(app='consumer')),
    )
    outcome = run_schedule(schedule, CHARMS, seed=0)
    assert not outcome.failed, outcome.problems


def test_a_broken_requirement_beside_an_unfired_kill_is_still_a_finding():
    schedule = Scenario(
        name='unfired-kill-noop',
        description='a consumer that never labels, and a kill that never fires',
        # deploy, deploy, integrate; a kill at a call no hook of this consumer reaches.
        steps=(
            *prelude(2)[:3],
            SetLabels(app='beacon', labels={'foo': 'bar'}),
            Kill(unit='consumer/1', at_call=99),
            Settle(),
            Check(app='consumer'),
        ),
    )
    noop = {**CHARMS, 'consumer': ROOT / 'tests' / 'charms' / 'noop-consumer'}
    outcome = run_schedule(schedule, noop, seed=0)
    assert outcome.failed_step == 7
    assert outcome.failure_class == ('R1-R3',)
    assert not any(p.endswith('never happened') for p in outcome.problems)


def test_a_consumer_that_takes_refused_data_is_named_as_such():
    # The original design applies any data: a reserved key makes its hook fail and its
    # leader is never Blocked. The finding's kind names that, not the checker's sentence.
    schedule = one_change({'app.kubernetes.io/name': 'x'}, units=1)
    original = {**CHARMS, 'consumer': ROOT / 'tests' / 'charms' / 'adr-original'}
    outcome = run_schedule(schedule, original, seed=0)
    assert REFUSED_NOT_BLOCKED in outcome.failure_class, outcome.problems
    assert all(len(kind) < 40 for kind in outcome.failure_class), outcome.failure_class
    assert not run_schedule(schedule, CHARMS, seed=0).failed


def test_a_consumer_that_never_settles_is_a_livelock_found_in_bounded_time(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    # A library that labels pods with controller-revision-hash fights the StatefulSet
    # controller: pods replaced for ever. The settle gives up SETTLE_BUSY_BOUND virtual
    # seconds past the retries it runs (600 + 600 s: about 25 s of wall time with 2 units;
    # 60 + 60 s here, 3 s) and the finding says what kept the model busy. Before it had a
    # bound on virtual time it ran 100,000 steps, about 400 s. The library refuses the key:
    # the same schedule settles, Blocked.
    monkeypatch.setattr(scheduler, 'SETTLE_RETRY_BOUND', 60.0)
    monkeypatch.setattr(scheduler, 'SETTLE_BUSY_BOUND', 60.0)
    schedule = one_change({'controller-revision-hash': 'x'}, units=2)
    fighting = {**CHARMS, 'consumer': fighting_the_statefulset_controller(tmp_path)}
    outcome = run_schedule(schedule, fighting, seed=0, keep_trace=True, fresh=True)
    assert outcome.failure_class == ('livelock',), outcome.problems
    [problem] = outcome.problems
    assert re.search(r'not quiescent \d+ virtual seconds after settling began', problem)
    restarts = sum(' started (consumer/' in line for line in outcome.trace)
    assert restarts > 3
    assert f'{restarts - 2} pods started' in problem  # the two of the deployment before
    began = next(float(line.split()[0]) for line in outcome.trace if 'config beacon' in line)
    assert float(outcome.trace[-1].split()[0]) - began <= 120
    assert explain(outcome.problems, outcome.failure_class)[0] == (
        'broken: livelock: the model settles (no charm keeps it busy past the bound on '
        'steps or virtual time: hooks that trigger each other, a fight with a controller)'
    )
    assert not run_schedule(schedule, CHARMS, seed=0, fresh=True).failed


def test_a_consumer_whose_hook_hangs_is_a_unit_hung_finding_within_the_time_limit(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    # The leader's hook blocks for ever: its worker is killed at the explorer's time limit
    # (10 s; 5 s here) and the unit stays in that hook for Juju, which the check reports.
    monkeypatch.setattr(explore_run, 'HOOK_TIMEOUT', 5.0)
    schedule = one_change({'foo': 'a'}, units=2)
    hanging = {**CHARMS, 'consumer': hanging_on_labels(tmp_path)}
    began = time.monotonic()
    outcome = run_schedule(schedule, hanging, seed=0, fresh=True)
    assert time.monotonic() - began < 30
    assert 'unit hung' in outcome.failure_class, outcome.problems
    assert any(
        re.match(r'consumer/\d is hung in relation_changed\(', p) for p in outcome.problems
    ), outcome.problems
    assert explain(outcome.problems, ('unit hung',))[0].startswith(
        "broken: unit hung: no hook runs past the harness's time limit"
    )


def test_a_commit_juju_refuses_a_stale_leader_is_not_a_failed_hook_finding():
    outcome = run_schedule(STALE_LEADER_COMMIT, CHARMS, seed=0, hooks_must_not_fail=True)
    # The refusal happened (else this test shows nothing) ...
    assert [f.kind for f in outcome.failed_hooks] == [HookFailureKind.NOT_LEADER_AT_COMMIT]
    # ... and Juju fails any charm so: neither a finding nor counted.
    assert not outcome.failed, outcome.problems
    assert outcome.counted_failed_hooks == ()


def test_a_hook_that_raises_in_the_same_schedule_is_still_a_failed_hook_finding(
    tmp_path: pathlib.Path,
):
    # The copy that gives up at the first 409 raises where mesh-consumer retries: a 409 on
    # the leader's first write of the change, while it still leads.
    charms = {**CHARMS, 'consumer': no_conflict_retry(tmp_path)}
    conflict = ApiError(status=409, unit='consumer/leader', method='patch', count=1)
    steps = STALE_LEADER_COMMIT.steps
    schedule = dataclasses.replace(STALE_LEADER_COMMIT, steps=(*steps[:-4], conflict, *steps[-4:]))
    outcome = run_schedule(schedule, charms, seed=0, hooks_must_not_fail=True)
    kinds = {f.kind for f in outcome.failed_hooks}
    assert HookFailureKind.NOT_LEADER_AT_COMMIT in kinds, outcome.failed_hooks
    assert outcome.failure_class == (FAILED_HOOK,)
    counted = outcome.counted_failed_hooks
    assert counted and all(f.kind is HookFailureKind.CHARM_RAISED for f in counted)
    assert outcome.problems == tuple(f'{FAILED_HOOK}: {f.describe()}' for f in counted)
