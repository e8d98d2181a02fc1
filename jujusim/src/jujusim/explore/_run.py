"""Running one schedule on a fresh model, and what a failure looks like."""

from __future__ import annotations

import dataclasses
import pathlib
import re

from ..model import LivelockError, Model
from ..scenarios import (
    Check,
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
# The kind of a hook that failed, when hooks must not fail (Model.check's option).
FAILED_HOOK = 'failed hook'


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
        failed_hooks: each hook of a checked app that failed during the run (up to the
            failing step), one line each, whether or not failed hooks were a failure.
    """

    seed: int
    failed_step: int | None
    problems: tuple[str, ...]
    failure_class: tuple[str, ...]
    trace: tuple[str, ...] = ()
    failed_hooks: tuple[str, ...] = ()

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
        elif problem.startswith(f'{FAILED_HOOK}: '):
            kinds.add(FAILED_HOOK)
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
    hooks_must_not_fail: bool = False,
) -> Outcome:
    """Run ``schedule`` on a fresh model with scheduler seed ``seed``.

    A check that fails, a livelock and a unit in error at a check are failures. With
    ``hooks_must_not_fail``, a check also fails on any hook of its app that failed so far
    (:meth:`jujusim.model.Model.failed_hooks`): right labels reached only through Juju's
    retries.

    Raises:
        ScenarioError: a step the model cannot carry out (a bad schedule, not a finding).
    """
    checked = sorted({step.app for step in schedule.steps if isinstance(step, Check)})
    with Model(seed=seed) as model:
        runner = ModelRunner(model, charms)
        for index, step in enumerate(schedule.steps, 1):
            where = f'step {index} ({step_name(step)})'
            found: list[str] = []
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
            except LivelockError as e:
                first = str(e).splitlines()[0]
                found = [f'livelock: {first}']
            except ScenarioError:
                raise
            except Exception as e:  # any other error: this step cannot run now
                # e.g. foreign labels on a pod that is being recreated (404 from the fake
                # API): the schedule asked for something the model cannot do at this point.
                # Re-raised as text: the original may not cross a process boundary.
                raise ScenarioError(f'{where}: {type(e).__name__}: {e}') from None
            if hooks_must_not_fail and isinstance(step, Check):
                found += [f'{FAILED_HOOK}: {line}' for line in _failed_hooks(model, [step.app])]
            if found:
                return _failed(seed, index, found, model, keep_trace, checked)
        return Outcome(
            seed=seed,
            failed_step=None,
            problems=(),
            failure_class=(),
            trace=tuple(model.trace) if keep_trace else (),
            failed_hooks=_failed_hooks(model, checked),
        )


def _failed_hooks(model: Model, apps: list[str]) -> tuple[str, ...]:
    """Each hook of ``apps`` that failed so far, one line each."""
    return tuple(
        f'{f.unit} {f.hook} failed at {f.time:g} s (attempt {f.attempt}): {f.cause}'
        for app in apps
        for f in model.failed_hooks(app)
    )


def _failed(
    seed: int, index: int, problems: list[str], model: Model, keep: bool, checked: list[str]
) -> Outcome:
    return Outcome(
        seed=seed,
        failed_step=index,
        problems=tuple(problems),
        failure_class=failure_class(problems),
        trace=tuple(model.trace) if keep else (),
        failed_hooks=_failed_hooks(model, checked),
    )
