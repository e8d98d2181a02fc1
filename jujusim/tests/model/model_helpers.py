"""Paths of the charms the model tests deploy."""

import pathlib

ROOT = pathlib.Path(__file__).parents[3]
MESH_CONSUMER = ROOT / 'charms' / 'mesh-consumer'
BEACON_STUB = ROOT / 'charms' / 'beacon-stub'
ADR_ORIGINAL = ROOT / 'tests' / 'charms' / 'adr-original'
RECORDER = ROOT / 'jujusim' / 'tests' / 'charms' / 'recorder'
COUNTER = ROOT / 'jujusim' / 'tests' / 'charms' / 'counter'
