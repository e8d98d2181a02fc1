"""One explored schedule: what counts as a finding."""

import pathlib

from jujusim.explore import REFUSED_NOT_BLOCKED, prelude, run_schedule
from jujusim.scenarios import Check, Kill, Scenario, SetLabels, Settle

ROOT = pathlib.Path(__file__).parents[3]
CHARMS = {
    'consumer': ROOT / 'charms' / 'mesh-consumer',
    'provider': ROOT / 'charms' / 'beacon-stub',
}


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
    schedule = Scenario(
        name='refused-data',
        description='data the library must refuse',
        steps=(
            *prelude(1),
            SetLabels(app='beacon', labels={'app.kubernetes.io/name': 'x'}),
            Settle(),
            Check(app='consumer'),
        ),
    )
    original = {**CHARMS, 'consumer': ROOT / 'tests' / 'charms' / 'adr-original'}
    outcome = run_schedule(schedule, original, seed=0)
    assert REFUSED_NOT_BLOCKED in outcome.failure_class, outcome.problems
    assert all(len(kind) < 40 for kind in outcome.failure_class), outcome.failure_class
    assert not run_schedule(schedule, CHARMS, seed=0).failed
