"""Paths of the charms the model tests deploy, and the pair most of them deploy."""

import json
import pathlib

from jujusim.model import Model

ROOT = pathlib.Path(__file__).parents[3]
MESH_CONSUMER = ROOT / 'charms' / 'mesh-consumer'
BEACON_STUB = ROOT / 'charms' / 'beacon-stub'
ADR_ORIGINAL = ROOT / 'tests' / 'charms' / 'adr-original'
RECORDER = ROOT / 'jujusim' / 'tests' / 'charms' / 'recorder'
COUNTER = ROOT / 'jujusim' / 'tests' / 'charms' / 'counter'


def deploy_pair(model: Model, consumer: pathlib.Path = MESH_CONSUMER, *, units: int = 3) -> str:
    """``consumer`` as app ``consumer`` (trusted) related to beacon-stub as ``beacon``, settled."""
    app = 'consumer'
    model.deploy(consumer, app=app, units=units, trust=True)
    model.deploy(BEACON_STUB, app='beacon', units=1)
    model.integrate(app, 'beacon')
    model.settle()
    return app


def set_labels(model: Model, labels: dict[str, str]) -> None:
    """The provider ``beacon`` publishes ``labels`` (by config)."""
    model.config('beacon', labels=json.dumps(labels))
