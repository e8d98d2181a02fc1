"""What the explore tests share."""

import dataclasses

from jujusim.explore import FaultWeights


def only_weights(**kept: float) -> str:
    """A ``--weights`` value that draws only the kinds in ``kept``: every other kind is 0."""
    names = [field.name for field in dataclasses.fields(FaultWeights)]
    unknown = set(kept) - set(names)
    assert not unknown, f'no such weights: {unknown}'
    return ','.join(f'{name}={kept.get(name, 0)}' for name in names)
