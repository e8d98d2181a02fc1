#!/usr/bin/env python3
"""Entry point: Juju's dispatch script runs this file for every event.

The charm lives in ``beacon_stub.py`` beside this file (charmcraft's dispatch puts
``src/`` on ``PYTHONPATH``), so that its tests can import it by a name that no other
charm in this repository uses.
"""

import ops

import beacon_stub

if __name__ == '__main__':  # pragma: no cover - run by Juju
    ops.main(beacon_stub.BeaconStubCharm)
