"""What the explore tests share."""

import dataclasses
import pathlib

from broken_library import library_edited

from jujusim.explore import FaultWeights


def only_weights(**kept: float) -> str:
    """A ``--weights`` value that draws only the kinds in ``kept``: every other kind is 0."""
    names = [field.name for field in dataclasses.fields(FaultWeights)]
    unknown = set(kept) - set(names)
    assert not unknown, f'no such weights: {unknown}'
    return ','.join(f'{name}={kept.get(name, 0)}' for name in names)


def no_conflict_retry(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer whose library gives up at the first 409 (a deliberately broken copy)."""
    return library_edited(
        tmp_path,
        '_manager.py',
        'max_attempts: int = 5,',
        'max_attempts: int = 1,',
        name='no-conflict-retry',
    )


def fighting_the_statefulset_controller(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer whose library lets ``controller-revision-hash`` through.

    It puts the provider's value on the pods; the StatefulSet controller takes each for a
    pod of an old revision and replaces it, and the new pod's hooks label it again, for ever.
    """
    return library_edited(
        tmp_path,
        '_validation.py',
        "        'controller-revision-hash',\n",
        '',
        name='revision-hash-allowed',
    )


def hanging_on_labels(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer whose library blocks for ever in any reconcile with labels to apply
    (on an event nobody sets: a time.sleep would wait in virtual time and end)."""
    return library_edited(
        tmp_path,
        '_manager.py',
        '        wanted = _validation.validate_labels(desired)\n',
        '        wanted = _validation.validate_labels(desired)\n'
        '        if wanted:\n'
        "            __import__('threading').Event().wait()\n",
        name='hanging-on-labels',
    )
