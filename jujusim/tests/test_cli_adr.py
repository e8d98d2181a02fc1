"""``jujusim adr`` and ``jujusim demo``: the ADR counterexample from the command line."""

import pathlib

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


def test_demo_fails_a_consumer_that_never_applies_the_labels():
    result = CliRunner().invoke(main, ['demo', '--pace', '0', '--consumer', 'noop-consumer'])
    assert result.exit_code == 1, result.output
    assert 'noop-consumer            broken   hold  (!)' in result.output
    assert 'R4: labels applied by anything outside the library stay untouched' in result.output


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
