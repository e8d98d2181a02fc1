"""Checks of a charm's ``charmcraft.yaml`` with charmcraft itself, shared by the charms' tests.

``charmcraft expand-extensions`` loads the project as ``charmcraft pack`` does and rejects
unknown keys, bases and plugins; it does not check config option types, so
``JujuConfig`` (charmcraft's own config model) checks those (docs/design-notes.md, "Tooling").
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

import charmcraft.models.config
import yaml

CHARMS = pathlib.Path(__file__).resolve().parent

# charmcraft imports for ~4 s before doing anything: start every run at once.
_TIMEOUT = 120


def charmcraft_executable() -> pathlib.Path:
    """The charmcraft installed beside this interpreter (the unit dependency group)."""
    return pathlib.Path(sys.executable).parent / 'charmcraft'


def start_expand_extensions(
    charm_dir: pathlib.Path, scratch: pathlib.Path
) -> subprocess.Popen[str]:
    """Start ``charmcraft expand-extensions`` in ``charm_dir``; collect with :func:`finish`.

    Args:
        charm_dir: the directory holding ``charmcraft.yaml``.
        scratch: an empty directory for charmcraft's logs and runtime files, so that a
            test run leaves nothing in the home directory.
    """
    runtime = pathlib.Path(tempfile.mkdtemp(dir=scratch))  # mode 0700, as XDG requires
    env = {
        **os.environ,
        'XDG_STATE_HOME': str(scratch / 'state'),
        'XDG_CACHE_HOME': str(scratch / 'cache'),
        'XDG_CONFIG_HOME': str(scratch / 'config'),
        'XDG_RUNTIME_DIR': str(runtime),
    }
    return subprocess.Popen(  # noqa: S603 - a fixed command, no shell
        [str(charmcraft_executable()), 'expand-extensions'],
        cwd=charm_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    """Wait for a run started by :func:`start_expand_extensions`."""
    stdout, stderr = process.communicate(timeout=_TIMEOUT)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def load(charm_dir: pathlib.Path) -> dict[str, Any]:
    """Read a charm's ``charmcraft.yaml``."""
    return yaml.safe_load((charm_dir / 'charmcraft.yaml').read_text())


def validate_config(project: Mapping[str, Any]) -> charmcraft.models.config.JujuConfig:
    """Validate the ``config`` section with charmcraft's model; raises on a bad option."""
    return charmcraft.models.config.JujuConfig.model_validate(project['config'])
