"""Exploration that finds what matters: the ADR counterexample, each weakened library.

Run: ``uv run --group unit python -m benchmarks bench_explore_finding``. Prints figures
beside their targets (``issues show 15``, "Figures"); nothing passes or fails on a timing.

1. Time to find the ADR counterexample against the ADR's original design
   (``tests/charms/adr-original``) from a random start: for each of ``SEEDS`` run seeds,
   the schedules ``jujusim explore`` draws with its default settings run one after
   another until one leaves a label that is no longer asked for (R1-R3, "expected
   absent"; not a reserved key of a refused data set, which is another finding); the
   median wall time over the seeds. Beside it, the floor: running that one
   counterexample schedule (``{"foo": "bar"}`` applied, then reset to ``{}`` as the
   leader's pod is deleted by force), the best of ``FLOOR_REPEATS``. Target: at most 3x.
2. Schedules needed to catch each weakened library (``tests/weakened/weakened.py``): the
   1-based index of the first violating schedule of the default plan (the default seed)
   and of the next ``EXTRA_SEEDS`` seeds, at most ``CAP`` schedules each; then what the
   catch needs: the step kinds left in the default seed's catch once shrunk (the same
   shrinking as ``jujusim explore``, ``SHRINK_BUDGET`` runs). A fault kind that no
   catch needs is listed as such.
"""

from __future__ import annotations

import json
import pathlib
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping

from jujusim.check import read_mesh_databag
from jujusim.explore import FaultWeights, Outcome, Plan, explore, prelude, run_schedule, shrink
from jujusim.explore._generate import REFUSED
from jujusim.scenarios import (
    ApiError,
    Check,
    Concurrently,
    DeletePod,
    Scenario,
    SetLabels,
    Settle,
    Step,
    step_name,
)

ROOT = pathlib.Path(__file__).parent.parent
PROVIDER = ROOT / 'charms' / 'beacon-stub'
ADR_ORIGINAL = ROOT / 'tests' / 'charms' / 'adr-original'
SEEDS = 20
CAP = 50  # the default count of `jujusim explore`
EXTRA_SEEDS = 1
FLOOR_REPEATS = 3
SHRINK_BUDGET = 12

sys.path.insert(0, str(ROOT / 'tests' / 'weakened'))
import weakened  # noqa: E402 - a test helper, found by the path above


def default_plan(seed: int, schedules: int = CAP) -> Plan:
    """``jujusim explore``'s defaults (3 units, length 10, default weights, failed hooks
    judged), with this seed and count."""
    return Plan(
        units=3,
        schedules=schedules,
        seed=seed,
        length=10,
        weights=FaultWeights(),
        hooks_must_not_fail=True,
    )


def mesh_labels_refused(labels: Mapping[str, str]) -> bool:
    """Whether a consumer must refuse provider data asking for ``labels``."""
    return read_mesh_databag({'labels': json.dumps(dict(labels))}).refused is not None


def is_adr_counterexample(outcome: Outcome) -> bool:
    """A label left on an object although no longer asked for, and not a refused key."""
    return any(
        p.startswith('R1-R3') and 'expected absent' in p and not any(k in p for k in REFUSED)
        for p in outcome.problems
    )


def counterexample() -> Scenario:
    reset = Concurrently(
        steps=(
            SetLabels(app='beacon', labels={}),
            DeletePod(unit='consumer/leader', force=True),
        )
    )
    return Scenario(
        name='adr-counterexample',
        description='{"foo": "bar"} applied, then reset to {} as the leader pod dies.',
        steps=(
            *prelude(3),
            SetLabels(app='beacon', labels={'foo': 'bar'}),
            Settle(),
            Check(app='consumer'),
            reset,
            Settle(),
            Check(app='consumer'),
        ),
    )


def time_to_find_adr() -> None:
    charms = {'consumer': ADR_ORIGINAL, 'provider': PROVIDER}
    floors: list[float] = []
    for _ in range(FLOOR_REPEATS):
        start = time.perf_counter()
        outcome = run_schedule(counterexample(), charms, seed=0, hooks_must_not_fail=True)
        floors.append(time.perf_counter() - start)
        assert is_adr_counterexample(outcome), outcome  # the floor must be the counterexample
    floor = min(floors)
    times: list[float] = []
    counts: list[int] = []
    for seed in range(SEEDS):
        start = time.perf_counter()
        ran = 0
        for result in explore(default_plan(seed), charms):
            ran += 1
            if result.outcome is not None and is_adr_counterexample(result.outcome):
                break
        else:
            ran = CAP + 1  # not found within the cap: counted as more
        times.append(time.perf_counter() - start)
        counts.append(ran)
    median = statistics.median(times)
    print(
        f'ADR counterexample against adr-original, from a random start ({SEEDS} seeds):'
        f' median {median:.2f} s, schedules needed median {statistics.median(counts):g}'
        f' (min {min(counts)}, max {max(counts)}{"+" if max(counts) > CAP else ""})'
    )
    print(
        f'  floor: that one schedule alone {floor:.2f} s; ratio {median / floor:.1f}x'
        ' (target: at most 3x)'
    )


def kinds_of(steps: tuple[Step, ...]) -> list[str]:
    names: list[str] = []
    for step in steps:
        for leaf in step.steps if isinstance(step, Concurrently) else (step,):
            name = step_name(leaf)
            if isinstance(leaf, ApiError):
                name = f'api-error {leaf.status}'
            if isinstance(leaf, SetLabels) and mesh_labels_refused(leaf.labels):
                name = 'set-labels (refused)'
            if name not in ('settle', 'check') and name not in names:
                names.append(name)
    return names


def schedules_to_catch_weakened() -> None:
    print(f'Schedules needed to catch each weakened library (default plan; at most {CAP}):')
    needed: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for weakening in weakened.WEAKENINGS:
            consumer = weakened.consumer_copy(pathlib.Path(tmp) / weakening.name, weakening)
            charms = {'consumer': consumer, 'provider': PROVIDER}
            found: list[str] = []
            caught: tuple[Plan, int, Outcome] | None = None
            for seed in range(1 + EXTRA_SEEDS):
                plan = default_plan(seed)
                index = None
                for result in explore(plan, charms):
                    if result.outcome is not None and result.outcome.failed:
                        index = result.index
                        if caught is None:
                            caught = (plan, index, result.outcome)
                        break
                found.append(f'{index + 1}' if index is not None else f'>{CAP}')
            line = f'  {weakening.name:<34} seed 0: {found[0]:>4}   next seeds: '
            line += ', '.join(found[1:])
            if caught is not None:
                plan, index, outcome = caught
                schedule, _ = plan.schedule(index)
                shrunk = shrink(
                    schedule, outcome, charms, budget=SHRINK_BUDGET, hooks_must_not_fail=True
                )
                kinds = kinds_of(shrunk.schedule.steps[len(prelude(3)) :])
                needed.update(kinds)
                broken = '/'.join(outcome.failure_class)
                line += f'   needs: {", ".join(kinds) or "(the prelude)"} ({broken})'
            print(line)
    faults = ['kill', 'stall', 'leader-change', 'delete-pod', 'foreign-labels', 'juju-rewrite']
    faults += ['api-error 409', 'remove-relation', 'set-labels (refused)', 'trust', 'scale']
    faults += ['refresh']
    unused = [f for f in faults if f not in needed]
    print(f'  step kinds no shrunk catch needs: {", ".join(unused) or "none"}')


def main() -> None:
    time_to_find_adr()
    schedules_to_catch_weakened()


if __name__ == '__main__':
    main()
