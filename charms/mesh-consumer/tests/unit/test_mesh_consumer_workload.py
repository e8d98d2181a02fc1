"""mesh-consumer's own workload (busybox httpd under Pebble) and statuses, through ops.testing.

These run on a non-leader or on pebble-ready, where the library makes no API call; the
library's paths are in test_mesh_consumer_labels.py, against the fake Kubernetes API.
"""

from __future__ import annotations

import ops
import pytest
from ops import testing

import mesh_consumer

Ctx = testing.Context[mesh_consumer.MeshConsumerCharm]


@pytest.fixture
def ctx() -> Ctx:
    return testing.Context(mesh_consumer.MeshConsumerCharm)


def web(*, can_connect: bool = True) -> testing.Container:
    return testing.Container(mesh_consumer.CONTAINER, can_connect=can_connect)


def test_pebble_ready_serves_the_page(ctx: Ctx):
    container = web()
    out = ctx.run(ctx.on.pebble_ready(container), testing.State(containers=[container]))
    after = out.get_container(mesh_consumer.CONTAINER)
    service = after.plan.services[mesh_consumer.SERVICE]
    assert service.command == 'httpd -f -p 8080 -h /srv/www'
    assert service.startup == 'enabled'
    assert after.service_statuses[mesh_consumer.SERVICE] == ops.pebble.ServiceStatus.ACTIVE
    page = after.get_filesystem(ctx) / 'srv' / 'www' / 'index.html'
    assert page.read_text() == '<p>mesh-consumer/0 is serving.</p>\n'
    assert out.opened_ports == frozenset({testing.TCPPort(8080)})
    assert out.unit_status == ops.ActiveStatus()


def test_a_new_port_replans_and_moves_the_open_port(ctx: Ctx):
    container = web()
    state = testing.State(containers=[container], config={'port': 9090}, leader=False)
    out = ctx.run(ctx.on.config_changed(), state)
    after = out.get_container(mesh_consumer.CONTAINER)
    assert after.plan.services[mesh_consumer.SERVICE].command == 'httpd -f -p 9090 -h /srv/www'
    assert out.opened_ports == frozenset({testing.TCPPort(9090)})


@pytest.mark.parametrize('port', [0, 65536, -1])
def test_a_bad_port_blocks_and_leaves_the_workload_alone(ctx: Ctx, port: int):
    state = testing.State(containers=[web()], config={'port': port}, leader=False)
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == ops.BlockedStatus(f'config port: {port} is not a TCP port (1-65535)')
    assert out.get_container(mesh_consumer.CONTAINER).layers == {}
    assert out.opened_ports == frozenset()


def test_without_pebble_it_waits(ctx: Ctx):
    state = testing.State(containers=[web(can_connect=False)], leader=False)
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == ops.WaitingStatus('waiting for Pebble in the web container')
    assert out.get_container(mesh_consumer.CONTAINER).layers == {}
