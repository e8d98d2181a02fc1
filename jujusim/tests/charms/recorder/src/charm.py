#!/usr/bin/env python3
"""Recorder: appends what it sees in every event to a JSON-lines file, for the model tests."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import lightkube
import lightkube.core.exceptions
import lightkube.resources.apps_v1
import lightkube.resources.core_v1
import ops

_RELATION_KINDS = (
    'relation_created',
    'relation_joined',
    'relation_changed',
    'relation_departed',
    'relation_broken',
)


class RecorderCharm(ops.CharmBase):
    """Records each event; writes its ``value`` config to its ``source`` unit databags."""

    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        # A token per life of the unit's local state: a new pod (whatever process runs
        # it) starts without StoredState. A failed hook commits none of it.
        self._stored.set_default(kinds=[], life=uuid.uuid4().hex)
        for event in (
            self.on.install,
            self.on.start,
            self.on.stop,
            self.on.remove,
            self.on.config_changed,
            self.on.upgrade_charm,
            self.on.update_status,
            self.on.leader_elected,
            self.on.leader_settings_changed,
            self.on.workload_pebble_ready,
            self.on.record_action,
        ):
            framework.observe(event, self._on_event)
        for endpoint in ('feed', 'source', 'peers'):
            for kind in _RELATION_KINDS:
                framework.observe(getattr(self.on[endpoint], kind), self._on_event)

    def _on_event(self, event: ops.EventBase) -> None:
        kind = _kind(event)
        record: dict[str, Any] = {
            'unit': self.unit.name,
            'life': self._stored.life,
            'kind': kind,
            'dispatch': os.environ.get('JUJU_DISPATCH_PATH', '').rpartition('/')[2],
            'leader': self.unit.is_leader(),
            'planned_units': self.app.planned_units(),
            'stored': list(self._stored.kinds),
        }
        if isinstance(event, ops.RelationEvent):
            record['relation'] = event.relation.id
            record['remote_unit'] = event.unit.name if event.unit else None
        if isinstance(event, ops.RelationDepartedEvent):
            record['departing'] = event.departing_unit.name if event.departing_unit else None
        app_value = str(self.config['app-value'])
        if app_value and self.unit.is_leader():
            # Written before the probe: a hook stalled at its probe commits it late.
            for relation in (*self.model.relations['source'], *self.model.relations['peers']):
                relation.data[self.app].update({'value': app_value, 'writer': self.unit.name})
        if _listed(str(self.config['probe-on']), kind):
            record['probe'] = self._probe()
            record['leader_after'] = self.unit.is_leader()
        deferring = _listed(str(self.config['defer-on']), kind)
        record['deferred'] = deferring
        record['seen'] = self._seen()
        value = str(self.config['value'])
        for relation in (*self.model.relations['source'], *self.model.relations['peers']):
            relation.data[self.unit]['value'] = value  # committed only if the hook succeeds
        self._append(record)
        if _listed(str(self.config['fail-on']), kind):
            raise RuntimeError(f'recorder told to fail in {kind}')
        if deferring:
            event.defer()
            return
        self._stored.kinds.append(kind)
        self.unit.status = ops.ActiveStatus(f'last {kind}')

    def _seen(self) -> dict[str, Any]:
        """The data of every relation, read now: ``{id: {owner: data}}``."""
        seen: dict[str, Any] = {}
        for endpoint in ('feed', 'source', 'peers'):
            for relation in self.model.relations[endpoint]:
                bags = {relation.app.name: dict(relation.data[relation.app])}
                for unit in sorted(relation.units, key=lambda u: u.name):
                    bags[unit.name] = dict(relation.data[unit])
                bags[self.unit.name] = dict(relation.data[self.unit])
                seen[str(relation.id)] = bags
        return seen

    def _probe(self) -> dict[str, Any]:
        """GET the unit's pod and the app's StatefulSet; the status or error of each."""
        client = lightkube.Client(field_manager=self.app.name)
        pod = self.unit.name.replace('/', '-')
        out: dict[str, Any] = {}
        for key, resource, name in (
            ('pod', lightkube.resources.core_v1.Pod, pod),
            ('statefulset', lightkube.resources.apps_v1.StatefulSet, self.app.name),
        ):
            try:
                client.get(resource, name)
                out[key] = {'code': 200}
            except lightkube.core.exceptions.ApiError as e:
                out[key] = {'code': e.status.code, 'message': e.status.message}
        return out

    def _append(self, record: dict[str, Any]) -> None:
        path = str(self.config['log'])
        if path:
            with open(path, 'a', encoding='utf-8') as f:
                f.write(json.dumps(record, sort_keys=True) + '\n')


def _kind(event: ops.EventBase) -> str:
    """The event's kind as jujusim names it: ``relation_changed``, ``pebble_ready``..."""
    name = event.handle.kind
    for suffix in (*_RELATION_KINDS, 'pebble_ready'):
        if name.endswith(suffix):
            return suffix
    return name


def _listed(option: str, kind: str) -> bool:
    return kind in {part.strip() for part in option.split(',')}


if __name__ == '__main__':  # pragma: no cover
    ops.main(RecorderCharm)
