"""Shrinking: steps run at one moment are shrunk too, not only kept or split whole."""

import pathlib
from typing import Any

from jujusim.explore import Outcome, failure_class, prelude, shrink
from jujusim.explore._shrink import SLOW_FAILURE_BUDGET
from jujusim.scenarios import (
    Check,
    Concurrently,
    DeletePod,
    ForeignLabels,
    LeaderChange,
    Scenario,
    SetLabels,
    Settle,
)

CHARMS: dict[str, pathlib.Path] = {}  # never run: the runner below judges the schedule
PROBLEM = "R1-R3: Service/consumer label 'foo' is 'a', expected absent"


def fails_on_a_reset_at_the_moment_a_pod_goes(schedule: Scenario, charms: Any, **_: Any):
    """A stand-in for the model: the schedule fails at the next check iff some
    ``concurrently`` step holds a reset of the labels and a pod deletion, whatever else."""
    steps = schedule.steps
    for index, step in enumerate(steps):
        if isinstance(step, Concurrently):
            resets = any(isinstance(s, SetLabels) and 'foo' not in s.labels for s in step.steps)
            deletes = any(isinstance(s, DeletePod) for s in step.steps)
            checks = [i for i in range(index, len(steps)) if isinstance(steps[i], Check)]
            if resets and deletes and checks:
                return Outcome(
                    seed=0,
                    failed_step=checks[0] + 1,
                    problems=(PROBLEM,),
                    failure_class=failure_class([PROBLEM]),
                )
    return Outcome(seed=0, failed_step=None, problems=(), failure_class=())


def test_a_concurrent_step_loses_what_the_failure_does_not_need():
    at_once = Concurrently(
        steps=(
            SetLabels(app='beacon', labels={'team': 'a', 'istio.io/dataplane-mode': 'b'}),
            ForeignLabels(kind='Service', of='consumer', labels={'other': 'x'}),
            DeletePod(unit='consumer/leader', force=True),
            LeaderChange(app='consumer'),
        )
    )
    schedule = Scenario(
        name='s',
        description='d',
        steps=(
            *prelude(3),
            SetLabels(app='beacon', labels={'foo': 'a'}),
            Settle(),
            Check(app='consumer'),
            at_once,
            Settle(),
            Check(app='consumer'),
        ),
    )
    failure = fails_on_a_reset_at_the_moment_a_pod_goes(schedule, CHARMS)
    assert failure.failed

    shrunk = shrink(
        schedule, failure, CHARMS, budget=200, runner=fails_on_a_reset_at_the_moment_a_pod_goes
    )

    # Inner steps the failure does not need are dropped, and the reset left is the smallest.
    concurrent = [s for s in shrunk.schedule.steps if isinstance(s, Concurrently)]
    assert concurrent == [
        Concurrently(
            steps=(
                SetLabels(app='beacon', labels={'team': 'a'}),
                DeletePod(unit='consumer/leader', force=True),
            )
        )
    ]
    assert shrunk.outcome.failed


def test_a_hung_unit_or_a_livelock_is_shrunk_with_a_small_budget():
    # Each run of these lasts until a bound (10 s for a hung hook in explore): a hanging
    # consumer's shrink took 30 runs of 20 s with the whole budget. Here only the whole
    # schedule fails, so the shrinker tries candidates until its budget is spent.
    schedule = Scenario(
        name='s',
        description='d',
        steps=(
            *prelude(2),
            *(SetLabels(app='beacon', labels={'foo': v, 'team': v}) for v in 'abcdefghijkl'),
        ),
    )
    spent: dict[str, int] = {}
    for problem in (
        'consumer/0 is hung in relation_changed(1): ...',
        'livelock: not quiescent',
        PROBLEM,
    ):
        found = (problem,)
        failure = Outcome(
            seed=0,
            failed_step=len(schedule.steps),
            problems=found,
            failure_class=failure_class(found),
        )

        def only_the_whole(candidate: Scenario, charms: Any, failure: Outcome = failure, **_: Any):
            return (
                failure
                if candidate == schedule
                else Outcome(seed=0, failed_step=None, problems=(), failure_class=())
            )

        shrunk = shrink(schedule, failure, CHARMS, budget=40, runner=only_the_whole)
        spent[failure.failure_class[0]] = shrunk.runs
    assert spent == {
        'unit hung': SLOW_FAILURE_BUDGET,
        'livelock': SLOW_FAILURE_BUDGET,
        'R1-R3': 40,
    }
