"""``jujusim explore`` and ``jujusim replay`` end to end, and their bad input."""

import pathlib
import shutil

import pytest
from click.testing import CliRunner
from explore_helpers import only_weights

from jujusim.cli import main

ROOT = pathlib.Path(__file__).parents[3]


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
    # The replay judges as explore did: failed hooks count by default.
    seed = replay_line.split(' --seed ', 1)[1].split(' ', 1)[0]
    assert replay_line == (
        f'Replay: jujusim replay {saved} --consumer noop-consumer --seed {seed} '
        '--hooks-must-not-fail --unfired-faults-allowed'
    )
    assert saved.read_text().startswith(f'# jujusim replay {saved}')

    replayed = CliRunner().invoke(
        main, ['replay', str(saved), '--consumer', 'noop-consumer', '--seed', seed]
    )
    assert replayed.exit_code == 1, replayed.output
    assert "expected 'a'" in replayed.output or "expected 'b'" in replayed.output

    held = CliRunner().invoke(main, ['replay', str(saved), '--consumer', 'mesh-consumer'])
    assert held.exit_code == 0, held.output
    assert 'R1-R4 held at every settle point' in held.output


def test_replay_fails_a_file_whose_planned_kill_never_fired(tmp_path: pathlib.Path):
    # mesh-consumer never deletes its Service: the kill the file plans cannot fire, so the
    # run did not test what the file says. The explorer's own files ask not to count it.
    path = tmp_path / 'never.yaml'
    path.write_text(
        'steps:\n'
        '- deploy: {app: consumer, charm: consumer, units: 2, trust: true}\n'
        '- deploy: {app: provider, charm: provider}\n'
        '- integrate: {apps: [consumer, provider]}\n'
        '- settle\n'
        '- kill: {unit: consumer/leader, request: {method: delete, kind: Service}}\n'
        '- set-labels: {app: provider, labels: {team: a}}\n'
        '- settle\n'
        '- check: {app: consumer}\n'
    )
    strict = CliRunner().invoke(main, ['replay', str(path)])
    assert strict.exit_code == 1, strict.output
    assert 'DELETE Service' in strict.output and 'never happened' in strict.output
    allowed = CliRunner().invoke(main, ['replay', str(path), '--unfired-faults-allowed'])
    assert allowed.exit_code == 0, allowed.output


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['explore', '--shard', '3/2'], '--shard 3/2: write I/N'),
        (['explore', '--shard', 'x'], '--shard x: write I/N'),
        (['explore', '--weights', 'kil=1'], "--weights: 'kil=1': expected name=weight"),
        (['explore', '--consumer', 'nope'], "--consumer nope: 'nope' is neither"),
        (['explore', '--consumer', '.'], 'not a charm'),
        (['explore', '--weights', 'kill=inf'], 'a weight is a finite number'),
        (['explore', '--consumer', ''], "'' is neither a charm folder nor one of"),
        (['explore', '--kubeconfig', ''], '--kubeconfig .: cannot write it: Is a directory'),
        (['explore', '--consumer', 'badyaml'], 'charmcraft.yaml: not valid YAML: line 2:'),
        (['replay', 'missing.yaml'], 'missing.yaml: cannot read'),
        (['replay', 'bad.yaml'], "unknown step 'teleport'"),
        (['replay', 'binary.yaml'], 'binary.yaml: cannot read: not UTF-8 text'),
        (['replay', 'deep.yaml'], 'nested too deeply'),
        (['replay', 'endless.yaml'], 'seconds must be above 0 and at most 86400'),
        (['replay', 'nan.yaml'], 'seconds must be above 0 and at most 86400'),
        (['replay', 'many.yaml'], 'units must be from 0 to 20'),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'bad.yaml').write_text('steps:\n- teleport: {to: mars}\n')
    (tmp_path / 'badyaml').mkdir()
    (tmp_path / 'badyaml' / 'charmcraft.yaml').write_text('name: [unclosed\n')
    (tmp_path / 'binary.yaml').write_bytes(b'steps:\n- \xac\xed\x00\x05\n')
    (tmp_path / 'deep.yaml').write_text('steps: ' + '[' * 5000 + ']' * 5000 + '\n')
    (tmp_path / 'endless.yaml').write_text('steps:\n- stall: {unit: c/0, seconds: .inf}\n')
    (tmp_path / 'nan.yaml').write_text('steps:\n- stall: {unit: c/0, seconds: .nan}\n')
    (tmp_path / 'many.yaml').write_text('steps:\n- scale: {app: c, units: 100000}\n')
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith('Error: ')
    assert message in line


def test_bad_click_values_exit_2():
    for args in (['explore', '--units', '0'], ['explore', '--jobs', '0']):
        assert CliRunner().invoke(main, args).exit_code == 2


def test_a_run_in_which_no_schedule_could_run_is_not_a_pass(tmp_path: pathlib.Path):
    # A consumer with two service-mesh endpoints: `juju integrate` cannot tell which to
    # relate, so every schedule stops at its prelude: skipped, none judged.
    consumer = tmp_path / 'two-endpoints'
    shutil.copytree(ROOT / 'tests' / 'charms' / 'noop-consumer', consumer)
    metadata = consumer / 'charmcraft.yaml'
    metadata.write_text(
        metadata.read_text() + '  service-mesh-2:\n    interface: service_mesh\n    limit: 1\n'
    )
    result = CliRunner().invoke(
        main, ['explore', '--consumer', str(consumer), '--schedules', '2', '--length', '1']
    )
    assert 'skipped            2' in result.output, result.output
    assert 'cannot tell which endpoint' in result.output
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1] == 'Error: no schedule could run: see the reasons above'
