#!/usr/bin/env python3
"""A consumer of the upstream service_mesh library, unmodified.

``ServiceMeshConsumer`` reconciles labels on every unit's relation-changed and on the
leader's relation-broken (charmlibs ``interfaces/service_mesh/_service_mesh.py``), through
``reconcile_charm_labels`` in canonical-service-mesh
(``canonical_service_mesh/utils/istio/_labels.py``): read its ConfigMap, patch the
StatefulSet's pod template and the Service, write the ConfigMap back at the resourceVersion
it read. Nothing is recorded before the patches, nothing fences a stale writer and a foreign
value of the same key is overwritten and later deleted.
"""

from __future__ import annotations

import ops
from charmlibs.interfaces.service_mesh import ServiceMeshConsumer


class UpstreamServiceMeshCharm(ops.CharmBase):
    """Joins the mesh through the upstream library, as its documentation shows."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.mesh = ServiceMeshConsumer(self)


if __name__ == '__main__':  # pragma: no cover
    ops.main(UpstreamServiceMeshCharm)
