"""``jujusim conformance`` end to end, the failed-hooks property, and bad input."""

import pathlib
import shlex

import pytest
from click.testing import CliRunner, Result
from explore_helpers import no_conflict_retry, only_weights

from jujusim.cli import main
from jujusim.explore import FAILED_HOOK, STALE_WRITE, prelude, run_schedule
from jujusim.model import HookFailureKind
from jujusim.scenarios import ApiError, Check, Scenario, SetLabels, Settle

ROOT = pathlib.Path(__file__).resolve().parents[3]
MESH_CONSUMER = ROOT / 'charms' / 'mesh-consumer'
CHARMS = {'consumer': MESH_CONSUMER, 'provider': ROOT / 'charms' / 'beacon-stub'}
# Only label changes and a few 409 storms are drawn: schedules that meet the retry (the
# generator draws fewer conflicts in a schedule than the library's 5 attempts).
ONLY_409 = only_weights(set_labels=6, api_409=1)
# One 409 on the leader as the labels change.
ONE_409 = Scenario(
    name='one-409',
    description='A 409 on the leader as the labels change.',
    steps=(
        *prelude(1),
        ApiError(status=409, unit='consumer/0', method='patch', count=1),
        SetLabels(app='beacon', labels={'foo': 'a'}),
        Settle(),
        Check(app='consumer'),
    ),
)


def table(output: str, consumers: list[str]) -> dict[str, dict[str, str]]:
    """The printed table as {row: {consumer: cell}}, read by the header's column starts."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == consumers)
    starts = [lines[header].index(name) for name in consumers]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        bounds = [*starts, len(line)]
        rows[line[: starts[0]].strip()] = {
            name: line[bounds[i] : bounds[i + 1]].strip() for i, name in enumerate(consumers)
        }
    return rows


def saved_file(cell: str) -> pathlib.Path:
    assert cell.startswith('no (') and cell.endswith(')'), cell
    return pathlib.Path(cell[len('no (') : -1])


def conformance(
    out: pathlib.Path, consumers: list[str], *options: str
) -> dict[str, dict[str, str]]:
    """Run ``jujusim conformance`` on ``consumers`` with ``options``; return its table."""
    args = ['conformance', *(a for c in consumers for a in ('--consumer', c)), '--out', str(out)]
    result = CliRunner().invoke(main, [*args, *options])
    assert result.exit_code == 0, result.output
    return table(result.output, [pathlib.Path(c).name for c in consumers])


def replay(path: pathlib.Path) -> Result:
    """Run the replay command written at the head of a saved schedule file."""
    command = shlex.split(path.read_text().splitlines()[0].removeprefix('# '))
    assert command[:3] == ['jujusim', 'replay', str(path)]
    return CliRunner().invoke(main, command[1:])


def test_conformance_says_yes_for_mesh_consumer_and_links_noop_consumers_failure(
    tmp_path: pathlib.Path,
):
    out = tmp_path / 'conformance'
    cells = conformance(
        out, ['mesh-consumer', 'noop-consumer'], '--schedules', '1', '--shrink-budget', '2'
    )
    assert set(cells) >= {'R1-R3', 'R4', 'no unit in error', 'rollout completes', 'no hook fails'}
    assert {row['mesh-consumer'] for row in cells.values()} == {'yes'}
    path = saved_file(cells['R1-R3']['noop-consumer'])
    assert path.parent == out and path.is_file()
    replayed = replay(path)
    assert replayed.exit_code == 1, replayed.output
    assert 'broken: R1-R3' in replayed.output
    # The schedule shows the consumer's fault, not the schedule's: the library holds it.
    held = CliRunner().invoke(main, ['replay', str(path), '--consumer', 'mesh-consumer'])
    assert held.exit_code == 0, held.output


def test_a_hook_that_fails_on_the_way_is_a_no_for_the_failed_hooks_property(
    tmp_path: pathlib.Path,
):
    """The copy that gives up at the first 409 gets the labels right through Juju's retries.

    R1-R4 cannot tell it from mesh-consumer; the failed-hooks row does.
    """
    variant = no_conflict_retry(tmp_path)
    cells = conformance(
        tmp_path / 'conformance',
        ['mesh-consumer', str(variant)],
        *('--schedules', '1', '--seed', '2', '--units', '1', '--weights', ONLY_409),
        *('--shrink-budget', '3'),
    )
    assert {row['mesh-consumer'] for row in cells.values()} == {'yes'}
    assert cells['R1-R3']['no-conflict-retry'] == 'yes'
    path = saved_file(cells['no hook fails']['no-conflict-retry'])
    replayed = replay(path)
    assert replayed.exit_code == 1, replayed.output
    assert f'broken: {FAILED_HOOK}' in replayed.output
    assert '--hooks-must-not-fail' in path.read_text().splitlines()[0]


def test_failed_hooks_fail_a_check_only_when_asked():
    schedule = ONE_409
    # The library retries the 409 within the hook: nothing failed.
    strict = run_schedule(schedule, CHARMS, seed=0, hooks_must_not_fail=True)
    assert not strict.failed, strict.problems
    assert strict.failed_hooks == ()


def test_failed_hooks_are_recorded_and_fail_a_check_when_asked(tmp_path: pathlib.Path):
    charms = {**CHARMS, 'consumer': no_conflict_retry(tmp_path)}
    schedule = ONE_409
    lenient = run_schedule(schedule, charms, seed=0)
    assert not lenient.failed, lenient.problems
    assert lenient.failed_hooks
    assert all(f.kind is HookFailureKind.CHARM_RAISED for f in lenient.failed_hooks)
    assert all(any('409' in e for e in f.api_errors) for f in lenient.failed_hooks)
    strict = run_schedule(schedule, charms, seed=0, hooks_must_not_fail=True)
    assert strict.failure_class == (FAILED_HOOK,)
    assert strict.failed_step == len(schedule.steps)


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--consumer', 'nobody'], "--consumer nobody: 'nobody' is neither a charm folder"),
        (['--consumer', 'mesh-consumer', '--consumer', 'mesh-consumer'], 'the same consumer'),
        (['--schedules', '0'], "Invalid value for '--schedules'"),
        (['--weights', 'kill=x'], '--weights'),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str):
    result = CliRunner().invoke(main, ['conformance', *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert 'Traceback' not in result.output


def test_explore_counts_a_failed_hook_unless_hooks_may_fail(tmp_path: pathlib.Path):
    variant = no_conflict_retry(tmp_path)
    args = ['explore', '--consumer', str(variant), '--schedules', '1', '--seed', '2']
    args += ['--units', '1', '--weights', ONLY_409, '--shrink-budget', '0']
    args += ['--out', str(tmp_path / 'out')]
    strict = CliRunner().invoke(main, args)
    assert strict.exit_code == 1, strict.output
    assert f'{FAILED_HOOK}: 1 schedule(s)' in strict.output
    # The labels end right through Juju's retries: R1-R4 alone hold.
    lenient = CliRunner().invoke(main, [*args, '--hooks-may-fail'])
    assert lenient.exit_code == 0, lenient.output


EVERY_UNIT = ROOT / 'tests' / 'charms' / 'adr-every-unit'
# Three label changes: in one at least, a non-leader's write lands after the leader's.
THREE_CHANGES = Scenario(
    name='three-changes',
    description='Three label changes, each settled and checked.',
    steps=(
        *prelude(3),
        *(
            step
            for value in ('a', 'b', 'c')
            for step in (
                SetLabels(app='beacon', labels={'foo': value}),
                Settle(),
                Check(app='consumer'),
            )
        ),
    ),
)


def test_stale_writes_are_recorded_and_fail_a_check_unless_allowed():
    charms = {**CHARMS, 'consumer': EVERY_UNIT}
    strict = run_schedule(THREE_CHANGES, charms, seed=0)
    assert strict.failure_class == (STALE_WRITE,), strict.problems
    allowed = run_schedule(THREE_CHANGES, charms, seed=0, stale_writes_fail=False)
    assert not allowed.failed, allowed.problems
    assert allowed.stale_writes
    assert all(', never leader, ' in w for w in allowed.stale_writes)
    # The library makes none.
    assert run_schedule(THREE_CHANGES, CHARMS, seed=0, stale_writes_fail=False).stale_writes == ()


def test_stale_writes_hide_nothing_else_a_schedule_shows(tmp_path: pathlib.Path):
    # The upstream library writes from every unit: almost every change makes a stale write.
    # Judged apart, the same schedules still show where its labels go wrong.
    cells = conformance(
        tmp_path / 'conformance', ['mesh-consumer', 'upstream-service-mesh'], '--jobs', '2'
    )
    assert {row['mesh-consumer'] for row in cells.values()} == {'yes'}
    for row, kind in (('R1-R3', 'R1-R3'), ("no write over a later leader's", STALE_WRITE)):
        path = saved_file(cells[row]['upstream-service-mesh'])
        command = path.read_text().splitlines()[0]
        assert ('--stale-writes-allowed' in command) == (kind != STALE_WRITE), command
        replayed = replay(path)
        assert replayed.exit_code == 1, replayed.output
        assert f'broken: {kind}' in replayed.output
