"""mesh-consumer's charmcraft.yaml, checked by charmcraft itself; its entry point and pins."""

from __future__ import annotations

import os
import pathlib
import runpy
import subprocess

import pydantic
import pytest
import yaml

import build_charms
import charmcraft_checks
import mesh_consumer

CHARM = pathlib.Path(mesh_consumer.__file__).resolve().parent.parent


def test_charmcraft_expands_the_project(expanded: dict[str, subprocess.CompletedProcess[str]]):
    result = expanded['mesh-consumer']
    assert result.returncode == 0, result.stderr
    project = yaml.safe_load(result.stdout)
    assert project['name'] == 'mesh-consumer'
    assert project['platforms'] == {'amd64': {'build-on': ['amd64'], 'build-for': ['amd64']}}
    assert project['base'] == 'ubuntu@24.04'


def test_charmcraft_rejects_a_broken_copy(expanded: dict[str, subprocess.CompletedProcess[str]]):
    result = expanded['mesh-consumer:broken']
    assert result.returncode != 0
    assert 'pythn' in result.stderr


def test_config_passes_charmcraft_config_model():
    config = charmcraft_checks.validate_config(charmcraft_checks.load(CHARM))
    assert config.options is not None
    assert set(config.options) == {'port'}


def test_charmcraft_config_model_catches_a_bad_option_type():
    project = charmcraft_checks.load(CHARM)
    project['config']['options']['port']['type'] = 'integer'  # Juju says `int`
    with pytest.raises(pydantic.ValidationError):
        charmcraft_checks.validate_config(project)


def test_metadata_matches_the_code():
    project = charmcraft_checks.load(CHARM)
    assert project['requires'] == {
        'service-mesh': {'interface': 'service_mesh', 'limit': 1},
    }
    assert project['provides'] == {'web': {'interface': 'http'}}
    assert 'k8s-api' in project['assumes']
    assert mesh_consumer.CONTAINER in project['containers']
    assert project['containers'][mesh_consumer.CONTAINER]['resource'] in project['resources']


def test_entry_point_imports_the_charm():
    entry = CHARM / 'src' / 'charm.py'
    assert os.access(entry, os.X_OK)
    assert entry.read_text().startswith('#!/usr/bin/env python3\n')
    namespace = runpy.run_path(str(entry))  # not as __main__: ops.main does not run
    assert namespace['mesh_consumer'].MeshConsumerCharm is mesh_consumer.MeshConsumerCharm


def test_requirements_pin_what_the_workspace_locks():
    expected = build_charms.expected_requirements(build_charms.Layout())['mesh-consumer']
    assert (CHARM / 'requirements.txt').read_text() == expected
    assert 'ops==' in expected
