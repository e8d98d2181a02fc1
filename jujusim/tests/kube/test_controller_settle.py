"""settle() and step() take exactly the actions the reference stepping takes (linear cost)."""

from __future__ import annotations

import contextlib
import datetime
import random
from typing import Any

import pytest

from jujusim import kube

NS = 'ns'


def _epoch() -> datetime.datetime:
    return datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _statefulset(name: str, rng: random.Random) -> dict[str, Any]:
    spec: dict[str, Any] = {
        'replicas': rng.randint(0, 6),
        'selector': {'matchLabels': {'app': name}},
        'serviceName': name,
        'podManagementPolicy': rng.choice(['OrderedReady', 'Parallel']),
        'template': {
            'metadata': {'labels': {'app': name}},
            'spec': {'containers': [{'name': 'c', 'image': 'img:1'}]},
        },
    }
    if rng.random() < 0.3:
        spec['updateStrategy'] = {'type': 'OnDelete'}
    elif rng.random() < 0.5:
        spec['updateStrategy'] = {
            'type': 'RollingUpdate',
            'rollingUpdate': {'partition': rng.randint(0, 3)},
        }
    return {
        'apiVersion': 'apps/v1',
        'kind': 'StatefulSet',
        'metadata': {'name': name},
        'spec': spec,
    }


def _disturb(fake: kube.FakeKube, rng: random.Random) -> None:
    """One change a user or kubelet might make between controller runs."""
    names = [s['metadata']['name'] for s in fake.objects('StatefulSet', NS)]
    pods = [p['metadata']['name'] for p in fake.objects('Pod', NS)]
    choice = rng.randrange(5)
    if choice == 0 and names:
        image = f'img:{rng.randint(1, 4)}'
        patch = {'spec': {'template': {'spec': {'containers': [{'name': 'c', 'image': image}]}}}}
        fake.patch('StatefulSet', NS, rng.choice(names), patch)
    elif choice == 1 and names:
        fake.patch('StatefulSet', NS, rng.choice(names), {'spec': {'replicas': rng.randint(0, 7)}})
    elif choice == 2 and pods:
        pod = rng.choice(pods)
        if fake.store.graceful_pods:
            # Deleted gracefully it is only marked Terminating; the kubelet deletes it for
            # good later (grace period 0), or a user does.
            terminating = (fake.get('Pod', NS, pod) or {})['metadata'].get('deletionTimestamp')
            fake.delete('Pod', NS, pod, grace_period=0 if terminating else rng.choice([0, 30]))
        else:
            fake.delete('Pod', NS, pod)
    elif choice == 3 and pods:
        # The kubelet reports a pod not ready (a probe failing), or ready again.
        ready = rng.choice(['True', 'False'])
        status = {'status': {'conditions': [{'type': 'Ready', 'status': ready}]}}
        fake.patch('Pod', NS, rng.choice(pods), status)
    elif choice == 4:
        fake.create(_statefulset(f's{rng.randint(0, 3)}', rng), namespace=NS)
    if fake.store.graceful_pods and rng.random() < 0.2:
        # A pod nobody owns, in a StatefulSet's pod name, blocks that ordinal until deleted.
        name = f's{rng.randint(0, 3)}-{rng.randint(0, 3)}'
        if name in pods:
            fake.delete('Pod', NS, name, grace_period=0)
        else:
            fake.create(
                {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name}}, namespace=NS
            )


def _snapshot(fake: kube.FakeKube) -> list[Any]:
    kinds = ('StatefulSet', 'Pod', 'ControllerRevision')
    objects = [(k, o) for k in kinds for o in fake.objects(k, NS)]
    log = [(e.caller, e.verb, e.kind, e.name, e.status) for e in fake.log.entries()]
    return [fake.resource_version, objects, log]


def _run(fake: kube.FakeKube, seed: int, drive: str) -> list[Any]:
    """A scenario of changes, the controller driven after each batch; the end state and log."""
    rng = random.Random(seed)  # noqa: S311 (a test's scenario, not a secret)
    fake.create(_statefulset('s0', rng), namespace=NS)
    for _ in range(12):
        for _ in range(rng.randint(1, 3)):
            # An invalid change (a name taken...) is refused alike by every fake.
            with contextlib.suppress(kube.StatusError):
                _disturb(fake, rng)
        if drive == 'settle':
            fake.settle()
            continue
        if drive == 'settle-reference':
            while fake.controller.step_reference():
                pass
            continue
        step = fake.step if drive == 'step' else fake.controller.step_reference
        while step():
            if rng.random() < 0.15:
                # Someone else writes between two steps (a kubelet, a unit): the state
                # step() keeps from its last action must be dropped.
                with contextlib.suppress(kube.StatusError):
                    _disturb(fake, rng)
    return _snapshot(fake)


def _fake(seed: int, *, graceful: bool = False) -> kube.FakeKube:
    return kube.FakeKube(namespaces=(NS,), seed=seed, clock=_epoch, graceful_pod_deletion=graceful)


@pytest.mark.parametrize('seed', range(40))
def test_settle_takes_the_same_actions_as_reference_stepping(seed: int):
    settled = _run(_fake(seed), seed, 'settle')
    reference = _run(_fake(seed), seed, 'settle-reference')
    assert settled[2] == reference[2]  # the same actions, in the same order
    assert settled == reference


@pytest.mark.parametrize('seed', range(40))
def test_step_takes_the_same_actions_as_reference_stepping(seed: int):
    assert _run(_fake(seed), seed, 'step') == _run(_fake(seed), seed, 'reference')


@pytest.mark.parametrize('seed', range(40))
def test_step_under_graceful_deletion_takes_the_reference_actions(seed: int):
    """Under graceful pod deletion step() skips StatefulSets whose inputs did not change
    since they were last idle; it still takes every action the reference takes."""
    stepped = _run(_fake(seed, graceful=True), seed, 'step')
    assert stepped == _run(_fake(seed, graceful=True), seed, 'reference')


@pytest.mark.parametrize('seed', range(10))
def test_settle_under_graceful_deletion_takes_the_reference_actions(seed: int):
    settled = _run(_fake(seed, graceful=True), seed, 'settle')
    assert settled == _run(_fake(seed, graceful=True), seed, 'settle-reference')
