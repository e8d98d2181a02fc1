"""Cost of the fake API over loopback: lightkube get+patch, and one ``kubectl get pods``.

The server runs in a child process, as it does for the simulator's unit processes; the
"same process" line shows the cost when a server thread shares the client's GIL. The last
line is a deliberately broken variant: headers and body in two writes, Nagle on, which
is what the one-write rule avoids (~40 ms per call: docs/design-notes.md, "Costs measured
for the harness").
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from typing import Any

import lightkube
from lightkube.models import meta_v1
from lightkube.resources import core_v1

from jujusim import kube
from jujusim.kube import _server

NAMESPACE = 'bench'
CALLS = 1000
BROKEN_CALLS = 20
KUBECTL_RUNS = 10

# The child: serve a fresh fake (serve mode) until stdin closes; print the kubeconfig path.
_CHILD = """
import sys
from jujusim import kube
from jujusim.kube import _server
token, path, tls = sys.argv[1], sys.argv[2], sys.argv[3] == 'tls'
fake = kube.FakeKube(namespaces=('bench',), auto_settle=True)
fake.register_caller(token, kube.AdminPolicy())
with kube.KubeServer(fake.handle, tls=tls) as server:
    server.write_kubeconfig(path, token=token, namespace='bench')
    print(path, flush=True)
    sys.stdin.read()
"""


def _ms(seconds: list[float]) -> str:
    return f'median {statistics.median(seconds) * 1e3:.3f} ms, min {min(seconds) * 1e3:.3f} ms'


def _get_patch(kubeconfig: pathlib.Path, calls: int = CALLS) -> list[float]:
    client = lightkube.Client(lightkube.KubeConfig.from_file(kubeconfig))
    try:
        client.create(core_v1.ConfigMap(metadata=meta_v1.ObjectMeta(name='cm'), data={'k': 'v'}))
        times: list[float] = []
        for i in range(calls):
            patch = {'metadata': {'labels': {'i': str(i % 7)}}}
            start = time.perf_counter()
            client.get(core_v1.ConfigMap, 'cm')
            client.patch(core_v1.ConfigMap, 'cm', patch)  # pyright: ignore[reportUnknownMemberType]
            times.append(time.perf_counter() - start)
        return times
    finally:
        client.close()


@contextlib.contextmanager
def _serve_in_child(tmp: pathlib.Path, *, tls: bool) -> Generator[pathlib.Path]:
    path = tmp / f'kubeconfig-{"tls" if tls else "http"}'
    args = [sys.executable, '-c', _CHILD, secrets.token_urlsafe(16), str(path)]
    with subprocess.Popen(  # noqa: S603
        [*args, 'tls' if tls else 'http'],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline().strip() == str(path)
        try:
            yield path
        finally:
            child.stdin.close()
            child.wait(30)


def _kubectl_get_pods(kubeconfig: pathlib.Path, home: pathlib.Path) -> tuple[float, list[float]]:
    env = {'KUBECONFIG': str(kubeconfig), 'HOME': str(home), 'PATH': os.environ['PATH']}
    args = ['kubectl', f'--cache-dir={home / "cache"}', 'get', 'pods']
    times: list[float] = []
    for _ in range(KUBECTL_RUNS + 1):
        start = time.perf_counter()
        subprocess.run(args, env=env, check=True, capture_output=True)  # noqa: S603
        times.append(time.perf_counter() - start)
    return times[0], times[1:]


@contextlib.contextmanager
def _two_writes_with_nagle() -> Generator[None]:
    """Break the server on purpose: headers, then body, in two writes; Nagle left on."""
    handler: Any = _server._RequestHandler
    saved = handler.setup, handler._write

    def setup(self: Any) -> None:
        saved[0](self)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)

    def write(self: Any, response: kube.ApiResponse) -> None:
        head, _, body = self._serialise(response).partition(b'\r\n\r\n')
        self.wfile.write(head + b'\r\n\r\n')
        self.wfile.write(body)

    handler.setup, handler._write = setup, write
    try:
        yield
    finally:
        handler.setup, handler._write = saved


def _same_process(tmp: pathlib.Path, name: str, calls: int) -> tuple[list[float], int]:
    fake = kube.FakeKube(namespaces=(NAMESPACE,), auto_settle=True)
    token = secrets.token_urlsafe(16)
    fake.register_caller(token, kube.AdminPolicy())
    with kube.KubeServer(fake.handle) as server:
        path = server.write_kubeconfig(tmp / name, token=token, namespace=NAMESPACE)
        return _get_patch(path, calls), server.connections_accepted


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = pathlib.Path(tmp_name)
        for tls in (False, True):
            scheme = 'HTTPS' if tls else 'HTTP'
            with _serve_in_child(tmp, tls=tls) as path:
                times = _get_patch(path)
                print(f'lightkube get+patch, {scheme}, server in a child ({CALLS}): {_ms(times)}')
                if tls and shutil.which('kubectl') is not None:
                    cold, warm = _kubectl_get_pods(path, tmp)
                    print(
                        f'kubectl get pods, wall time: first run (discovery) {cold * 1e3:.0f} ms;'
                        f' then {_ms(warm)} over {KUBECTL_RUNS} runs'
                    )
                elif tls:
                    print('kubectl get pods: skipped (kubectl is not on PATH)')
        times, accepted = _same_process(tmp, 'kc-same', CALLS)
        print(f'lightkube get+patch, HTTP, server in the same process ({CALLS}): {_ms(times)}')
        print(f'  connections accepted for {2 * CALLS + 1} requests: {accepted}')
        with _two_writes_with_nagle():
            times, _ = _same_process(tmp, 'kc-broken', BROKEN_CALLS)
        print(
            f'BROKEN variant (two writes per response, Nagle on), same process '
            f'({BROKEN_CALLS}): {_ms(times)}'
        )
