#!/usr/bin/env python3
"""Minimal: sets its status on every hook, and nothing else."""

from __future__ import annotations

import ops


class MinimalCharm(ops.CharmBase):
    """Observes a few hooks and reports the last one in its status."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        for event in (self.on.start, self.on.config_changed, self.on.update_status):
            framework.observe(event, self._on_hook)

    def _on_hook(self, event: ops.EventBase) -> None:
        self.unit.status = ops.ActiveStatus(event.handle.kind)


if __name__ == '__main__':  # pragma: no cover
    ops.main(MinimalCharm)
