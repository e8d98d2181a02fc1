#!/usr/bin/env python3
"""Counter: a test charm that counts its hooks and can be told to fail, defer or block."""

from __future__ import annotations

import logging
import os
import socket
import time

import ops

logger = logging.getLogger(__name__)


class CounterCharm(ops.CharmBase):
    """Counts hooks in StoredState and publishes the count in its relation databags."""

    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self._stored.set_default(hooks=0, kinds=[])
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
        ):
            framework.observe(event, self._on_hook)
        for endpoint in ('db', 'out', 'peers'):
            relation_events = self.on[endpoint]
            for event in (
                relation_events.relation_created,
                relation_events.relation_joined,
                relation_events.relation_changed,
                relation_events.relation_departed,
                relation_events.relation_broken,
            ):
                framework.observe(event, self._on_hook)
        framework.observe(self.on.count_action, self._on_count)
        framework.observe(self.on.explode_action, self._on_explode)
        framework.observe(self.on.refuse_action, self._on_refuse)

    def _on_hook(self, event: ops.EventBase) -> None:
        kind = _kind(event)
        # Set before anything can fail: Juju keeps a status set by a hook that then fails.
        self.unit.status = ops.MaintenanceStatus(f'running {kind}')
        self._wait_at_gate(kind)
        self._wait_for_deadline(kind)
        if _listed(str(self.config['fail-on']), kind):
            raise RuntimeError(f'counter told to fail in {kind}')
        if _listed(str(self.config['defer-on']), kind):
            logger.info('deferring %s', kind)
            event.defer()
            return
        self._stored.hooks += 1
        self._stored.kinds.append(kind)
        logger.info('hook %d: %s', self._stored.hooks, kind)
        # What an HTTP client says at DEBUG while the charm talks to Kubernetes.
        logging.getLogger('httpcore2.connection').debug('http chatter')
        for relation in self.model.relations['db']:
            data = relation.data[self.unit]
            data['count'] = str(self._stored.hooks)
            data['unit'] = self.unit.name
            data['kubeconfig'] = os.environ.get('KUBECONFIG', '')
            if self.unit.is_leader():
                relation.data[self.app]['leader-count'] = str(self._stored.hooks)
        self.unit.status = ops.ActiveStatus(f'{self._stored.hooks} hooks, last {kind}')

    def _wait_at_gate(self, kind: str) -> None:
        path = str(self.config['gate'])
        if not path:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            sock.sendall(f'{self.unit.name} {kind}\n'.encode())
            reply = sock.recv(64).decode().strip()
        if reply == 'raise':
            raise RuntimeError(f'counter told to fail at the gate in {kind}')

    def _wait_for_deadline(self, kind: str) -> None:
        waits_kind, _, seconds = str(self.config['wait-on']).partition('=')
        if waits_kind != kind:
            return
        deadline = time.monotonic() + float(seconds)
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(10.0, left))
        logger.info('waited %s s in %s', seconds, kind)

    def _on_count(self, event: ops.ActionEvent) -> None:
        event.log('counting')
        event.set_results(
            {
                'hooks': self._stored.hooks,
                'kinds': ','.join(self._stored.kinds),
                'unit': os.environ.get('JUJU_UNIT_NAME', ''),
                'kubeconfig': os.environ.get('KUBECONFIG', ''),
                'tmpdir': os.environ.get('TMPDIR', ''),
            }
        )

    def _on_explode(self, event: ops.ActionEvent) -> None:
        raise ValueError(event.params.get('message', 'boom'))

    def _on_refuse(self, event: ops.ActionEvent) -> None:
        event.fail('refused')


def _kind(event: ops.EventBase) -> str:
    """The hook's kind as jujusim names it: ``relation_changed``, ``pebble_ready``..."""
    name = event.handle.kind
    for suffix in (
        'relation_created',
        'relation_joined',
        'relation_changed',
        'relation_departed',
        'relation_broken',
        'pebble_ready',
    ):
        if name.endswith(suffix):
            return suffix
    return name


def _listed(option: str, kind: str) -> bool:
    names = {part.strip() for part in option.split(',') if part.strip()}
    return 'all' in names or kind in names


if __name__ == '__main__':  # pragma: no cover
    ops.main(CounterCharm)
