"""Per-call cost of lightkube through the in-process transport; one 3-pod rollout."""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false

from __future__ import annotations

import statistics
import time
from typing import Any

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from jujusim import kube

CALLS = 2000
ROLLOUTS = 100


def _statefulset() -> dict[str, Any]:
    return {
        'apiVersion': 'apps/v1',
        'kind': 'StatefulSet',
        'metadata': {'name': 'web', 'namespace': 'default'},
        'spec': {
            'replicas': 3,
            'serviceName': 'web',
            'selector': {'matchLabels': {'app.kubernetes.io/name': 'web'}},
            'template': {
                'metadata': {'labels': {'app.kubernetes.io/name': 'web'}},
                'spec': {'containers': [{'name': 'charm', 'image': 'charm:1'}]},
            },
        },
    }


def _report(what: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    print(f'{what}: median {statistics.median(ms):.3f} ms, min {min(ms):.3f} ms ({len(ms)} runs)')


def bench_get_patch() -> None:
    api = kube.FakeKube()
    token = 'bench-token'  # noqa: S105 (a fake API's caller id)
    api.register_caller(token, kube.AdminPolicy())
    with kube.lightkube_client(api, token=token) as client:
        client.create(ConfigMap(metadata=ObjectMeta(name='cm')))
        samples: list[float] = []
        for i in range(CALLS):
            start = time.perf_counter()
            client.get(ConfigMap, 'cm')
            client.patch(ConfigMap, 'cm', {'metadata': {'labels': {'n': str(i % 2)}}})
            samples.append(time.perf_counter() - start)
    _report('lightkube get+patch via KubeTransport', samples)


def bench_rollout() -> None:
    api = kube.FakeKube()
    api.create(_statefulset())
    api.settle()
    samples: list[float] = []
    actions: list[int] = []
    for i in range(ROLLOUTS):
        start = time.perf_counter()
        api.patch(
            'StatefulSet',
            'default',
            'web',
            {'spec': {'template': {'metadata': {'labels': {'rollout': str(i)}}}}},
        )
        actions.append(api.settle())
        samples.append(time.perf_counter() - start)
    _report('StatefulSet rollout of 3 pods (relabel template + settle)', samples)
    print(f'  controller actions per rollout: {statistics.median(actions):.0f}')


def main() -> None:
    bench_get_patch()
    bench_rollout()
