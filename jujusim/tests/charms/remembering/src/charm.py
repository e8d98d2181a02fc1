#!/usr/bin/env python3
"""Remembering: keeps what its hooks saw in memory, or leaves a thread running.

Each hook appends its name to a module-level list, ``recall`` shows it, and ``linger``
leaves a thread running after the action.
"""

from __future__ import annotations

import threading
import time

import ops

SEEN: list[str] = []  # survives between hooks only if one process runs them


class RememberingCharm(ops.CharmBase):
    """Remembers the hooks it ran in ``SEEN``."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        for event in (self.on.install, self.on.config_changed, self.on.update_status):
            framework.observe(event, self._on_hook)
        framework.observe(self.on.recall_action, self._on_recall)
        framework.observe(self.on.linger_action, self._on_linger)

    def _on_hook(self, event: ops.EventBase) -> None:
        SEEN.append(event.handle.kind)

    def _on_recall(self, event: ops.ActionEvent) -> None:
        event.set_results({'seen': ','.join(SEEN)})

    def _on_linger(self, event: ops.ActionEvent) -> None:
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()


if __name__ == '__main__':  # pragma: no cover
    ops.main(RememberingCharm)
