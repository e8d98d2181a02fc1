"""beacon-stub's charmcraft.yaml, checked by charmcraft itself; its entry point and pins."""

from __future__ import annotations

import os
import pathlib
import runpy
import subprocess

import pydantic
import pytest
import yaml

import beacon_stub
import build_charms
import charmcraft_checks

CHARM = pathlib.Path(beacon_stub.__file__).resolve().parent.parent


def test_charmcraft_expands_the_project(expanded: dict[str, subprocess.CompletedProcess[str]]):
    result = expanded['beacon-stub']
    assert result.returncode == 0, result.stderr
    project = yaml.safe_load(result.stdout)
    assert project['name'] == 'beacon-stub'
    assert project['platforms'] == {'amd64': {'build-on': ['amd64'], 'build-for': ['amd64']}}
    assert project['base'] == 'ubuntu@24.04'


def test_charmcraft_rejects_a_broken_copy(expanded: dict[str, subprocess.CompletedProcess[str]]):
    result = expanded['beacon-stub:broken']
    assert result.returncode != 0
    assert 'ubuntu@99.04' in result.stderr


def test_config_passes_charmcraft_config_model():
    config = charmcraft_checks.validate_config(charmcraft_checks.load(CHARM))
    assert config.options is not None
    assert set(config.options) == {'labels', 'mesh-type'}


def test_charmcraft_config_model_catches_a_bad_option_type():
    project = charmcraft_checks.load(CHARM)
    project['config']['options']['labels']['type'] = 'integer'  # Juju says `int`
    with pytest.raises(pydantic.ValidationError):
        charmcraft_checks.validate_config(project)


def test_metadata_matches_the_code():
    project = charmcraft_checks.load(CHARM)
    assert project['provides'] == {
        beacon_stub.MESH_ENDPOINT: {'interface': 'service_mesh'},
    }
    assert set(project['peers']) == {beacon_stub.PEER_ENDPOINT}
    assert set(project['actions']) == {'set-labels', 'clear-labels', 'publish-raw'}
    assert project['containers']['stub']['resource'] in project['resources']


def test_entry_point_imports_the_charm():
    entry = CHARM / 'src' / 'charm.py'
    assert os.access(entry, os.X_OK)
    assert entry.read_text().startswith('#!/usr/bin/env python3\n')
    namespace = runpy.run_path(str(entry))  # not as __main__: ops.main does not run
    assert namespace['beacon_stub'].BeaconStubCharm is beacon_stub.BeaconStubCharm


def test_requirements_pin_what_the_workspace_locks():
    expected = build_charms.expected_requirements(build_charms.Layout())['beacon-stub']
    assert (CHARM / 'requirements.txt').read_text() == expected
    assert 'ops==' in expected
