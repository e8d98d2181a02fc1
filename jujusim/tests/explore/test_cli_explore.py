"""``jujusim explore`` and ``jujusim replay`` end to end, and their bad input."""

import pathlib

import pytest
from click.testing import CliRunner
from explore_helpers import only_weights

from jujusim.cli import main


def test_explore_fails_a_consumer_that_never_labels_and_the_saved_file_replays_it(
    tmp_path: pathlib.Path,
):
    out = tmp_path / 'failures'
    result = CliRunner().invoke(
        main,
        [
            'explore',
            '--consumer',
            'noop-consumer',
            '--schedules',
            '1',
            '--length',
            '2',
            '--weights',
            only_weights(set_labels=1),
            '--shrink-budget',
            '2',
            '--out',
            str(out),
        ],
    )
    assert result.exit_code == 1, result.output
    assert 'violated           1' in result.output
    assert 'broken: R1-R3: labels match the relation data' in result.output
    assert 'Timeline (virtual seconds; reads left out):' in result.output
    [saved] = out.glob('*.yaml')
    replay_line = next(line for line in result.output.splitlines() if line.startswith('Replay: '))
    assert (
        replay_line
        == f'Replay: jujusim replay {saved} --consumer noop-consumer --seed '
        + (replay_line.rsplit(' ', 1)[1])
    )
    seed = replay_line.rsplit(' ', 1)[1]
    assert saved.read_text().startswith(f'# jujusim replay {saved}')

    replayed = CliRunner().invoke(
        main, ['replay', str(saved), '--consumer', 'noop-consumer', '--seed', seed]
    )
    assert replayed.exit_code == 1, replayed.output
    assert "expected 'a'" in replayed.output or "expected 'b'" in replayed.output

    held = CliRunner().invoke(main, ['replay', str(saved), '--consumer', 'mesh-consumer'])
    assert held.exit_code == 0, held.output
    assert 'R1-R4 held at every settle point' in held.output


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['explore', '--shard', '3/2'], '--shard 3/2: write I/N'),
        (['explore', '--shard', 'x'], '--shard x: write I/N'),
        (['explore', '--weights', 'kil=1'], "--weights: 'kil=1': expected name=weight"),
        (['explore', '--consumer', 'nope'], "--consumer nope: 'nope' is neither"),
        (['explore', '--consumer', '.'], 'not a charm'),
        (['replay', 'missing.yaml'], 'missing.yaml: cannot read'),
        (['replay', 'bad.yaml'], "unknown step 'teleport'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'bad.yaml').write_text('steps:\n- teleport: {to: mars}\n')
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith('Error: ')
    assert message in line


def test_bad_click_values_exit_2():
    for args in (['explore', '--units', '0'], ['explore', '--jobs', '0']):
        assert CliRunner().invoke(main, args).exit_code == 2
