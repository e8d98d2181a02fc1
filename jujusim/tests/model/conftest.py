import pathlib
from collections.abc import Iterator

import pytest

from jujusim.model import Model

ROOT = pathlib.Path(__file__).parents[3]
MESH_CONSUMER = ROOT / 'charms' / 'mesh-consumer'
BEACON_STUB = ROOT / 'charms' / 'beacon-stub'
ADR_ORIGINAL = ROOT / 'tests' / 'charms' / 'adr-original'


@pytest.fixture
def model() -> Iterator[Model]:
    with Model(seed=7) as m:
        yield m
