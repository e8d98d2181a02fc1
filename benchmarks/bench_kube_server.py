"""Cost of the fake API over loopback HTTP: lightkube get+patch, and one kubectl get pods."""

from __future__ import annotations

import os
import pathlib
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time

import lightkube
from lightkube.models import meta_v1
from lightkube.resources import core_v1

from jujusim import kube

NAMESPACE = 'bench'
TOKEN = secrets.token_urlsafe(16)
CALLS = 1000
KUBECTL_RUNS = 10


def _ms(seconds: list[float]) -> str:
    return f'median {statistics.median(seconds) * 1e3:.3f} ms, min {min(seconds) * 1e3:.3f} ms'


def _lightkube_get_patch(client: lightkube.Client) -> list[float]:
    client.create(core_v1.ConfigMap(metadata=meta_v1.ObjectMeta(name='cm'), data={'k': 'v'}))
    times: list[float] = []
    for i in range(CALLS):
        start = time.perf_counter()
        client.get(core_v1.ConfigMap, 'cm')
        patch = {'metadata': {'labels': {'i': str(i % 7)}}}
        client.patch(core_v1.ConfigMap, 'cm', patch)  # pyright: ignore[reportUnknownMemberType]
        times.append(time.perf_counter() - start)
    return times


def _kubectl_get_pods(kubeconfig: pathlib.Path, home: pathlib.Path) -> tuple[float, list[float]]:
    env = {'KUBECONFIG': str(kubeconfig), 'HOME': str(home), 'PATH': os.environ['PATH']}
    args = ['kubectl', f'--cache-dir={home / "cache"}', 'get', 'pods']
    times: list[float] = []
    for _ in range(KUBECTL_RUNS + 1):
        start = time.perf_counter()
        subprocess.run(args, env=env, check=True, capture_output=True)  # noqa: S603
        times.append(time.perf_counter() - start)
    return times[0], times[1:]


def main() -> None:
    fake = kube.FakeKube(namespaces=(NAMESPACE,), auto_settle=True)
    fake.register_caller(TOKEN, kube.AdminPolicy())
    with kube.KubeServer(fake.handle) as server, tempfile.TemporaryDirectory() as tmp:
        path = kube.write_kubeconfig(
            pathlib.Path(tmp) / 'kubeconfig', server=server.url, token=TOKEN, namespace=NAMESPACE
        )
        client = lightkube.Client(lightkube.KubeConfig.from_file(path))
        try:
            times = _lightkube_get_patch(client)
        finally:
            client.close()
        print(f'lightkube get+patch over loopback HTTP ({CALLS} pairs): {_ms(times)}')
        print(f'  connections accepted: {server.connections_accepted}')
        if shutil.which('kubectl') is None:
            print('kubectl get pods: skipped (kubectl is not on PATH)')
            return
        cold, warm = _kubectl_get_pods(path, pathlib.Path(tmp))
        print(
            f'kubectl get pods, wall time: first run (discovery) {cold * 1e3:.0f} ms; '
            f'then {_ms(warm)} over {KUBECTL_RUNS} runs'
        )
