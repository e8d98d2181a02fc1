"""``jujusim adr`` and ``jujusim demo``: the ADR counterexample from the command line."""

import pathlib
import re
import shutil

import pytest
from click.testing import CliRunner

from jujusim.cli import main

ROOT = pathlib.Path(__file__).parents[2]


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> pathlib.Path:
    """Run from a folder outside the repository: the named charms must still be found."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.usefixtures('elsewhere')
def test_adr_mesh_consumer_holds_and_the_original_design_breaks():
    result = CliRunner().invoke(main, ['adr'])
    assert result.exit_code == 0, result.output
    assert '=> mesh-consumer holds R1-R4' in result.output
    assert '=> adr-original breaks R1-R4' in result.output
    assert "label 'foo' is 'bar', expected absent" in result.output


def test_adr_fails_when_a_consumer_does_not_do_as_expected():
    result = CliRunner().invoke(
        main,
        ['adr', '--consumer', str(ROOT / 'tests/charms/adr-original'), '--expect-broken', 'none'],
    )
    assert result.exit_code == 1
    assert 'not as expected: adr-original' in result.output


def test_adr_fails_a_consumer_that_never_applies_the_labels():
    # Its state after the reset is right (nothing there to remove); the labels it never
    # applied once {"foo": "bar"} was published are what must fail it.
    result = CliRunner().invoke(
        main, ['adr', '--consumer', 'noop-consumer', '--expect-broken', 'none']
    )
    assert result.exit_code == 1, result.output
    assert 'R1-R4 after the reset: hold' in result.output
    assert "R1-R3: Service/consumer label 'foo' is absent, expected 'bar'" in result.output
    assert 'not as expected: noop-consumer' in result.output


def _table(output: str) -> dict[str, list[str]]:
    """The demo's R1-R4 table: row name -> cells, the header row under ''."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('R1-R4 per consumer'))
    table: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith('  '):
            break
        name, cells = line[2:12].strip(), line[12:].split()
        table.setdefault(name, cells)
    return table


def test_demo_catches_the_original_design_and_mesh_consumer_holds():
    result = CliRunner().invoke(main, ['demo', '--pace', '0', '--schedules', '2'])
    assert result.exit_code == 0, result.output
    out = result.output
    for requirement in ('R1: labels match the relation data after a leader change', 'R4: '):
        assert requirement in out
    assert 'virtual seconds, not wall-clock time' in out
    # The original design: caught, with the timeline of its failing run and what broke.
    original = out[out.index('1. The ADR counterexample') : out.index('2. The same')]
    assert 'Caught. Timeline' in original
    assert 'SIGKILL consumer/0' in original
    assert 'consumer/0 runs relation_changed(1) (leader)' in original
    assert 'broken: R1-R3: labels match the relation data' in original
    assert "Pod/consumer-1 label 'foo' is 'bar', expected absent" in original
    # The leader change is visible, and every object carries what it should.
    change = out[out.index('3. A forced leader change') : out.index('4. A short exploration')]
    old = re.search(r'applied; leader (consumer/\d)', change)
    new = re.search(r'it expires and (consumer/\d) is elected', change)
    assert old and new and old[1] != new[1]
    assert f'leader now {new[1]}' in change
    objects = [line for line in change.splitlines() if line.startswith('      ')]
    assert len(objects) == 5  # the template, the Service, three Pods
    assert all(line.split(' / ')[1] == 'foo=baz, tier=mesh' for line in objects)
    assert 'held: 2, violated: 0, could not run: 0' in out
    table = _table(out)
    assert table[''] == ['adr-original', 'mesh-consumer']
    assert table['R1-R3'][:2] == ['broken', 'holds']
    assert table['R4'][:2] == ['holds', 'holds']
    assert re.split(r'\s{2,}', out.splitlines()[-1].strip()) == ['as expected', 'as expected']


def test_demo_fails_a_consumer_that_never_applies_the_labels():
    result = CliRunner().invoke(
        main, ['demo', '--pace', '0', '--consumer', 'noop-consumer', '--schedules', '1']
    )
    assert result.exit_code == 1, result.output
    table = _table(result.output)
    assert table[''] == ['adr-original', 'noop-consumer']
    assert table['R1-R3'][:2] == ['broken', 'broken']
    assert 'held: 0, violated: 1' in result.output
    assert 'To shrink, save and replay it: jujusim explore --consumer noop-consumer' in (
        result.output
    )
    assert result.output.splitlines()[-1] == 'Not as expected: noop-consumer'


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['adr', '--consumer', '.'], 'not a charm:'),
        (['adr', '--consumer', 'no-such-consumer'], 'is neither a charm folder nor one of'),
        (['adr', '--consumer', str(ROOT / 'charms/beacon-stub')], 'requires no endpoint'),
        (['adr', '--expect-broken', 'adr-orignal'], "--expect-broken 'adr-orignal' names no"),
        (['adr', '--provider', '.'], 'not a charm:'),
        (['demo', '--consumer', '.'], 'not a charm:'),
    ],
)
def test_bad_input_is_one_line_and_exit_2(elsewhere: pathlib.Path, args: list[str], message: str):
    del elsewhere
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.output.splitlines()
    assert line.startswith('Error: ')
    assert message in line


def test_a_charm_whose_requirements_are_not_installed_is_refused(tmp_path: pathlib.Path):
    charm = tmp_path / 'needs-more'
    charm.mkdir()
    for name in ('charmcraft.yaml', 'src'):
        source = ROOT / 'tests/charms/noop-consumer' / name
        target = charm / name
        if source.is_dir():
            target.mkdir()
            (target / 'charm.py').write_text((source / 'charm.py').read_text())
        else:
            target.write_text(source.read_text())
    (charm / 'requirements.txt').write_text('ops>=2.17\nno-such-package-jujusim==1.0\n')
    result = CliRunner().invoke(main, ['adr', '--consumer', str(charm)])
    assert result.exit_code == 2, result.output
    assert 'no-such-package-jujusim==1.0 is not installed' in result.output

    (charm / 'requirements.txt').write_text('ops<1\n')
    result = CliRunner().invoke(main, ['adr', '--consumer', str(charm)])
    assert result.exit_code == 2, result.output
    assert 'ops<1 is not met' in result.output


@pytest.mark.parametrize('command', ['adr', 'demo'])
def test_a_charm_that_fails_to_import_is_one_line_and_exit_2(tmp_path: pathlib.Path, command: str):
    charm = tmp_path / 'broken'
    shutil.copytree(ROOT / 'tests/charms/noop-consumer', charm)
    with (charm / 'src' / 'charm.py').open('a') as module:
        module.write('\nraise RuntimeError("this charm cannot even import")\n')
    args = [command, '--consumer', str(charm)]
    result = CliRunner().invoke(
        main, [*args, '--expect-broken', 'none'] if command == 'adr' else args
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    error = [line for line in result.output.splitlines() if line.startswith('Error: ')]
    assert len(error) == 1, result.output
    assert 'RuntimeError: this charm cannot even import' in error[0]
