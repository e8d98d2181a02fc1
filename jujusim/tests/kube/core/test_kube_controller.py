"""The StatefulSet controller, stepped explicitly.

https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/ (Deployment and Scaling
Guarantees, Rolling Updates, Partitioned rolling updates, Pod Management Policies).
"""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

from typing import Any

import lightkube
import pytest
from kube_core_helpers import statefulset, statefulset_resource
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import Pod

from jujusim import kube

RELABEL = {'spec': {'template': {'metadata': {'labels': {'mesh': 'on'}}}}}


@pytest.fixture
def events(api: kube.FakeKube) -> list[kube.Event]:
    seen: list[kube.Event] = []
    api.observe(seen.append)
    return seen


def _pod_events(events: list[kube.Event]) -> list[tuple[str, str]]:
    return [(e.type, e.name) for e in events if e.kind == 'Pod']


def _pods(api: kube.FakeKube) -> dict[str, dict[str, Any]]:
    return {p['metadata']['name']: p for p in api.objects('Pod')}


def _status(api: kube.FakeKube) -> dict[str, Any]:
    sts = api.get('StatefulSet', 'default', 'web')
    assert sts is not None
    return sts['status']


def test_nothing_happens_until_stepped(api: kube.FakeKube, client: lightkube.Client) -> None:
    client.create(statefulset_resource())
    assert api.objects('Pod') == []
    assert api.step() is True
    assert api.objects('ControllerRevision') and api.objects('Pod') == []


def test_creates_pods_in_order_with_identity_labels(
    api: kube.FakeKube, client: lightkube.Client, events: list[kube.Event]
) -> None:
    sts = client.create(statefulset_resource(labels={'mine': 'yes'}))
    assert sts.metadata is not None
    api.settle()
    assert _pod_events(events) == [('ADDED', 'web-0'), ('ADDED', 'web-1'), ('ADDED', 'web-2')]
    revision = _status(api)['updateRevision']
    for ordinal, (name, pod) in enumerate(sorted(_pods(api).items())):
        assert pod['metadata']['labels'] == {
            'app.kubernetes.io/name': 'web',
            'mine': 'yes',
            'controller-revision-hash': revision,
            'statefulset.kubernetes.io/pod-name': name,
            'apps.kubernetes.io/pod-index': str(ordinal),
        }
        assert pod['metadata']['ownerReferences'] == [
            {
                'apiVersion': 'apps/v1',
                'kind': 'StatefulSet',
                'name': 'web',
                'uid': sts.metadata.uid,
                'controller': True,
                'blockOwnerDeletion': True,
            }
        ]
        assert pod['status']['phase'] == 'Running'
        assert {'type': 'Ready', 'status': 'True'} in pod['status']['conditions']
        assert pod['spec']['hostname'] == name and pod['spec']['subdomain'] == 'web-endpoints'
    assert all(e.caller == kube.CONTROLLER for e in events if e.kind == 'Pod')


def test_status_and_controller_revision(api: kube.FakeKube, client: lightkube.Client) -> None:
    client.create(statefulset_resource())
    api.settle()
    (revision,) = api.objects('ControllerRevision')
    template = api.get('StatefulSet', 'default', 'web')['spec']['template']  # type: ignore[index]
    hash_ = kube.template_hash(template)
    assert revision['metadata']['name'] == f'web-{hash_}'
    assert revision['metadata']['labels']['controller.kubernetes.io/hash'] == hash_
    assert revision['revision'] == 1
    assert revision['data']['spec']['template']['$patch'] == 'replace'
    status = client.get(StatefulSet, 'web').status
    assert status is not None
    assert (status.replicas, status.readyReplicas, status.availableReplicas) == (3, 3, 3)
    assert (status.currentReplicas, status.updatedReplicas) == (3, 3)
    assert status.currentRevision == status.updateRevision == f'web-{hash_}'
    assert status.observedGeneration == 1


def test_recreates_a_deleted_pod(
    api: kube.FakeKube, client: lightkube.Client, events: list[kube.Event]
) -> None:
    client.create(statefulset_resource())
    api.settle()
    old_uid = _pods(api)['web-1']['metadata']['uid']
    client.delete(Pod, 'web-1')
    assert _status(api)['replicas'] == 3  # status catches up when the controller steps
    api.settle()
    assert _pods(api)['web-1']['metadata']['uid'] != old_uid
    assert _pod_events(events)[-2:] == [('DELETED', 'web-1'), ('ADDED', 'web-1')]
    deleted = next(e for e in events if e.type == 'DELETED' and e.kind == 'Pod')
    recreated = [e for e in events if e.type == 'ADDED' and e.kind == 'Pod'][-1]
    assert (deleted.caller, recreated.caller) == ('admin-client', kube.CONTROLLER)
    assert _status(api)['readyReplicas'] == 3


def test_rolls_highest_ordinal_first_one_at_a_time(
    api: kube.FakeKube, client: lightkube.Client, events: list[kube.Event]
) -> None:
    client.create(statefulset_resource())
    api.settle()
    old_rev = _status(api)['updateRevision']
    events.clear()
    patched = client.patch(StatefulSet, 'web', RELABEL)
    assert patched.metadata is not None and patched.metadata.generation == 2
    missing_at_once: list[int] = []
    while api.step():
        missing_at_once.append(3 - len(api.objects('Pod')))
        status = _status(api)
        if status['updateRevision'] != old_rev and status['updatedReplicas'] < 3:
            assert status['currentRevision'] == old_rev  # mid-rollout
    assert max(missing_at_once) == 1
    assert _pod_events(events) == [
        ('DELETED', 'web-2'),
        ('ADDED', 'web-2'),
        ('DELETED', 'web-1'),
        ('ADDED', 'web-1'),
        ('DELETED', 'web-0'),
        ('ADDED', 'web-0'),
    ]
    new_rev = _status(api)['updateRevision']
    assert new_rev != old_rev
    assert {p['metadata']['labels']['controller-revision-hash'] for p in api.objects('Pod')} == {
        new_rev
    }
    assert all(p['metadata']['labels']['mesh'] == 'on' for p in api.objects('Pod'))
    status = _status(api)
    assert status['currentRevision'] == new_rev and status['updatedReplicas'] == 3
    assert status['observedGeneration'] == 2
    assert sorted(r['revision'] for r in api.objects('ControllerRevision')) == [1, 2]


def test_rollout_waits_for_the_new_pod_to_be_ready(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    client.create(statefulset_resource())
    api.settle()
    client.patch(StatefulSet, 'web', RELABEL)
    while 'mesh' not in _pods(api).get('web-2', {}).get('metadata', {}).get('labels', {}):
        assert api.step()
    api.patch(
        'Pod',
        'default',
        'web-2',
        {'status': {'conditions': [{'type': 'Ready', 'status': 'False'}]}},
    )
    api.settle()
    # Stuck behind the unready pod: web-1 was not touched.
    assert 'mesh' not in _pods(api)['web-1']['metadata']['labels']
    assert _status(api)['readyReplicas'] == 2
    api.patch(
        'Pod',
        'default',
        'web-2',
        {'status': {'conditions': [{'type': 'Ready', 'status': 'True'}]}},
    )
    api.settle()
    assert all('mesh' in p['metadata']['labels'] for p in api.objects('Pod'))


def test_scales_up_in_order_and_down_from_the_top(
    api: kube.FakeKube, client: lightkube.Client, events: list[kube.Event]
) -> None:
    client.create(statefulset_resource(replicas=1))
    api.settle()
    client.patch(StatefulSet, 'web', {'spec': {'replicas': 3}})
    api.settle()
    client.patch(StatefulSet, 'web', {'spec': {'replicas': 1}})
    api.settle()
    assert _pod_events(events) == [
        ('ADDED', 'web-0'),
        ('ADDED', 'web-1'),
        ('ADDED', 'web-2'),
        ('DELETED', 'web-2'),
        ('DELETED', 'web-1'),
    ]
    assert _status(api)['replicas'] == 1


def test_partition_keeps_lower_ordinals_on_the_current_revision(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    client.create(statefulset_resource())
    api.settle()
    client.patch(
        StatefulSet,
        'web',
        {'spec': {'updateStrategy': {'rollingUpdate': {'partition': 2}}, **RELABEL['spec']}},
    )
    api.settle()
    labels = {n: p['metadata']['labels'] for n, p in _pods(api).items()}
    assert 'mesh' in labels['web-2']
    assert 'mesh' not in labels['web-0'] and 'mesh' not in labels['web-1']
    # A deleted pod below the partition comes back at the current revision.
    client.delete(Pod, 'web-0')
    api.settle()
    assert 'mesh' not in _pods(api)['web-0']['metadata']['labels']
    status = _status(api)
    assert status['updatedReplicas'] == 1 and status['currentReplicas'] == 2


def test_template_rollback_reuses_the_old_revision(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    client.create(statefulset_resource())
    api.settle()
    first = _status(api)['updateRevision']
    client.patch(StatefulSet, 'web', RELABEL)
    api.settle()
    client.patch(
        StatefulSet, 'web', {'spec': {'template': {'metadata': {'labels': {'mesh': None}}}}}
    )
    api.settle()
    assert _status(api)['updateRevision'] == first
    revisions = {r['metadata']['name']: r['revision'] for r in api.objects('ControllerRevision')}
    assert revisions[first] == 3 and len(revisions) == 2


def test_controller_writes_are_logged_and_bump_resource_versions(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    client.create(statefulset_resource(replicas=1))
    rv = api.resource_version
    taken = api.settle()
    entries = api.log.entries(kube.CONTROLLER)
    assert len(entries) == taken and taken > 0
    assert api.resource_version == rv + taken
    assert {(e.verb, e.kind) for e in entries} == {
        ('create', 'ControllerRevision'),
        ('create', 'Pod'),
        ('update', 'StatefulSet'),
    }
    assert api.step() is False  # settled


def test_settle_is_bounded(api: kube.FakeKube, client: lightkube.Client) -> None:
    client.create(statefulset_resource())
    with pytest.raises(RuntimeError, match='still acting after 2 steps'):
        api.settle(max_steps=2)


def test_auto_settle_runs_the_controller_after_each_write() -> None:
    api = kube.FakeKube(auto_settle=True)
    api.register_caller('t', kube.AdminPolicy())
    with kube.lightkube_client(api, token='t') as c:
        c.create(statefulset_resource())
        assert len(api.objects('Pod')) == 3


def test_graceful_pod_deletion_keeps_a_terminating_pod_until_the_kubelet_deletes_it() -> None:
    """With graceful pod deletion on, a delete marks the pod (deletionTimestamp, the grace
    period) and it stays until deleted with no grace period; the controller waits for it,
    and a Parallel scale-down marks every condemned pod at once.

    Sources: kubernetes ``pkg/registry/core/pod/strategy.go`` (CheckGracefulDelete),
    ``pkg/controller/statefulset/stateful_set_control.go`` (isTerminating; processCondemned).
    """
    api = kube.FakeKube(graceful_pod_deletion=True)
    body = statefulset(replicas=3)
    body['spec']['podManagementPolicy'] = 'Parallel'
    api.create(body)
    api.settle()
    api.delete('Pod', 'default', 'web-1')
    pod = api.get('Pod', 'default', 'web-1')
    assert pod is not None
    assert pod['metadata']['deletionGracePeriodSeconds'] == 30
    assert pod['metadata']['deletionTimestamp']
    api.settle()  # nothing to do: the controller waits for the pod to go
    assert api.get('Pod', 'default', 'web-1') == pod
    api.delete('Pod', 'default', 'web-1', grace_period=0)
    api.settle()
    recreated = api.get('Pod', 'default', 'web-1')
    assert recreated is not None
    assert recreated['metadata']['uid'] != pod['metadata']['uid']
    api.patch('StatefulSet', 'default', 'web', {'spec': {'replicas': 1}})
    api.settle()
    terminating = [
        p['metadata']['name'] for p in api.objects('Pod') if p['metadata'].get('deletionTimestamp')
    ]
    assert terminating == ['web-1', 'web-2']
