"""Schedules started from a snapshot of their shared start run as they do from scratch."""

import pathlib
import shlex

import pytest
from click.testing import CliRunner

from jujusim import _conformance
from jujusim.cli import main
from jujusim.explore import Plan, run_schedule
from jujusim.explore._run import shared_starts, start_length
from jujusim.scenarios import Scenario

ROOT = pathlib.Path(__file__).parents[3]
PROVIDER = ROOT / 'charms' / 'beacon-stub'
ADR_ORIGINAL = {'consumer': ROOT / 'tests' / 'charms' / 'adr-original', 'provider': PROVIDER}
MESH_CONSUMER = {'consumer': ROOT / 'charms' / 'mesh-consumer', 'provider': PROVIDER}


def exhaustive(name: str) -> tuple[Scenario, int, int]:
    """The exhaustive schedule for two units called ``name``, its seed and shared steps."""
    plan = Plan(units=2, schedules=0, seed=0, exhaustive=True)
    for index in plan.indices():
        schedule, seed = plan.schedule(index)
        if schedule.name == name:
            return schedule, seed, plan.shared_steps()
    raise LookupError(name)


@pytest.mark.parametrize(
    'name',
    [
        # The ADR's original design fails these (a kill during a change, then a reset)...
        'exhaustive-kill-consumer-0-after-call-1-of-a-change',
        'exhaustive-kill-consumer-0-after-call-1',
        # ...and holds this one.
        'exhaustive-kill-consumer-0-after-call-3-of-a-change',
    ],
)
def test_an_exhaustive_schedule_runs_from_snapshots_as_from_scratch(name: str):
    schedule, seed, shared = exhaustive(name)
    assert shared > start_length(schedule)  # the set shares more than the start
    scratch = run_schedule(schedule, ADR_ORIGINAL, seed=seed, keep_trace=True, fresh=True)
    restored_before = shared_starts().restored
    first = run_schedule(schedule, ADR_ORIGINAL, seed=seed, keep_trace=True, shared=shared)
    again = run_schedule(schedule, ADR_ORIGINAL, seed=seed, keep_trace=True, shared=shared)
    assert shared_starts().restored > restored_before  # at least the second one was
    assert first == scratch
    assert again == scratch


def test_random_schedules_run_from_the_start_snapshot_as_from_scratch():
    plan = Plan(units=2, schedules=2, seed=7, length=6)
    for index in plan.indices():
        schedule, seed = plan.schedule(index)
        scratch = run_schedule(schedule, MESH_CONSUMER, seed=seed, keep_trace=True, fresh=True)
        restored_before = shared_starts().restored
        for _ in range(2):
            outcome = run_schedule(
                schedule, MESH_CONSUMER, seed=seed, keep_trace=True, shared=plan.shared_steps()
            )
            assert outcome == scratch
        assert shared_starts().restored > restored_before


def test_a_schedule_found_from_snapshots_replays_from_scratch(tmp_path: pathlib.Path):
    schedule, seed, shared = exhaustive('exhaustive-kill-consumer-0-after-call-1')
    run_schedule(schedule, ADR_ORIGINAL, seed=seed, shared=shared)  # the snapshots exist
    found = run_schedule(schedule, ADR_ORIGINAL, seed=seed, shared=shared)
    assert found.failed
    path = _conformance.save_schedule(tmp_path, schedule, 'adr-original', seed)
    command = shlex.split(path.read_text().splitlines()[0].removeprefix('# '))
    assert command[:2] == ['jujusim', 'replay']
    replayed = CliRunner().invoke(main, command[1:])
    assert replayed.exit_code == 1, replayed.output
    for problem in found.problems:
        assert problem in replayed.output
