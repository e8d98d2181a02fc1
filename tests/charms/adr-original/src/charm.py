#!/usr/bin/env python3
"""The ADR's original design: leader-only labels, remembered in StoredState.

This is deliberately the rejected algorithm, so the harness can show how it fails: the
record of applied labels lives in the leader pod's local state, so a new leader (or a
recreated pod) that processes a relation change has no idea which labels it must remove.
"""

from __future__ import annotations

import json
import logging

import lightkube
import ops
from lightkube.resources import apps_v1, core_v1

logger = logging.getLogger(__name__)


class AdrOriginalCharm(ops.CharmBase):
    """Applies the provider's labels from the leader, diffing against StoredState."""

    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self._stored.set_default(applied='{}')
        framework.observe(self.on['service-mesh'].relation_changed, self._on_change)
        framework.observe(self.on['service-mesh'].relation_broken, self._on_change)

    def _desired(self, event: ops.RelationEvent) -> dict[str, str]:
        if isinstance(event, ops.RelationBrokenEvent):
            return {}
        raw = event.relation.data[event.relation.app].get('labels', '{}')
        return {str(k): str(v) for k, v in json.loads(raw).items()}

    def _on_change(self, event: ops.RelationEvent) -> None:
        if not self.unit.is_leader():
            return
        desired = self._desired(event)
        applied: dict[str, str] = json.loads(str(self._stored.applied))
        if desired == applied:
            return  # "compare relation data to the stored state": nothing to do
        patch: dict[str, str | None] = {key: None for key in applied if key not in desired}
        patch.update(desired)
        client = lightkube.Client(field_manager=self.app.name)
        client.patch(  # pyright: ignore[reportUnknownMemberType] (lightkube types obj as bare Dict)
            apps_v1.StatefulSet,
            self.app.name,
            {'spec': {'template': {'metadata': {'labels': patch}}}},
            namespace=self.model.name,
        )
        client.patch(  # pyright: ignore[reportUnknownMemberType] (lightkube types obj as bare Dict)
            core_v1.Service,
            self.app.name,
            {'metadata': {'labels': patch}},
            namespace=self.model.name,
        )
        self._stored.applied = json.dumps(desired)


if __name__ == '__main__':  # pragma: no cover
    ops.main(AdrOriginalCharm)
