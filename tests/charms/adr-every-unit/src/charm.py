#!/usr/bin/env python3
"""The ADR's first rejected design: every unit applies the diff against its StoredState.

The ADR's original design had only the leader act, so a new leader with empty local
state could not know what to remove. This variant has every unit process every event,
each keeping in StoredState the labels it last applied, and assumes Juju keeps that
state (``use_juju_for_storage=True`` below) so that it survives a pod's restart.

It still breaks the requirements:

- the first write of a label someone else put there takes it over, and a release deletes
  it: the earlier value is never given back (R4);
- with StoredState in the pod (the default, and what jujusim models), the template patch
  itself rolls every pod, so after the first change no unit remembers anything and a
  reset to ``{}`` removes nothing (R1-R3);
- each unit patches on its own, so a unit still holding older data can undo a newer change
  until it processes that change itself.
"""

from __future__ import annotations

import json
import logging

import lightkube
import ops
from lightkube.resources import apps_v1, core_v1

logger = logging.getLogger(__name__)


class AdrEveryUnitCharm(ops.CharmBase):
    """Applies the provider's labels from every unit, diffing against StoredState."""

    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self._stored.set_default(applied='{}')
        framework.observe(self.on['service-mesh'].relation_changed, self._on_change)
        framework.observe(self.on['service-mesh'].relation_broken, self._on_change)

    def _desired(self, event: ops.RelationEvent) -> dict[str, str]:
        if isinstance(event, ops.RelationBrokenEvent):
            return {}
        raw = event.relation.data[event.app].get('labels', '{}')
        return {str(k): str(v) for k, v in json.loads(raw).items()}

    def _on_change(self, event: ops.RelationEvent) -> None:
        desired = self._desired(event)
        applied: dict[str, str] = json.loads(str(self._stored.applied))
        if desired == applied:
            return
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
    # The ADR's premise for this design: StoredState kept by Juju, not in the pod.
    ops.main(AdrEveryUnitCharm, use_juju_for_storage=True)
