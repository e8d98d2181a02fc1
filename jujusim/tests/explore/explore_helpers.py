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


def library_edited(
    tmp_path: pathlib.Path, name: str, module: str, old: str, new: str
) -> pathlib.Path:
    """mesh-consumer whose library has ``old`` (found once) replaced by ``new`` in ``module``."""
    charm = tmp_path / name
    shutil.copytree(MESH_CONSUMER, charm, ignore=shutil.ignore_patterns('tests', '__pycache__'))
    path = charm / 'lib' / 'k8s_labels' / module
    text = path.read_text()
    assert text.count(old) == 1, f'{module} changed: the variant no longer applies'
    path.write_text(text.replace(old, new))
    return charm


def no_conflict_retry(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer whose library gives up at the first 409 (a deliberately broken copy)."""
    return library_edited(
        tmp_path,
        'no-conflict-retry',
        '_manager.py',
        'max_attempts: int = 5,',
        'max_attempts: int = 1,',
    )


def fighting_the_statefulset_controller(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer whose library lets ``controller-revision-hash`` through.

    It puts the provider's value on the pods; the StatefulSet controller takes each for a
    pod of an old revision and replaces it, and the new pod's hooks label it again, for ever.
    """
    return library_edited(
        tmp_path,
        'revision-hash-allowed',
        '_validation.py',
        "        'controller-revision-hash',\n",
        '',
    )


def hanging_on_labels(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer whose library sleeps an hour in any reconcile with labels to apply."""
    return library_edited(
        tmp_path,
        'hanging-on-labels',
        '_manager.py',
        '        wanted = _validation.validate_labels(desired)\n',
        '        wanted = _validation.validate_labels(desired)\n'
        '        if wanted:\n'
        '            time.sleep(3600)\n',
    )
