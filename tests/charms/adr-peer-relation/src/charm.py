#!/usr/bin/env python3
"""The ADR's second rejected design: the leader's record of applied labels in peer data.

Only the leader acts. It diffs the provider's labels against the record in the
``applied`` peer relation's application databag, patches the StatefulSet's pod template
and the Service, then updates the record. The record outlives pods and leaders, which
fixes the ADR's counterexample, but Juju commits a hook's relation data only when the
hook succeeds (juju ``apiserver/facades/agent/uniter``, ``commitHookChangesForOneUnit``):
a hook killed or failed after its patches loses the record of what it wrote, and the
next leader, seeing no difference, leaves those labels on the objects with nothing to
remove them (R1-R3). A label someone
else owned is overwritten and then deleted on release (R4).
"""

from __future__ import annotations

import json
import logging

import lightkube
import ops
from lightkube.resources import apps_v1, core_v1

logger = logging.getLogger(__name__)

PEER = 'applied'
RECORD = 'labels'


class AdrPeerRelationCharm(ops.CharmBase):
    """Applies the provider's labels from the leader, diffing against the peer record."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        framework.observe(self.on['service-mesh'].relation_changed, self._on_change)
        framework.observe(self.on['service-mesh'].relation_broken, self._on_change)
        framework.observe(self.on.leader_elected, self._on_change)

    def _desired(self, event: ops.EventBase) -> dict[str, str]:
        if isinstance(event, ops.RelationBrokenEvent):
            return {}
        relation = self.model.get_relation('service-mesh')
        if relation is None:
            return {}
        raw = relation.data[relation.app].get('labels', '{}')
        return {str(k): str(v) for k, v in json.loads(raw).items()}

    def _on_change(self, event: ops.EventBase) -> None:
        peer = self.model.get_relation(PEER)
        if not self.unit.is_leader() or peer is None:
            return
        desired = self._desired(event)
        applied: dict[str, str] = json.loads(peer.data[self.app].get(RECORD, '{}'))
        if desired == applied:
            return
        patch: dict[str, str | None] = {key: None for key in applied if key not in desired}
        patch.update(desired)
        client = lightkube.Client(field_manager=self.app.name)
        client.patch(  # pyright: ignore[reportUnknownMemberType] (lightkube types obj as bare Dict)
            core_v1.Service,
            self.app.name,
            {'metadata': {'labels': patch}},
            namespace=self.model.name,
        )
        client.patch(  # pyright: ignore[reportUnknownMemberType] (lightkube types obj as bare Dict)
            apps_v1.StatefulSet,
            self.app.name,
            {'spec': {'template': {'metadata': {'labels': patch}}}},
            namespace=self.model.name,
        )
        # Committed with the hook: lost if the hook dies after the patches above.
        peer.data[self.app][RECORD] = json.dumps(desired)


if __name__ == '__main__':  # pragma: no cover
    ops.main(AdrPeerRelationCharm)
