#!/usr/bin/env python3
"""Entry point: Juju's dispatch script runs this file for every event.

The charm lives in ``mesh_consumer.py`` beside this file (charmcraft's dispatch puts
``src/`` and ``lib/`` on ``PYTHONPATH``; ``lib/k8s_labels`` is the library, copied in by
``charms/build_charms.py``), so that its tests can import it by a name that no other
charm in this repository uses.
"""

import ops

import mesh_consumer

if __name__ == '__main__':  # pragma: no cover - run by Juju
    ops.main(mesh_consumer.MeshConsumerCharm)
