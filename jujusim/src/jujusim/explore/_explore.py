"""Exploration: many schedules, over this machine's cores or a CI matrix's shards."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import multiprocessing
import pathlib
from collections.abc import Callable, Iterator

from ..scenarios import Scenario, ScenarioError
from ._generate import FaultWeights, exhaustive_schedules, prelude, random_schedule
from ._run import Outcome, run_schedule


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """What one exploration runs.

    Attributes:
        units: the consumer's units.
        schedules: how many random schedules (ignored with ``exhaustive``).
        seed: the run's seed: schedule ``i`` and its scheduler seed derive from it.
        length: steps drawn per random schedule (before the shared start and end).
        weights: how often each step kind is drawn.
        exhaustive: run the bounded exhaustive set instead of random schedules.
        shard: (I, N): only schedules whose index is I-1 modulo N; the N shards' union is
            exactly the unsharded run.
        hooks_must_not_fail: a hook of the consumer that failed is a finding too (the
            faults drawn by default are ones a consumer is built to absorb within the
            hook: a 409 within its retries, a kill, a stall); but not one Juju fails
            whatever the charm's code (a commit refused to a unit no longer leader).
    """

    units: int
    schedules: int
    seed: int
    length: int = 10
    weights: FaultWeights = dataclasses.field(default_factory=FaultWeights)
    exhaustive: bool = False
    shard: tuple[int, int] = (1, 1)
    hooks_must_not_fail: bool = False

    def indices(self) -> list[int]:
        """The schedule indices this shard runs."""
        total = len(list(exhaustive_schedules(self.units))) if self.exhaustive else self.schedules
        index, count = self.shard
        return [i for i in range(total) if i % count == index - 1]

    def shared_steps(self) -> int:
        """How many leading steps every schedule of the plan shares (snapshots go there)."""
        if not self.exhaustive:
            return len(prelude(self.units))
        first, *others = [s.steps for s in exhaustive_schedules(self.units)]
        shared = len(first)
        for steps in others:
            differs = (i for i, (a, b) in enumerate(zip(first, steps, strict=False)) if a != b)
            shared = min(shared, next(differs, len(steps)))
        return shared

    def schedule(self, index: int) -> tuple[Scenario, int]:
        """Schedule ``index`` and the scheduler seed it runs with."""
        derived = int.from_bytes(hashlib.sha256(f'{self.seed}:{index}'.encode()).digest()[:4])
        if self.exhaustive:
            return list(exhaustive_schedules(self.units))[index], self.seed
        return (
            random_schedule(derived, units=self.units, length=self.length, weights=self.weights),
            derived,
        )


@dataclasses.dataclass(frozen=True)
class Result:
    """One schedule's result: its index, and its outcome or why it could not run."""

    index: int
    outcome: Outcome | None
    skipped: str | None = None


def _run_one(plan: Plan, charms: dict[str, pathlib.Path], index: int, shared: int) -> Result:
    schedule, seed = plan.schedule(index)
    try:
        outcome = run_schedule(
            schedule,
            charms,
            seed=seed,
            shared=shared,
            hooks_must_not_fail=plan.hooks_must_not_fail,
        )
        return Result(index, outcome)
    except ScenarioError as e:
        return Result(index, None, skipped=str(e))


def explore(plan: Plan, charms: dict[str, pathlib.Path], *, jobs: int = 1) -> Iterator[Result]:
    """Run the plan's schedules, ``jobs`` at a time; yield each result as it completes."""
    indices = plan.indices()
    shared = plan.shared_steps()
    if jobs <= 1:
        for index in indices:
            yield _run_one(plan, charms, index, shared)
        return
    # spawn: the model's threads and worker processes are not fork-safe to inherit.
    context = multiprocessing.get_context('spawn')
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(_run_one, plan, charms, i, shared) for i in indices]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def first_failure(results: list[Result]) -> Result | None:
    """The failing result with the lowest index: the same whatever ``jobs`` was."""
    failing = [r for r in results if r.outcome is not None and r.outcome.failed]
    return min(failing, key=lambda r: r.index, default=None)


Progress = Callable[[str], None]
