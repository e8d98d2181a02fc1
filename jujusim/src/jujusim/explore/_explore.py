"""Exploration: many schedules, over this machine's cores or a CI matrix's shards."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import multiprocessing
import os
import pathlib
from collections.abc import Callable, Generator, Iterator

from ..scenarios import Scenario, ScenarioError
from ._generate import (
    FaultWeights,
    exhaustive_schedules,
    prelude,
    random_schedule,
    switching_prelude,
)
from ._run import Outcome, run_schedule, start_seed


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """What one exploration runs.

    Attributes:
        units: the consumer's units.
        schedules: how many random schedules (ignored with ``exhaustive``).
        seed: the run's seed: schedule ``i`` and its scheduler seed derive from it;
            schedule ``i`` starts with the ``i``-th lead (``_generate.LEADS``, in turn).
        length: steps drawn per random schedule (before the shared start and end).
        weights: how often each step kind is drawn.
        exhaustive: run the bounded exhaustive set instead of random schedules.
        shard: (I, N): only schedules whose index is I-1 modulo N; the N shards' union is
            exactly the unsharded run.
        hooks_must_not_fail: a hook of the consumer that failed is a finding too (the
            faults drawn by default are ones a consumer is built to absorb within the
            hook: a 409 within its retries, a kill, a stall); but not one Juju fails
            whatever the charm's code (a commit refused to a unit no longer leader).
        stale_writes_fail: a stale write is a finding (else only recorded in each
            outcome: ``jujusim conformance`` judges it apart, so that it hides nothing
            else a schedule would show).
    """

    units: int
    schedules: int
    seed: int
    length: int = 10
    weights: FaultWeights = dataclasses.field(default_factory=FaultWeights)
    exhaustive: bool = False
    shard: tuple[int, int] = (1, 1)
    hooks_must_not_fail: bool = False
    stale_writes_fail: bool = True

    def indices(self) -> list[int]:
        """The schedule indices this shard runs."""
        total = len(list(exhaustive_schedules(self.units))) if self.exhaustive else self.schedules
        index, count = self.shard
        return [i for i in range(total) if i % count == index - 1]

    def shared_steps(self) -> int:
        """How many leading steps every schedule of the plan shares (snapshots go there)."""
        if not self.exhaustive:  # either start: a snapshot is keyed by the steps before it
            return max(len(prelude(self.units)), len(switching_prelude(self.units)))
        first, *others = [s.steps for s in exhaustive_schedules(self.units)]
        shared = len(first)
        for steps in others:
            differs = (i for i, (a, b) in enumerate(zip(first, steps, strict=False)) if a != b)
            shared = min(shared, next(differs, len(steps)))
        return shared

    def schedule(self, index: int) -> tuple[Scenario, int]:
        """Schedule ``index`` and the scheduler seed it runs with."""
        seed = self.scheduler_seed(index)
        if self.exhaustive:
            return list(exhaustive_schedules(self.units))[index], seed
        schedule = random_schedule(
            seed, units=self.units, length=self.length, weights=self.weights, lead=index
        )
        return schedule, seed

    def scheduler_seed(self, index: int) -> int:
        """The scheduler seed schedule ``index`` runs with (a random schedule is drawn from it)."""
        if self.exhaustive:
            return self.seed
        return int.from_bytes(hashlib.sha256(f'{self.seed}:{index}'.encode()).digest()[:4])


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
            stale_writes_fail=plan.stale_writes_fail,
        )
        return Result(index, outcome)
    except ScenarioError as e:
        return Result(index, None, skipped=str(e))


def explore(plan: Plan, charms: dict[str, pathlib.Path], *, jobs: int = 1) -> Iterator[Result]:
    """Run the plan's schedules, ``jobs`` at a time; yield each result as it completes."""
    indices = plan.indices()
    shared = plan.shared_steps()
    if jobs <= 1:
        with _on_one_core():
            for index in indices:
                yield _run_one(plan, charms, index, shared)
        return
    yield from _explore_in_processes(plan, charms, indices, shared, jobs)


class StartAffinity:
    """Which schedule a process runs next: where possible, one whose start it has made.

    A process deploys and settles each start it meets once, then restores it from a
    snapshot (``_run.Starts``: ~1 s against ~15 ms). Handing every process schedules of
    every start, as a shared queue does, makes each start once per process. Here a
    process is given schedules of a start it has made, else of a start no process has
    made, and only then of another process's (so that none idles while schedules wait).
    A run is the same whichever process runs it.
    """

    def __init__(self, plan: Plan, indices: list[int], jobs: int):
        self._pending: dict[int, collections.deque[int]] = collections.defaultdict(
            collections.deque
        )
        for index in indices:
            self._pending[start_seed(plan.scheduler_seed(index))].append(index)
        self._made: list[set[int]] = [set() for _ in range(jobs)]

    def take(self, job: int) -> int | None:
        """The index of the next schedule for process ``job``; None when none is left."""
        waiting = {start: queue for start, queue in self._pending.items() if queue}
        if not waiting:
            return None
        made_anywhere = set[int]().union(*self._made)
        mine = [s for s in waiting if s in self._made[job]]
        unmade = [s for s in waiting if s not in made_anywhere]
        start = min(mine or unmade or waiting, key=lambda s: (-len(waiting[s]), s))
        self._made[job].add(start)
        return waiting[start].popleft()


def _cores_per_job(jobs: int) -> list[frozenset[int]]:
    """A core of its own for each job, among those this process may use; none if too few.

    A job is a model whose parent and unit workers take turns (each decision waits for
    the running hooks), so it keeps about one core busy; on one core, each hand-over is a
    switch on a running core rather than a wake-up of another (on this 2-core VM, 2 jobs
    pinned ran 60 schedules 1.21x as fast as left to the kernel, one job 30 of them 1.13x).
    """
    if not hasattr(os, 'sched_getaffinity'):
        return [frozenset()] * jobs  # not Linux: the kernel places them
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < jobs:
        return [frozenset()] * jobs
    return [frozenset({cores[job]}) for job in range(jobs)]


@contextlib.contextmanager
def _on_one_core() -> Generator[None]:
    """Keep this process, and the unit workers it starts meanwhile, on the core it is on.

    As :func:`_cores_per_job` for a run in this process; its affinity is put back after.
    """
    allowed = os.sched_getaffinity(0) if hasattr(os, 'sched_getaffinity') else set[int]()
    core = _current_core()
    if len(allowed) < 2 or core not in allowed:
        yield
        return
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def _current_core() -> int | None:
    """The core this process last ran on (field 39 of /proc/self/stat), or None."""
    try:
        stat = pathlib.Path('/proc/self/stat').read_text()
    except OSError:
        return None
    fields = stat.rpartition(')')[2].split()  # after the command name, from field 3 on
    return int(fields[39 - 3]) if len(fields) > 39 - 3 else None


def _pin(cores: frozenset[int]) -> None:
    # Inherited by the job's unit workers, which it starts after this. None: left as is.
    if cores:
        os.sched_setaffinity(0, cores)


def _explore_in_processes(
    plan: Plan, charms: dict[str, pathlib.Path], indices: list[int], shared: int, jobs: int
) -> Iterator[Result]:
    affinity = StartAffinity(plan, indices, jobs)
    # spawn: the model's threads and worker processes are not fork-safe to inherit.
    context = multiprocessing.get_context('spawn')
    with contextlib.ExitStack() as stack:
        cores = _cores_per_job(jobs)
        pools = [
            stack.enter_context(
                concurrent.futures.ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=context,
                    initializer=_pin,
                    initargs=(cores[job],),
                )
            )
            for job in range(jobs)
        ]
        running: dict[concurrent.futures.Future[Result], int] = {}

        def fill() -> None:
            # Two per process: the next one waits there while one runs.
            for job, pool in enumerate(pools):
                while sum(1 for j in running.values() if j == job) < 2:
                    index = affinity.take(job)
                    if index is None:
                        return
                    running[pool.submit(_run_one, plan, charms, index, shared)] = job

        try:
            fill()
            while running:
                done, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    running.pop(future)
                    yield future.result()
                fill()
        finally:
            for future in running:
                future.cancel()


def first_failure(results: list[Result]) -> Result | None:
    """The failing result with the lowest index: the same whatever ``jobs`` was."""
    failing = [r for r in results if r.outcome is not None and r.outcome.failed]
    return min(failing, key=lambda r: r.index, default=None)


Progress = Callable[[str], None]
