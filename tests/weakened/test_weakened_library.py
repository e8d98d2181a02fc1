"""Each weakened copy of the library is caught by ``jujusim explore`` from a default start.

The copies are made from the current ``lib/src/k8s_labels`` (``weakened.py``). Each is
explored with the plan ``jujusim explore`` runs when given no option but the consumer
(the same seed, count, length, weights, verdict and jobs a user gets), stopping at the first
violation; the real library must hold that whole run. A weakening no default run catches
is marked ``xfail(strict=True)`` with the reason: once one catches it, the mark must go.
"""

from __future__ import annotations

import pathlib

import click
import pytest
import weakened

from jujusim.cli import explore_command
from jujusim.explore import FaultWeights, Plan, Result, explore

ROOT = pathlib.Path(__file__).parents[2]
PROVIDER = ROOT / 'charms' / 'beacon-stub'
WEAKENINGS = {w.name: w for w in weakened.WEAKENINGS}
NOT_CAUGHT_TODAY: dict[str, str] = {}


def default_plan() -> Plan:
    """The plan of ``jujusim explore --consumer C``: the command's own option defaults."""
    context = click.Context(explore_command)
    default = {param.name: param.get_default(context) for param in explore_command.params}
    return Plan(
        units=int(default['units']),  # pyright: ignore[reportArgumentType]
        schedules=int(default['schedules']),  # pyright: ignore[reportArgumentType]
        seed=int(default['seed']),  # pyright: ignore[reportArgumentType]
        length=int(default['length']),  # pyright: ignore[reportArgumentType]
        weights=FaultWeights.parse(str(default['weights'])),
        hooks_must_not_fail=not default['hooks_may_fail'],
    )


def default_jobs() -> int:
    """``jujusim explore``'s default ``--jobs``: one, in the command's own process.

    Also the fastest here: a run that stops at its first violation spends more starting
    and stopping a second process (importing, deploying again) than the second job saves.
    """
    context = click.Context(explore_command)
    [jobs] = [p.get_default(context) for p in explore_command.params if p.name == 'jobs']
    return int(jobs)  # pyright: ignore[reportArgumentType]


def first_violation(consumer: pathlib.Path) -> tuple[Result | None, list[Result]]:
    """Explore the default plan as the command does by default; stop at the first violation.

    Schedules run in order, so the violation found is the first of the run.
    """
    results: list[Result] = []
    charms = {'consumer': consumer, 'provider': PROVIDER}
    for result in explore(default_plan(), charms, jobs=default_jobs()):
        results.append(result)
        if result.outcome is not None and result.outcome.failed:
            return result, results
    return None, results


def test_the_default_plan_is_the_commands():
    # Read from the command's options: a flag's default is resolved as click resolves it.
    plan = default_plan()
    assert (plan.units, plan.schedules, plan.seed, plan.length) == (3, 50, 0, 10)
    assert plan.weights == FaultWeights()
    assert plan.hooks_must_not_fail
    assert default_jobs() == 1


@pytest.mark.chaos  # 50 schedules: about 25 s here
def test_the_library_holds_the_default_run(tmp_path: pathlib.Path):
    # A run that fails the real library proves nothing about a weakened one.
    consumer = weakened.consumer_copy(tmp_path / 'mesh-consumer', None)
    failing, results = first_violation(consumer)
    assert failing is None, failing
    assert len(results) == default_plan().schedules
    skipped = [r for r in results if r.outcome is None]
    assert len(skipped) <= len(results) // 10, skipped


@pytest.mark.chaos  # up to 50 schedules each; most are caught within a few
@pytest.mark.parametrize(
    'name',
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=NOT_CAUGHT_TODAY[name])]
            if name in NOT_CAUGHT_TODAY
            else [],
        )
        for name in WEAKENINGS
    ],
)
def test_each_weakened_library_is_caught_from_a_default_start(tmp_path: pathlib.Path, name: str):
    consumer = weakened.consumer_copy(tmp_path / 'mesh-consumer', WEAKENINGS[name])
    failing, results = first_violation(consumer)
    assert failing is not None, f'{name}: {len(results)} default schedules held'


def test_a_weakening_whose_anchor_is_gone_fails_loudly(tmp_path: pathlib.Path):
    library = tmp_path / 'k8s_labels'
    library.mkdir()
    (library / '_plan.py').write_text('fence = base.open and claim\n')
    with pytest.raises(weakened.AnchorMissingError, match='no-fencing: expected 1 of'):
        weakened.weaken(library, WEAKENINGS['no-fencing'])


def test_every_weakening_applies_to_the_current_library(tmp_path: pathlib.Path):
    # Also guards the anchors: each weakening changes the copy, nothing else does.
    for name, weakening in WEAKENINGS.items():
        consumer = weakened.consumer_copy(tmp_path / name, weakening)
        changed = [
            path.name
            for path in sorted((consumer / 'lib' / 'k8s_labels').glob('*.py'))
            if path.read_text() != (weakened.LIBRARY / path.name).read_text()
        ]
        assert changed == sorted({edit.file for edit in weakening.edits}), name
