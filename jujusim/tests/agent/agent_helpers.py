"""Helpers shared by the agent tests."""

from __future__ import annotations

import itertools
import pathlib
import shutil
import socket
import tempfile

import ops.testing

from jujusim import agent

COUNTER = pathlib.Path(__file__).parent.parent / 'charms' / 'counter'
# Generous: only a broken agent layer ever waits this long, and then the test fails.
PATIENCE = 30.0


class Gate:
    """A unix socket the counter charm's hooks stop at (config ``gate``) until released."""

    def __init__(self) -> None:
        # A short folder: a unix socket path must fit in 108 bytes.
        self._dir = pathlib.Path(tempfile.mkdtemp(prefix='gate-', dir='/tmp'))
        self.path = str(self._dir / 's')
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(8)
        self._server.settimeout(PATIENCE)
        self._conns: list[socket.socket] = []

    def arrive(self) -> tuple[socket.socket, str]:
        """Wait for a hook to reach the gate; return its connection and ``'<unit> <kind>'``."""
        conn, _ = self._server.accept()
        self._conns.append(conn)
        conn.settimeout(PATIENCE)
        return conn, conn.recv(256).decode().strip()

    def arrivals(self, n: int) -> dict[str, socket.socket]:
        """Wait for ``n`` hooks at the gate; key each connection by its unit's name."""
        found: dict[str, socket.socket] = {}
        for _ in range(n):
            conn, who = self.arrive()
            found[who.split()[0]] = conn
        return found

    @staticmethod
    def release(conn: socket.socket, reply: str = 'go') -> None:
        conn.sendall(reply.encode())
        conn.close()

    def close(self) -> None:
        for conn in self._conns:
            conn.close()
        self._server.close()
        shutil.rmtree(self._dir, ignore_errors=True)


_unit_numbers = itertools.count()


class Units:
    """Hands out fresh unit names on the shared pool and cleans up after the test."""

    def __init__(self, pool: agent.AgentPool):
        self.pool = pool
        self.names: list[str] = []

    def new(self, env: dict[str, str] | None = None) -> str:
        name = f'counter/{next(_unit_numbers)}'
        self.pool.spawn(name, env=env)
        self.names.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.names:
            if name in self.pool.units:
                self.pool.kill(name)
        # Drain what is left so the next test starts from an empty queue.
        while True:
            try:
                self.pool.next_event()
            except agent.AgentError:
                return


def counter_state(**config: str | int | float | bool) -> ops.testing.State:
    """A Juju-side state for a counter unit: leader, a db relation, the workload container."""
    source = agent.CharmSource.load(COUNTER)
    relation = ops.testing.Relation(
        'db', remote_app_data={'peer-says': 'hi'}, remote_units_data={0: {'x': '1'}}
    )
    return ops.testing.State(
        leader=True,
        config={**source.config_defaults, **config},
        relations={relation},
        containers={ops.testing.Container('workload', can_connect=True)},
    )


def db_relation(state: ops.testing.State) -> ops.testing.Relation:
    (relation,) = (r for r in state.relations if r.endpoint == 'db')
    assert isinstance(relation, ops.testing.Relation)
    return relation
