"""``jujusim adr``: the ADR counterexample from the command line."""

import pathlib

import pytest
from click.testing import CliRunner

from jujusim.cli import main

ROOT = pathlib.Path(__file__).parents[2]


@pytest.fixture
def in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.mark.usefixtures('in_repo_root')
def test_adr_mesh_consumer_holds_and_the_original_design_breaks():
    result = CliRunner().invoke(main, ['adr'])
    assert result.exit_code == 0, result.output
    assert '=> mesh-consumer holds R1-R4' in result.output
    assert '=> adr-original breaks R1-R4' in result.output
    assert "label 'foo' is 'bar', expected absent" in result.output


@pytest.mark.usefixtures('in_repo_root')
def test_adr_fails_when_a_consumer_does_not_do_as_expected():
    result = CliRunner().invoke(
        main, ['adr', '--consumer', 'tests/charms/adr-original', '--expect-broken', 'none']
    )
    assert result.exit_code == 1
    assert 'not as expected: adr-original' in result.output
