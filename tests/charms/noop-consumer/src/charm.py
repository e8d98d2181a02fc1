#!/usr/bin/env python3
"""A service-mesh consumer that never labels anything (a deliberately broken comparison)."""

from __future__ import annotations

import ops


class NoopConsumerCharm(ops.CharmBase):
    """Observes the service-mesh relation and does nothing with it."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        framework.observe(self.on['service-mesh'].relation_changed, self._on_change)

    def _on_change(self, event: ops.RelationChangedEvent) -> None:
        del event  # the labels the provider asks for are never applied


if __name__ == '__main__':  # pragma: no cover
    ops.main(NoopConsumerCharm)
