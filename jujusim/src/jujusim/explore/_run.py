"""Running one schedule on a fresh model, and what a failure looks like."""

from __future__ import annotations

import dataclasses
import pathlib
import re

from ..model import LivelockError, Model
from ..scenarios import (
    CheckFailedError,
    ModelRunner,
    Scenario,
    ScenarioError,
    Settle,
    step_name,
)

# The kinds of broken requirement a check reports (jujusim.check and Model.check):
# 'R1-R3' and 'R4' from the checker, a unit in error, an unfinished rollout.
_KIND_RE = re.compile(r'^(R1-R3|R4):')
# How the scenario runner's check reports a planned fault that never fired.
UNFIRED_FAULT = ': never happened'


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcome:
    """How one schedule ran.

    Attributes:
        seed: the model's scheduler seed.
        failed_step: the 1-based index of the step that failed, or None if it held.
        problems: what the failing step found, one line each.
        failure_class: what broke, independent of where: e.g. ``('R1-R3',)``; two
            failures are the same if their classes are equal (shrinking keeps that).
        trace: the model's trace, for the timeline.
    """

    seed: int
    failed_step: int | None
    problems: tuple[str, ...]
    failure_class: tuple[str, ...]
    trace: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """Whether a check (or the model itself) failed."""
        return self.failed_step is not None


def failure_class(problems: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The kinds of broken requirement among ``problems``, sorted."""
    kinds: set[str] = set()
    for problem in problems:
        match = _KIND_RE.match(problem)
        if match:
            kinds.add(match[1])
        elif ' is in error' in problem:
            kinds.add('unit in error')
        elif problem.startswith('StatefulSet '):
            kinds.add('rollout not done')
        else:
            kinds.add(problem.split(':', 1)[0])
    return tuple(sorted(kinds))


def run_schedule(
    schedule: Scenario,
    charms: dict[str, pathlib.Path],
    *,
    seed: int,
    keep_trace: bool = False,
) -> Outcome:
    """Run ``schedule`` on a fresh model with scheduler seed ``seed``.

    A check that fails, a livelock and a unit in error at a check are failures.

    Raises:
        ScenarioError: a step the model cannot carry out (a bad schedule, not a finding).
    """
    with Model(seed=seed) as model:
        runner = ModelRunner(model, charms)
        for index, step in enumerate(schedule.steps, 1):
            where = f'step {index} ({step_name(step)})'
            try:
                if isinstance(step, Settle):
                    # Directly, so that a livelock is a finding, not a bad step.
                    model.settle()
                else:
                    runner.run_step(step, where=where)
            except CheckFailedError as e:
                # A drawn kill or stall aimed at a call no hook reached is a schedule that
                # did not exercise it, not a finding: only the requirements count here.
                found = [p for p in e.problems if not p.endswith(UNFIRED_FAULT)]
                if found:
                    return _failed(seed, index, found, model, keep_trace)
            except LivelockError as e:
                first = str(e).splitlines()[0]
                return _failed(seed, index, [f'livelock: {first}'], model, keep_trace)
            except ScenarioError:
                raise
            except Exception as e:  # any other error: this step cannot run now
                # e.g. foreign labels on a pod that is being recreated (404 from the fake
                # API): the schedule asked for something the model cannot do at this point.
                # Re-raised as text: the original may not cross a process boundary.
                raise ScenarioError(f'{where}: {type(e).__name__}: {e}') from None
        return Outcome(
            seed=seed,
            failed_step=None,
            problems=(),
            failure_class=(),
            trace=tuple(model.trace) if keep_trace else (),
        )


def _failed(seed: int, index: int, problems: list[str], model: Model, keep: bool) -> Outcome:
    return Outcome(
        seed=seed,
        failed_step=index,
        problems=tuple(problems),
        failure_class=failure_class(problems),
        trace=tuple(model.trace) if keep else (),
    )
