"""Running one schedule on a fresh model, and what a failure looks like."""

from __future__ import annotations

import atexit
import collections
import dataclasses
import multiprocessing.util
import pathlib
import re
from collections.abc import Callable

from ..check import UNTRUSTED_NOT_BLOCKED
from ..model import STILL_BLOCKED, HookFailure, LivelockError, Model, ModelError, Snapshot
from ..scenarios import (
    CONFIGMAP_LEFT,
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
# How many different starts (settled deployments) the schedules' seeds share.
START_SEEDS = 4
# Wall-clock seconds before a hook counts as hung (Model's hook_timeout): a consumer
# whose hook hangs costs this much per schedule (and per shrinking run), not a minute.
# The slowest hook of mesh-consumer in 100 schedules took 0.3 s: a wide margin on a
# busy CI machine.
HOOK_TIMEOUT = 10.0
# The kind of a consumer not Blocked on data its library must refuse (Model.check).
REFUSED_NOT_BLOCKED = 'refused data not blocked'
# The kind of a hook that failed, when hooks must not fail (Model.check's option); a
# failure Juju imposes whatever the charm's code (HookFailureKind.imposed_by_juju) is not.
FAILED_HOOK = 'failed hook'
# The kind of a unit left in a hook that ran past the harness's time limit (Model.check).
UNIT_HUNG = 'unit hung'
# The kind of a model that never settles (LivelockError).
LIVELOCK = 'livelock'
# The kind of an upstream ConfigMap left after the consumer took over (expect-no-configmap).
UPSTREAM_KEPT = 'upstream ConfigMap kept'


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
            failing step), whether or not failed hooks were a failure, and whatever made
            them fail.
        stale_writes: each stale write of a checked app's units during the run (up to the
            failing step), whether or not they were a failure.
    """

    seed: int
    failed_step: int | None
    problems: tuple[str, ...]
    failure_class: tuple[str, ...]
    trace: tuple[str, ...] = ()
    failed_hooks: tuple[HookFailure, ...] = ()
    stale_writes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """Whether a check (or the model itself) failed."""
        return self.failed_step is not None

    @property
    def counted_failed_hooks(self) -> tuple[HookFailure, ...]:
        """The failed hooks that count against the charm: not those Juju imposes on any."""
        return tuple(f for f in self.failed_hooks if not f.kind.imposed_by_juju)


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
        elif ' is hung in ' in problem:
            kinds.add(UNIT_HUNG)
        elif problem.startswith('StatefulSet '):
            kinds.add('rollout not done')
        elif ' must be Blocked on refused data ' in problem:
            kinds.add(REFUSED_NOT_BLOCKED)
        elif f' is {STILL_BLOCKED} ' in problem:
            kinds.add(STILL_BLOCKED)
        elif f' is {UNTRUSTED_NOT_BLOCKED} ' in problem:
            kinds.add(UNTRUSTED_NOT_BLOCKED)
        elif problem.startswith('ConfigMap ') and problem.endswith(CONFIGMAP_LEFT):
            kinds.add(UPSTREAM_KEPT)
        else:  # e.g. a stale write (STALE_WRITE): the text before the colon names it
            kinds.add(problem.split(':', 1)[0])
    return tuple(sorted(kinds))


def start_length(schedule: Scenario) -> int:
    """How many steps make ``schedule``'s start: up to and including its first check."""
    return next((i for i, s in enumerate(schedule.steps, 1) if isinstance(s, Check)), 0)


def start_seed(seed: int) -> int:
    """The scheduler seed of the start of a schedule run with ``seed``.

    Schedules share a few starts, so that the start of each is mostly restored from a
    snapshot (:class:`Starts`) instead of deployed and settled again; different seeds
    still start from a few different settled deployments.
    """
    return seed % START_SEEDS


def run_schedule(
    schedule: Scenario,
    charms: dict[str, pathlib.Path],
    *,
    seed: int,
    keep_trace: bool = False,
    hooks_must_not_fail: bool = False,
    stale_writes_fail: bool = True,
    fresh: bool = False,
    shared: int = 0,
    unfired_faults_fail: bool = False,
) -> Outcome:
    """Run ``schedule`` from a new model: its start with one seed, the rest with ``seed``.

    The start (:func:`start_length`: the steps up to its first check) runs with the
    scheduler seeded by :func:`start_seed`, and the rest with ``seed``: a schedule's seed
    decides the interleavings of what it does after the start. Unless ``fresh``, the
    model is this process's (:func:`shared_starts`), restored from the snapshot of the
    longest leading part of ``schedule`` it holds instead of deployed and settled again,
    and snapshots are taken at each check that passed within the first ``shared`` steps
    (the part the caller's schedules share; 0: the start): the run is the same either
    way, event for event.

    A check that fails, a livelock and a unit in error at a check are failures. With
    ``hooks_must_not_fail``, a check also fails on any hook of its app that failed so far
    (:meth:`jujusim.model.Model.failed_hooks`): right labels reached only through Juju's
    retries. Failures Juju imposes whatever the charm's code does not count
    (:attr:`jujusim.model.HookFailureKind.imposed_by_juju`: the commit of application
    data refused to a unit no longer leader); the labels after them are judged as ever.
    Without ``stale_writes_fail``, a stale write (:meth:`jujusim.model.Model.check`) is
    recorded in the outcome, not a failure. A kill or stall that never fired fails a
    check only with ``unfired_faults_fail`` (a file someone wrote says what it tests); a
    drawn one aimed at a request no hook made is a schedule that did not exercise it.

    Raises:
        ScenarioError: a step the model cannot carry out (a bad schedule, not a finding).
    """
    boundary = start_length(schedule)
    if fresh:
        with Model(seed=start_seed(seed), hook_timeout=HOOK_TIMEOUT) as model:
            if boundary == 0:
                model.reseed(seed)
            runner = ModelRunner(model, charms, stale_writes_fail=stale_writes_fail)
            return _run(
                schedule,
                runner,
                0,
                boundary,
                seed,
                keep_trace,
                hooks_must_not_fail,
                unfired_faults_fail=unfired_faults_fail,
            )
    starts = shared_starts()
    verdict = (hooks_must_not_fail, stale_writes_fail)
    runner, done = starts.resume(schedule, charms, seed, verdict)
    return _run(
        schedule,
        runner,
        done,
        boundary,
        seed,
        keep_trace,
        hooks_must_not_fail,
        lambda index: starts.reached(schedule, index, shared, seed, verdict, runner),
        unfired_faults_fail=unfired_faults_fail,
    )


def _run(
    schedule: Scenario,
    runner: ModelRunner,
    done: int,
    boundary: int,
    seed: int,
    keep_trace: bool,
    hooks_must_not_fail: bool,
    passed: Callable[[int], None] | None = None,
    *,
    unfired_faults_fail: bool = False,
) -> Outcome:
    """Run ``schedule``'s steps after the first ``done`` on ``runner``'s model."""
    model = runner.model
    checked = sorted({step.app for step in schedule.steps if isinstance(step, Check)})
    for index, step in enumerate(schedule.steps[done:], done + 1):
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
            # did not exercise it, not a finding: only the requirements count then.
            found = [p for p in e.problems if unfired_faults_fail or not p.endswith(UNFIRED_FAULT)]
        except LivelockError as e:
            first = str(e).splitlines()[0]
            found = [f'{LIVELOCK}: {first}']
        except ScenarioError:
            raise
        except Exception as e:  # any other error: this step cannot run now
            # e.g. foreign labels on a pod that is being recreated (404 from the fake
            # API): the schedule asked for something the model cannot do at this point.
            # Re-raised as text: the original may not cross a process boundary.
            raise ScenarioError(f'{where}: {type(e).__name__}: {e}') from None
        if hooks_must_not_fail and isinstance(step, Check):
            found += [
                f'{FAILED_HOOK}: {failure.describe()}'
                for failure in _failed_hooks(model, [step.app])
                if not failure.kind.imposed_by_juju
            ]
        if found:
            return _failed(seed, index, found, model, keep_trace, checked)
        if passed is not None:
            passed(index)
        if index == boundary:
            model.reseed(seed)
    return Outcome(
        seed=seed,
        failed_step=None,
        problems=(),
        failure_class=(),
        trace=tuple(model.trace) if keep_trace else (),
        failed_hooks=_failed_hooks(model, checked),
        stale_writes=_stale_writes(model, checked),
    )


class Starts:
    """Snapshots of schedules' starts, and the live models they restore: one per process.

    One model per charm set (the last few used) is kept alive, with a snapshot of it as
    new; a schedule resumes from the longest of its leading parts that has a snapshot.
    A snapshot is keyed by the steps before it, the start's seed, and, past the start,
    the schedule's seed; with the verdict too (whether failed hooks and stale writes
    fail a check), since it decides whether a check passed.

    Args:
        models: how many charm sets keep a live model.
    """

    def __init__(self, *, models: int = 2):
        self._limit = models
        self._models: collections.OrderedDict[
            tuple[tuple[str, str], ...], tuple[Model, Snapshot]
        ] = collections.OrderedDict()
        self._snapshots: dict[tuple[object, ...], tuple[Snapshot, dict[frozenset[str], int]]] = {}
        self.restored = 0  # runs that began from a snapshot of a start, not from scratch

    def resume(
        self,
        schedule: Scenario,
        charms: dict[str, pathlib.Path],
        seed: int,
        verdict: tuple[bool, bool],
    ) -> tuple[ModelRunner, int]:
        """A runner on a model restored for ``schedule``, and how many steps are done."""
        charm_key = tuple(sorted((role, str(path)) for role, path in charms.items()))
        entry = self._models.pop(charm_key, None)
        if entry is None:
            model = Model(seed=0, hook_timeout=HOOK_TIMEOUT)
            entry = (model, model.snapshot())
            while len(self._models) >= self._limit:
                _, (old, _) = self._models.popitem(last=False)
                old.close()
                self._snapshots = {k: v for k, v in self._snapshots.items() if k[0] != id(old)}
        self._models[charm_key] = entry
        model, blank = entry
        runner = ModelRunner(model, charms, stale_writes_fail=verdict[1])
        for done in range(len(schedule.steps), 0, -1):
            key = self._key(model, schedule, done, seed, verdict)
            saved = self._snapshots.get(key)
            if saved is not None:
                snapshot, relations = saved
                model.restore(snapshot)
                if done == start_length(schedule):
                    model.reseed(seed)
                runner.relations = dict(relations)
                self.restored += 1
                return runner, done
        model.restore(blank, seed=start_seed(seed))
        if start_length(schedule) == 0:
            model.reseed(seed)
        return runner, 0

    def reached(
        self,
        schedule: Scenario,
        index: int,
        shared: int,
        seed: int,
        verdict: tuple[bool, bool],
        runner: ModelRunner,
    ) -> None:
        """Step ``index`` passed: keep a snapshot if it is a check within the shared part."""
        if index > (shared or start_length(schedule)):
            return
        if not isinstance(schedule.steps[index - 1], Check):
            return
        key = self._key(runner.model, schedule, index, seed, verdict)
        if key in self._snapshots:
            return
        try:
            snapshot = runner.model.snapshot()
        except ModelError:  # a check that passed with a hook still running: go on without
            return
        self._snapshots[key] = (snapshot, dict(runner.relations))

    @staticmethod
    def _key(
        model: Model, schedule: Scenario, done: int, seed: int, verdict: tuple[bool, bool]
    ) -> tuple[object, ...]:
        past_start = done > start_length(schedule)
        return (
            id(model),
            repr(schedule.steps[:done]),
            start_seed(seed),
            seed if past_start else None,
            verdict,
        )

    def close(self) -> None:
        """Close every live model."""
        for model, _ in self._models.values():
            model.close()
        self._models.clear()
        self._snapshots.clear()


def _stale_writes(model: Model, apps: list[str]) -> tuple[str, ...]:
    """Each stale write of ``apps``' units so far."""
    return tuple(write for app in apps for write in model.stale_writes(app))


def _failed_hooks(model: Model, apps: list[str]) -> tuple[HookFailure, ...]:
    """Each hook of ``apps`` that failed so far, whatever made it fail."""
    return tuple(failure for app in apps for failure in model.failed_hooks(app))


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
        stale_writes=_stale_writes(model, checked),
    )


_SHARED: list[Starts] = []


def shared_starts() -> Starts:
    """This process's :class:`Starts`, made on first use and closed when the process ends."""
    if not _SHARED:
        starts = Starts()
        _SHARED.append(starts)
        atexit.register(close_shared_starts)
        # A multiprocessing worker ends without atexit; its finalizers run.
        multiprocessing.util.Finalize(None, close_shared_starts, exitpriority=10)
    return _SHARED[0]


def close_shared_starts() -> None:
    """Close this process's :class:`Starts` (its live models), if it made one."""
    while _SHARED:
        _SHARED.pop().close()
