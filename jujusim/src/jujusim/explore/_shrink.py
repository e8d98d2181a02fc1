"""Shrinking a failing schedule: fewer steps, smaller values, the same failure class."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Iterator

from ..scenarios import (
    Action,
    ApiError,
    Check,
    Concurrently,
    Deploy,
    Integrate,
    Kill,
    RemoveRelation,
    Scenario,
    ScenarioError,
    SetLabels,
    Settle,
    Stall,
    Step,
)
from ._run import LIVELOCK, UNIT_HUNG, Outcome, run_schedule

Runner = Callable[..., Outcome]
"""Runs a schedule as :func:`run_schedule` does (same arguments): what shrinking re-runs."""

PRELUDE = 5  # deploy, deploy, integrate, settle, check: see _generate.prelude


@dataclasses.dataclass(frozen=True)
class Shrunk:
    """The smallest failing schedule found, its outcome, and the runs it took."""

    schedule: Scenario
    outcome: Outcome
    runs: int


# Failures whose every run lasts until a bound (LivelockError's, the hook time limit):
# shrinking one with the whole budget would cost minutes (a hanging consumer: 30 runs of
# 20 s each, measured), so fewer runs, and a less shrunk schedule.
SLOW_FAILURES = frozenset({LIVELOCK, UNIT_HUNG})
SLOW_FAILURE_BUDGET = 8


def shrink(
    schedule: Scenario,
    failure: Outcome,
    charms: dict[str, pathlib.Path],
    *,
    budget: int = 40,
    progress: Callable[[str], None] | None = None,
    hooks_must_not_fail: bool = False,
    stale_writes_fail: bool = True,
    runner: Runner = run_schedule,
) -> Shrunk:
    """Delete runs of steps and lower values while the schedule fails the same way.

    A candidate is kept only if it fails with the same failure class (R1-R3, R4, a unit in
    error...) under the same scheduler seed. Steps run at one moment (``concurrently``)
    are shrunk too: one of them dropped, or one made smaller. At most ``budget`` runs of
    ``runner``; at most :data:`SLOW_FAILURE_BUDGET` for a livelock or a hung unit, each
    run of which lasts until a bound (a hung hook: the time limit, 10 s in ``explore``).
    """
    if SLOW_FAILURES & set(failure.failure_class):
        budget = min(budget, SLOW_FAILURE_BUDGET)
    runs = 0
    best, outcome = _cut_after(schedule, failure), failure

    def fails(candidate: Scenario) -> Outcome | None:
        nonlocal runs
        runs += 1
        try:
            result = runner(
                candidate,
                charms,
                seed=failure.seed,
                hooks_must_not_fail=hooks_must_not_fail,
                stale_writes_fail=stale_writes_fail,
            )
        except ScenarioError:
            return None  # the cut made a step impossible (e.g. no leader yet)
        if result.failed and result.failure_class == failure.failure_class:
            return result
        return None

    changed = True
    while changed and runs < budget:
        changed = False
        for candidate in filter(_related_once, _candidates(best)):
            if runs >= budget:
                break
            result = fails(candidate)
            if result is not None:
                best, outcome, changed = _cut_after(candidate, result), result, True
                if progress is not None:
                    progress(f'shrunk to {len(best.steps)} steps')
                break
    return Shrunk(dataclasses.replace(best, name=f'{schedule.name}-shrunk'), outcome, runs)


def _related_once(schedule: Scenario) -> bool:
    """Whether the relation is only added when absent and removed when present.

    A cut can leave an integrate with the relation still there: a second relation the
    consumer's ``limit: 1`` forbids, which Juju would refuse; such a candidate is skipped.
    """
    related: set[frozenset[str]] = set()
    steps: list[Step] = []
    for step in schedule.steps:
        steps += step.steps if isinstance(step, Concurrently) else [step]
    for step in steps:
        if isinstance(step, Integrate):
            if frozenset(step.apps) in related:
                return False
            related.add(frozenset(step.apps))
        elif isinstance(step, RemoveRelation):
            if frozenset(step.apps) not in related:
                return False
            related.discard(frozenset(step.apps))
    return True


def _cut_after(schedule: Scenario, outcome: Outcome) -> Scenario:
    """Steps after the failing check cannot matter: drop them."""
    if outcome.failed_step is None:
        return schedule
    return dataclasses.replace(schedule, steps=schedule.steps[: outcome.failed_step])


def _candidates(schedule: Scenario) -> Iterator[Scenario]:
    steps = schedule.steps
    body = list(steps[PRELUDE:-1])  # the prelude and the final (failing) check stay
    head, tail = steps[:PRELUDE], steps[-1:]

    def make(new_body: list[Step], new_head: tuple[Step, ...] = head) -> Scenario:
        return dataclasses.replace(schedule, steps=(*new_head, *new_body, *tail))

    size = len(body) // 2
    while size >= 1:
        for start in range(0, len(body), size):
            yield make(body[:start] + body[start + size :])
        size //= 2
    for index, step in enumerate(body):
        for smaller in _smaller(step):
            yield make([*body[:index], smaller, *body[index + 1 :]])
    for index, step in enumerate(head):
        if isinstance(step, Deploy) and step.units > 1:
            smaller_head = (
                *head[:index],
                dataclasses.replace(step, units=step.units - 1),
                *head[index + 1 :],
            )
            yield make(body, smaller_head)


def _smaller(step: Step) -> Iterator[Step]:
    """The same step with smaller values, most reduced first."""
    match step:
        case Concurrently():
            yield from step.steps  # one of the actions alone
            if len(step.steps) > 2:  # one of them dropped
                for index in range(len(step.steps)):
                    yield Concurrently(steps=step.steps[:index] + step.steps[index + 1 :])
            for index, inner in enumerate(step.steps):  # one of them smaller
                for smaller in _smaller(inner):
                    if isinstance(smaller, Action):
                        steps = (*step.steps[:index], smaller, *step.steps[index + 1 :])
                        yield Concurrently(steps=steps)
        case Kill() | Stall() if step.at_call is not None and step.at_call > 1:
            yield dataclasses.replace(step, at_call=1)
            yield dataclasses.replace(step, at_call=step.at_call - 1)
        case Kill() | Stall() if step.request is not None and step.request.nth > 1:
            yield dataclasses.replace(step, request=dataclasses.replace(step.request, nth=1))
        case ApiError() if step.count > 1:
            yield dataclasses.replace(step, count=1)
        case SetLabels() if len(step.labels) > 1:
            for key in step.labels:
                yield dataclasses.replace(step, labels={key: step.labels[key]})
        case Settle() | Check():
            return
        case _:
            return
