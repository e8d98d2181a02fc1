"""Deliberately broken copies of mesh-consumer's library, for the model and explore tests.

A check or verdict is only trusted once seen failing on one (tests/weakened holds the
copies the explorer must catch from a default start).
"""

import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
MESH_CONSUMER = ROOT / 'charms' / 'mesh-consumer'
sys.path.insert(0, str(ROOT / 'tests' / 'weakened'))
import weakened  # noqa: E402 - the explorer's weakened copies, found by the path above


def library_edited(
    tmp_path: pathlib.Path, module: str, old: str, new: str, *, name: str = 'mesh-consumer'
) -> pathlib.Path:
    """mesh-consumer, as ``tmp_path / name``, whose library has ``old`` (found once) replaced
    by ``new`` in ``module``."""
    charm = tmp_path / name
    shutil.copytree(MESH_CONSUMER, charm, ignore=shutil.ignore_patterns('tests', '__pycache__'))
    path = charm / 'lib' / 'k8s_labels' / module
    text = path.read_text()
    assert text.count(old) == 1, f'{module} changed: the variant no longer applies'
    path.write_text(text.replace(old, new))
    return charm


def weakened_copy(tmp_path: pathlib.Path, name: str) -> pathlib.Path:
    """mesh-consumer, as ``tmp_path / name``, with the library weakened as tests/weakened's
    ``name`` is."""
    [weakening] = [w for w in weakened.WEAKENINGS if w.name == name]
    return weakened.consumer_copy(tmp_path / name, weakening)
