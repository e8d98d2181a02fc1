"""Deletion with ownerReference garbage collection.

https://kubernetes.io/docs/concepts/architecture/garbage-collection/
"""

from __future__ import annotations

from typing import Any

import lightkube
from kube_core_helpers import Raw, statefulset_resource
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import ConfigMap

from jujusim import kube


def _owned(
    api: kube.FakeKube, name: str, *owners: dict[str, Any], kind: str = 'ConfigMap'
) -> None:
    refs = [
        {
            'apiVersion': o['apiVersion'],
            'kind': o['kind'],
            'name': o['metadata']['name'],
            'uid': o['metadata']['uid'],
        }
        for o in owners
    ]
    api.create({'kind': kind, 'metadata': {'name': name, 'ownerReferences': refs}})


def test_delete_cascades_through_dependents(api: kube.FakeKube, client: lightkube.Client) -> None:
    client.create(statefulset_resource())
    api.settle()
    sts = api.get('StatefulSet', 'default', 'web')
    assert sts is not None
    _owned(api, 'labels-state', sts)
    pod = api.get('Pod', 'default', 'web-0')
    assert pod is not None
    _owned(api, 'owned-by-pod', pod)  # two levels down
    assert len(api.objects('Pod')) == 3 and api.objects('ControllerRevision')
    client.delete(StatefulSet, 'web')
    assert api.objects('Pod') == []
    assert api.objects('ControllerRevision') == []
    assert api.objects('ConfigMap') == []


def test_a_dependent_lives_while_any_owner_does(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    first = api.create({'kind': 'ConfigMap', 'metadata': {'name': 'first'}})
    second = api.create({'kind': 'ConfigMap', 'metadata': {'name': 'second'}})
    _owned(api, 'shared', first, second)
    client.delete(ConfigMap, 'first')
    assert api.get('ConfigMap', 'default', 'shared') is not None
    client.delete(ConfigMap, 'second')
    assert api.get('ConfigMap', 'default', 'shared') is None


def test_orphan_propagation_keeps_dependents_without_the_reference(
    api: kube.FakeKube, raw: Raw
) -> None:
    owner = api.create({'kind': 'ConfigMap', 'metadata': {'name': 'owner'}})
    _owned(api, 'dep', owner)
    response = raw.request(
        'DELETE',
        '/api/v1/namespaces/default/configmaps/owner',
        {'kind': 'DeleteOptions', 'apiVersion': 'v1', 'propagationPolicy': 'Orphan'},
    )
    assert response.status_code == 200
    assert response.json()['status'] == 'Success'
    dep = api.get('ConfigMap', 'default', 'dep')
    assert dep is not None and dep['metadata']['ownerReferences'] == []


def test_owners_are_looked_up_in_the_dependents_namespace(api: kube.FakeKube) -> None:
    owner = api.create({'kind': 'ConfigMap', 'metadata': {'name': 'owner', 'namespace': 'one'}})
    api.ensure_namespace('two')
    api.create(
        {
            'kind': 'ConfigMap',
            'metadata': {
                'name': 'cross',
                'namespace': 'two',
                'ownerReferences': [
                    {
                        'apiVersion': 'v1',
                        'kind': 'ConfigMap',
                        'name': 'owner',
                        'uid': owner['metadata']['uid'],
                    }
                ],
            },
        }
    )
    # Cross-namespace owner references are disallowed: the collector treats it as gone.
    assert api.step() is True
    assert api.get('ConfigMap', 'two', 'cross') is None
    assert api.get('ConfigMap', 'one', 'owner') is not None


def test_delete_preconditions(api: kube.FakeKube, raw: Raw) -> None:
    api.create({'kind': 'ConfigMap', 'metadata': {'name': 'cm'}})
    response = raw.request(
        'DELETE',
        '/api/v1/namespaces/default/configmaps/cm',
        {'preconditions': {'resourceVersion': '1'}},
    )
    assert response.status_code == 409
    assert 'Precondition failed: ResourceVersion in precondition: 1' in response.json()['message']
    assert api.get('ConfigMap', 'default', 'cm') is not None


def test_deleting_a_namespace_deletes_its_objects(api: kube.FakeKube, raw: Raw) -> None:
    api.create({'kind': 'ConfigMap', 'metadata': {'name': 'cm', 'namespace': 'doomed'}})
    assert raw.request('DELETE', '/api/v1/namespaces/doomed').status_code == 200
    assert api.objects('ConfigMap', 'doomed') == []
    assert api.get('Namespace', None, 'doomed') is None
