"""What the explore tests share."""

import dataclasses
import pathlib
import shutil

from jujusim.explore import FaultWeights

MESH_CONSUMER = pathlib.Path(__file__).resolve().parents[3] / 'charms' / 'mesh-consumer'


def only_weights(**kept: float) -> str:
    """A ``--weights`` value that draws only the kinds in ``kept``: every other kind is 0."""
    names = [field.name for field in dataclasses.fields(FaultWeights)]
    unknown = set(kept) - set(names)
    assert not unknown, f'no such weights: {unknown}'
    return ','.join(f'{name}={kept.get(name, 0)}' for name in names)


def no_conflict_retry(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer whose library gives up at the first 409 (a deliberately broken copy)."""
    charm = tmp_path / 'no-conflict-retry'
    shutil.copytree(MESH_CONSUMER, charm, ignore=shutil.ignore_patterns('tests', '__pycache__'))
    path = charm / 'lib' / 'k8s_labels' / '_manager.py'
    text = path.read_text()
    old = 'max_attempts: int = 5,'
    assert text.count(old) == 1, '_manager.py changed: the variant no longer applies'
    path.write_text(text.replace(old, 'max_attempts: int = 1,'))
    return charm
