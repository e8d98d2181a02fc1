"""The three patch types, with Kubernetes' strategic-merge semantics for the kinds served."""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

from typing import Any

import lightkube
import pytest
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ConfigMap, Pod
from lightkube.types import PatchType

from jujusim import kube


def _pod(api: kube.FakeKube, **extra: Any) -> dict[str, Any]:
    return api.create(
        {
            'apiVersion': 'v1',
            'kind': 'Pod',
            'metadata': {
                'name': 'p',
                'labels': {'keep': 'me', 'drop': 'me'},
                'finalizers': ['a/x', 'b/y'],
                'ownerReferences': [
                    {'apiVersion': 'v1', 'kind': 'ConfigMap', 'name': 'o1', 'uid': 'u1'},
                ],
            },
            'spec': {
                'containers': [
                    {
                        'name': 'app',
                        'image': 'app:1',
                        'env': [{'name': 'A', 'value': '1'}, {'name': 'B', 'value': '2'}],
                        'ports': [{'containerPort': 80}, {'containerPort': 443}],
                        'volumeMounts': [{'name': 'v', 'mountPath': '/v'}],
                    },
                    {'name': 'sidecar', 'image': 'side:1'},
                ],
                'volumes': [{'name': 'v', 'emptyDir': {}}, {'name': 'w', 'emptyDir': {}}],
                'tolerations': [{'key': 't1', 'operator': 'Exists'}],
            },
            **extra,
        }
    )


def _smp(client: lightkube.Client, patch: dict[str, Any]) -> dict[str, Any]:
    return client.patch(Pod, 'p', patch, patch_type=PatchType.STRATEGIC).to_dict()


def test_strategic_null_deletes_and_maps_merge(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    _pod(api)
    pod = _smp(client, {'metadata': {'labels': {'drop': None, 'new': 'one'}}})
    assert pod['metadata']['labels'] == {'keep': 'me', 'new': 'one'}


def test_strategic_containers_merge_by_name(api: kube.FakeKube, client: lightkube.Client) -> None:
    _pod(api)
    pod = _smp(client, {'spec': {'containers': [{'name': 'sidecar', 'image': 'side:2'}]}})
    images = {c['name']: c['image'] for c in pod['spec']['containers']}
    assert images == {'app': 'app:1', 'sidecar': 'side:2'}
    added = _smp(client, {'spec': {'containers': [{'name': 'third', 'image': 't:1'}]}})
    assert [c['name'] for c in added['spec']['containers']] == ['app', 'sidecar', 'third']


def test_strategic_nested_lists_merge_by_their_keys(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    _pod(api)
    patch: dict[str, Any] = {
        'spec': {
            'containers': [
                {
                    'name': 'app',
                    'env': [{'name': 'B', 'value': 'two'}, {'name': 'C', 'value': '3'}],
                    'ports': [{'containerPort': 443, 'name': 'https'}],
                    'volumeMounts': [{'name': 'w', 'mountPath': '/w'}],
                }
            ],
            'volumes': [{'name': 'x', 'emptyDir': {}}],
        }
    }
    pod = _smp(client, patch)
    app: dict[str, Any] = pod['spec']['containers'][0]
    assert app['env'] == [
        {'name': 'A', 'value': '1'},
        {'name': 'B', 'value': 'two'},
        {'name': 'C', 'value': '3'},
    ]
    assert app['ports'] == [
        {'containerPort': 80, 'protocol': 'TCP'},
        {'containerPort': 443, 'protocol': 'TCP', 'name': 'https'},
    ]
    assert [m['mountPath'] for m in app['volumeMounts']] == ['/v', '/w']
    assert [v['name'] for v in pod['spec']['volumes']] == ['v', 'w', 'x']


def test_strategic_owner_references_merge_by_uid(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    _pod(api)
    ref = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'name': 'o2', 'uid': 'u2'}
    pod = _smp(client, {'metadata': {'ownerReferences': [ref]}})
    assert [r['uid'] for r in pod['metadata']['ownerReferences']] == ['u1', 'u2']
    renamed = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'name': 'renamed', 'uid': 'u1'}
    pod = _smp(client, {'metadata': {'ownerReferences': [renamed]}})
    assert [r['name'] for r in pod['metadata']['ownerReferences']] == ['renamed', 'o2']


def test_strategic_atomic_lists_are_replaced(api: kube.FakeKube, client: lightkube.Client) -> None:
    _pod(api)
    pod = _smp(client, {'spec': {'tolerations': [{'key': 't2', 'operator': 'Exists'}]}})
    assert pod['spec']['tolerations'] == [{'key': 't2', 'operator': 'Exists'}]


def test_strategic_patch_directives(api: kube.FakeKube, client: lightkube.Client) -> None:
    _pod(api)
    deleted = _smp(client, {'spec': {'containers': [{'name': 'sidecar', '$patch': 'delete'}]}})
    assert [c['name'] for c in deleted['spec']['containers']] == ['app']
    replaced_map = _smp(client, {'metadata': {'labels': {'only': 'this', '$patch': 'replace'}}})
    assert replaced_map['metadata']['labels'] == {'only': 'this'}
    replaced_list = _smp(
        client, {'spec': {'volumes': [{'$patch': 'replace'}, {'name': 'z', 'emptyDir': {}}]}}
    )
    assert [v['name'] for v in replaced_list['spec']['volumes']] == ['z']
    finalizers = _smp(client, {'metadata': {'$deleteFromPrimitiveList/finalizers': ['a/x']}})
    assert finalizers['metadata']['finalizers'] == ['b/y']
    merged_set = _smp(client, {'metadata': {'finalizers': ['b/y', 'c/z']}})
    assert merged_set['metadata']['finalizers'] == ['b/y', 'c/z']
    retained = _smp(
        client,
        {
            'spec': {
                'volumes': [
                    {'name': 'z', 'hostPath': {'path': '/h'}, '$retainKeys': ['name', 'hostPath']}
                ]
            }
        },
    )
    assert retained['spec']['volumes'] == [{'name': 'z', 'hostPath': {'path': '/h'}}]
    ordered = _smp(
        client,
        {
            'spec': {
                '$setElementOrder/containers': [{'name': 'b'}, {'name': 'app'}],
                'containers': [{'name': 'b', 'image': 'b:1'}],
            }
        },
    )
    assert [c['name'] for c in ordered['spec']['containers']] == ['b', 'app']


def test_strategic_bad_directive_is_422_and_changes_nothing(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    _pod(api)
    rv = api.resource_version
    with pytest.raises(ApiError) as err:
        _smp(client, {'metadata': {'labels': {'$patch': 'explode'}}})
    assert err.value.status.code == 422
    with pytest.raises(ApiError) as missing_key:
        _smp(client, {'spec': {'containers': [{'image': 'no-name'}]}})
    assert missing_key.value.status.code == 422
    assert api.resource_version == rv


def test_merge_patch_replaces_lists_and_deletes_nulls(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    _pod(api)
    pod = client.patch(
        Pod,
        'p',
        {
            'metadata': {'labels': {'drop': None}},
            'spec': {'containers': [{'name': 'solo', 'image': 's:1'}]},
        },
        patch_type=PatchType.MERGE,
    ).to_dict()
    assert pod['metadata']['labels'] == {'keep': 'me'}
    assert [c['name'] for c in pod['spec']['containers']] == ['solo']


def test_json_patch_operations(api: kube.FakeKube, client: lightkube.Client) -> None:
    api.create({'kind': 'ConfigMap', 'metadata': {'name': 'cm', 'labels': {'a': '1'}}})
    ops = [
        {'op': 'test', 'path': '/metadata/labels/a', 'value': '1'},
        {'op': 'add', 'path': '/metadata/labels/b', 'value': '2'},
        {'op': 'replace', 'path': '/metadata/labels/a', 'value': 'one'},
        {'op': 'add', 'path': '/data', 'value': {'k': 'v'}},
        {'op': 'copy', 'from': '/data/k', 'path': '/data/k2'},
        {'op': 'remove', 'path': '/data/k'},
    ]
    cm = client.patch(ConfigMap, 'cm', ops, patch_type=PatchType.JSON)
    assert cm.metadata is not None and cm.metadata.labels == {'a': 'one', 'b': '2'}
    assert cm.data == {'k2': 'v'}


@pytest.mark.parametrize(
    'ops',
    [
        [{'op': 'test', 'path': '/metadata/labels/a', 'value': 'wrong'}],
        [{'op': 'remove', 'path': '/metadata/labels/absent'}],
        [{'op': 'add', 'path': '/no/such/parent', 'value': 1}],
        [{'path': '/metadata/labels/a'}],
        ['not an operation'],
    ],
)
def test_json_patch_failure_is_422_and_atomic(
    api: kube.FakeKube, client: lightkube.Client, ops: list[Any]
) -> None:
    api.create({'kind': 'ConfigMap', 'metadata': {'name': 'cm', 'labels': {'a': '1'}}})
    rv = api.resource_version
    with pytest.raises(ApiError) as err:
        client.patch(
            ConfigMap,
            'cm',
            [{'op': 'add', 'path': '/metadata/labels/b', 'value': '2'}, *ops],
            patch_type=PatchType.JSON,
        )
    assert err.value.status.code == 422
    assert err.value.status.reason == 'Invalid'
    assert api.resource_version == rv
    assert api.get('ConfigMap', 'default', 'cm')['metadata']['labels'] == {'a': '1'}  # type: ignore[index]


def test_patch_of_a_missing_object_is_404(client: lightkube.Client) -> None:
    with pytest.raises(ApiError) as err:
        client.patch(ConfigMap, 'ghost', {'data': {'a': 'b'}})
    assert err.value.status.code == 404
    assert err.value.status.message == 'configmaps "ghost" not found'
