"""The fake API under load on loopback, and the StatefulSet controller's cost at 1,000 pods.

Requests per second from 8 concurrent clients (threads, one keep-alive connection each),
half conditional merge patches of a ConfigMap of their own (a GET, then a PATCH carrying
the resourceVersion it read), half label-selected lists; then the same with 8 watches open
on the ConfigMaps, each read by its own thread, so every patch is also streamed 8 times.
The server runs in a child process, as it does for the simulator's units.

Then the controller, in process: create, roll and scale down a 1,000-replica StatefulSet
with ``settle()`` and with ``step()`` one action at a time (as the simulator drives it), and,
for contrast, the same at 200 replicas with ``step_reference()``, which re-reads every pod
per action (quadratic: the controller before it kept its state between actions).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Generator
from typing import Any

from jujusim import kube

NAMESPACE = 'bench'
TOKEN = 'bench-token'  # noqa: S105 (a throwaway token for a loopback server)
CLIENTS = 8
WATCHES = 8
SECONDS = 3.0
REPLICAS = 1000
STEPPED_REPLICAS = 200

_CHILD = """
import sys
from jujusim import kube
fake = kube.FakeKube(namespaces=('bench',), auto_settle=True)
fake.register_caller(sys.argv[1], kube.AdminPolicy())
with kube.KubeServer(fake.handle) as server:
    print(server.port, flush=True)
    sys.stdin.read()
"""

HEADERS = {'Authorization': f'Bearer {TOKEN}'}
CM_PATH = f'/api/v1/namespaces/{NAMESPACE}/configmaps'


@contextlib.contextmanager
def _server() -> Generator[int, None, None]:
    child = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
        [sys.executable, '-c', _CHILD, TOKEN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield int(child.stdout.readline())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


def _call(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={**HEADERS, **headers})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def _client(port: int, index: int, stop: threading.Event, counts: list[int]) -> None:
    conn = http.client.HTTPConnection('127.0.0.1', port)
    name = f'cm-{index}'
    _call(
        conn,
        'POST',
        CM_PATH,
        {'metadata': {'name': name, 'labels': {'client': str(index)}}},
        **{'Content-Type': 'application/json'},
    )
    done = 0
    while not stop.is_set():
        _, cm = _call(conn, 'GET', f'{CM_PATH}/{name}')
        patch = {
            'metadata': {'resourceVersion': cm['metadata']['resourceVersion']},
            'data': {'n': str(done)},
        }
        status, _ = _call(
            conn,
            'PATCH',
            f'{CM_PATH}/{name}',
            patch,
            **{'Content-Type': 'application/merge-patch+json'},
        )
        assert status == 200, status
        _call(conn, 'GET', f'{CM_PATH}?labelSelector=client%3D{index}')
        done += 3
    counts[index] = done
    conn.close()


def _watch(port: int, opened: threading.Barrier, seen: list[int], index: int) -> None:
    conn = http.client.HTTPConnection('127.0.0.1', port)
    conn.request(
        'GET', f'{CM_PATH}?watch=true&timeoutSeconds={int(SECONDS) + 30}', headers=HEADERS
    )
    response = conn.getresponse()
    opened.wait()
    with contextlib.suppress(OSError, ValueError):
        for _ in response:
            seen[index] += 1
    conn.close()


def _load(port: int, watches: int) -> tuple[float, int]:
    seen = [0] * watches
    opened = threading.Barrier(watches + 1)
    watchers = [
        threading.Thread(target=_watch, args=(port, opened, seen, i), daemon=True)
        for i in range(watches)
    ]
    for watcher in watchers:
        watcher.start()
    if watches:
        opened.wait()
    stop = threading.Event()
    counts = [0] * CLIENTS
    clients = [
        threading.Thread(target=_client, args=(port, i, stop, counts)) for i in range(CLIENTS)
    ]
    started = time.perf_counter()
    for client in clients:
        client.start()
    time.sleep(SECONDS)
    stop.set()
    for client in clients:
        client.join()
    elapsed = time.perf_counter() - started
    return sum(counts) / elapsed, sum(seen)


def _statefulset(replicas: int) -> dict[str, Any]:
    return {
        'apiVersion': 'apps/v1',
        'kind': 'StatefulSet',
        'metadata': {'name': 'web'},
        'spec': {
            'replicas': replicas,
            'serviceName': 'web',
            'selector': {'matchLabels': {'app': 'web'}},
            'template': {
                'metadata': {'labels': {'app': 'web'}},
                'spec': {'containers': [{'name': 'c', 'image': 'img:1'}]},
            },
        },
    }


def _controller(replicas: int, *, drive: str) -> list[tuple[str, float, int]]:
    fake = kube.FakeKube(
        namespaces=(NAMESPACE,), clock=lambda: datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    )

    def run() -> tuple[float, int]:
        started = time.perf_counter()
        if drive == 'settle()':
            actions = fake.settle(max_steps=10 * replicas + 100)
        else:
            step = fake.step if drive == 'step()' else fake.controller.step_reference
            actions = 0
            while step():
                actions += 1
        return time.perf_counter() - started, actions

    fake.create(_statefulset(replicas), namespace=NAMESPACE)
    rows = [('create', *run())]
    patch = {'spec': {'template': {'metadata': {'labels': {'app': 'web', 'v': '2'}}}}}
    fake.patch('StatefulSet', NAMESPACE, 'web', patch)
    rows.append(('roll every pod', *run()))
    fake.patch('StatefulSet', NAMESPACE, 'web', {'spec': {'replicas': 1}})
    rows.append((f'scale {replicas} -> 1', *run()))
    return rows


def main() -> None:
    """Print requests/s with and without watches, and the controller's costs."""
    with _server() as port:
        rate, _ = _load(port, 0)
        print(f'{CLIENTS} clients, conditional patches and lists: {rate:,.0f} requests/s')
    with _server() as port:
        rate, events = _load(port, WATCHES)
        print(
            f'{CLIENTS} clients with {WATCHES} watches open: {rate:,.0f} requests/s '
            f'({events:,} watch events delivered)'
        )
    for replicas, drive in (
        (REPLICAS, 'settle()'),
        (REPLICAS, 'step()'),
        (STEPPED_REPLICAS, 'step_reference()'),
    ):
        for what, seconds, actions in _controller(replicas, drive=drive):
            print(
                f'StatefulSet of {replicas}, {drive}: {what}: {seconds:.2f} s, {actions} actions,'
                f' {seconds / max(actions, 1) * 1e6:.0f} us/action'
            )


if __name__ == '__main__':
    main()
