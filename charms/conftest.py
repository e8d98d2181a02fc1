"""Fixtures shared by both charms' tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml

import charmcraft_checks


def _unknown_base(project: dict[str, Any]) -> None:
    project['base'] = 'ubuntu@99.04'


def _unknown_plugin(project: dict[str, Any]) -> None:
    project['parts']['charm']['plugin'] = 'pythn'


# One deliberately broken copy per charm, each of a different bug class.
BREAKAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    'beacon-stub': _unknown_base,
    'mesh-consumer': _unknown_plugin,
}


@pytest.fixture(scope='session')
def expanded(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """``charmcraft expand-extensions`` on each charm and on its broken copy.

    Keys: ``<charm>`` and ``<charm>:broken``. charmcraft spends ~4 s importing itself, so
    all four runs start at once.
    """
    scratch = tmp_path_factory.mktemp('charmcraft')
    started: dict[str, subprocess.Popen[str]] = {}
    for charm, breakage in BREAKAGES.items():
        directory = charmcraft_checks.CHARMS / charm
        project = charmcraft_checks.load(directory)
        breakage(project)
        broken = tmp_path_factory.mktemp(f'broken-{charm}')
        (broken / 'charmcraft.yaml').write_text(yaml.safe_dump(project))
        started[charm] = charmcraft_checks.start_expand_extensions(directory, scratch)
        started[f'{charm}:broken'] = charmcraft_checks.start_expand_extensions(broken, scratch)
    return {name: charmcraft_checks.finish(process) for name, process in started.items()}
