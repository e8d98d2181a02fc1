"""API-server semantics, driven through lightkube's real Client over the transport."""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

from typing import Any

import lightkube
import pytest
from kube_core_helpers import ADMIN_TOKEN, Raw, statefulset, statefulset_resource
from lightkube.config.kubeconfig import KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod
from lightkube.types import PatchType

from jujusim import kube

CONFLICT_MSG = (
    'Operation cannot be fulfilled on configmaps "cm": the object has been modified; please '
    'apply your changes to the latest version and try again'
)


def _cm(client: lightkube.Client, **labels: str) -> ConfigMap:
    return client.create(
        ConfigMap(metadata=ObjectMeta(name='cm', labels=dict(labels)), data={'k': 'v'})
    )


def test_create_sets_system_fields_from_one_counter(client: lightkube.Client) -> None:
    first = _cm(client)
    second = client.create(ConfigMap(metadata=ObjectMeta(name='other')))
    assert first.metadata is not None and second.metadata is not None
    assert first.metadata.uid and second.metadata.uid and first.metadata.uid != second.metadata.uid
    assert first.metadata.creationTimestamp is not None
    assert (
        int(second.metadata.resourceVersion or 0) == int(first.metadata.resourceVersion or 0) + 1
    )
    # ConfigMaps carry no generation (only kinds whose strategy sets one do).
    assert first.metadata.generation is None


def test_noop_write_keeps_resource_version(api: kube.FakeKube, client: lightkube.Client) -> None:
    _cm(client, a='1')
    rv = api.resource_version
    for patch_type in (PatchType.STRATEGIC, PatchType.MERGE):
        same = client.patch(
            ConfigMap, 'cm', {'metadata': {'labels': {'a': '1'}}}, patch_type=patch_type
        )
        assert same.metadata is not None and same.metadata.resourceVersion == str(rv)
    same = client.patch(
        ConfigMap,
        'cm',
        [{'op': 'replace', 'path': '/metadata/labels/a', 'value': '1'}],
        patch_type=PatchType.JSON,
    )
    assert same.metadata is not None and same.metadata.resourceVersion == str(rv)
    current = client.get(ConfigMap, 'cm')
    replaced = client.replace(current)
    assert replaced.metadata is not None and replaced.metadata.resourceVersion == str(rv)
    assert api.resource_version == rv
    # A real change does bump it, by exactly one.
    changed = client.patch(ConfigMap, 'cm', {'metadata': {'labels': {'a': '2'}}})
    assert changed.metadata is not None and changed.metadata.resourceVersion == str(rv + 1)


def test_stale_resource_version_conflicts_on_put_and_patch(client: lightkube.Client) -> None:
    old = _cm(client)
    assert old.metadata is not None
    client.patch(ConfigMap, 'cm', {'data': {'k': 'changed'}})
    with pytest.raises(ApiError) as put:
        client.replace(old)
    assert put.value.status.code == 409
    assert put.value.status.reason == 'Conflict'
    assert put.value.status.message == CONFLICT_MSG
    stale = {'metadata': {'resourceVersion': old.metadata.resourceVersion}, 'data': {'x': 'y'}}
    for patch_type in (PatchType.STRATEGIC, PatchType.MERGE):
        with pytest.raises(ApiError) as patch:
            client.patch(ConfigMap, 'cm', stale, patch_type=patch_type)
        assert patch.value.status.code == 409
        assert patch.value.status.message == CONFLICT_MSG
    with pytest.raises(ApiError) as json_patch:
        client.patch(
            ConfigMap,
            'cm',
            [{'op': 'replace', 'path': '/metadata/resourceVersion', 'value': '1'}],
            patch_type=PatchType.JSON,
        )
    assert json_patch.value.status.code == 409
    assert client.get(ConfigMap, 'cm').data == {'k': 'changed'}
    # The current resourceVersion, or none at all, is accepted.
    current = client.get(ConfigMap, 'cm')
    assert current.metadata is not None
    fresh = {'metadata': {'resourceVersion': current.metadata.resourceVersion}, 'data': {'x': 'y'}}
    assert client.patch(ConfigMap, 'cm', fresh).data == {'k': 'changed', 'x': 'y'}


def test_generation_bumps_on_spec_changes_only(client: lightkube.Client) -> None:
    created = client.create(statefulset_resource())
    assert created.metadata is not None and created.metadata.generation == 1
    relabelled = client.patch(StatefulSet, 'web', {'metadata': {'labels': {'x': 'y'}}})
    assert relabelled.metadata is not None and relabelled.metadata.generation == 1
    template = {'spec': {'template': {'metadata': {'labels': {'x': 'y'}}}}}
    rolled = client.patch(StatefulSet, 'web', template)
    assert rolled.metadata is not None and rolled.metadata.generation == 2
    again = client.patch(StatefulSet, 'web', template)
    assert again.metadata is not None and again.metadata.generation == 2
    assert again.metadata.resourceVersion == rolled.metadata.resourceVersion


def test_status_cannot_change_through_the_main_resource(client: lightkube.Client) -> None:
    client.create(statefulset_resource())
    patched = client.patch(StatefulSet, 'web', {'status': {'replicas': 7}})
    assert patched.status is not None and patched.status.replicas == 0


@pytest.mark.parametrize(
    ('labels', 'message_part'),
    [
        ({'bad key!': 'v'}, 'name part must consist of alphanumeric characters'),
        ({'k': 'bad value!'}, 'a valid label must be an empty string or consist of'),
        ({'k' * 64: 'v'}, 'name part must be no more than 63 characters'),
        ({'k': 'v' * 64}, 'must be no more than 63 characters'),
        ({'Bad_Prefix/k': 'v'}, 'prefix part a lowercase RFC 1123 subdomain must consist of'),
        ({'/k': 'v'}, 'prefix part must be non-empty'),
        ({'a/b/c': 'v'}, 'a qualified name must consist of'),
    ],
)
def test_invalid_labels_are_422_naming_the_field(
    client: lightkube.Client, labels: dict[str, str], message_part: str
) -> None:
    _cm(client)
    with pytest.raises(ApiError) as err:
        client.patch(ConfigMap, 'cm', {'metadata': {'labels': labels}})
    status = err.value.status
    assert status.code == 422
    assert status.reason == 'Invalid'
    assert status.message is not None and status.message.startswith('ConfigMap "cm" is invalid: ')
    assert message_part in status.message
    assert status.details is not None and status.details.causes
    assert {c.field for c in status.details.causes} == {'metadata.labels'}
    assert status.details.kind == 'ConfigMap' and status.details.name == 'cm'
    assert not client.get(ConfigMap, 'cm').metadata.labels  # type: ignore[union-attr]


def test_valid_label_edge_cases_are_accepted(client: lightkube.Client) -> None:
    labels = {'example.com/' + 'k' * 63: 'v' * 63, 'empty': '', 'a.b_c-d': 'A.b_c-9'}
    created = client.create(ConfigMap(metadata=ObjectMeta(name='cm', labels=labels)))
    assert created.metadata is not None and created.metadata.labels == labels


def test_template_labels_must_keep_matching_the_selector(client: lightkube.Client) -> None:
    client.create(statefulset_resource())
    with pytest.raises(ApiError) as err:
        client.patch(
            StatefulSet,
            'web',
            {'spec': {'template': {'metadata': {'labels': {'app.kubernetes.io/name': None}}}}},
        )
    assert err.value.status.code == 422
    assert err.value.status.message is not None
    assert err.value.status.message.startswith('StatefulSet.apps "web" is invalid: ')
    causes = err.value.status.details.causes  # type: ignore[union-attr]
    assert causes is not None
    assert [c.field for c in causes] == ['spec.template.metadata.labels']
    assert '`selector` does not match template `labels`' in (causes[0].message or '')


def test_status_errors_have_the_api_server_shape(raw: Raw) -> None:
    response = raw.request('GET', '/api/v1/namespaces/default/configmaps/missing')
    assert response.status_code == 404
    assert response.headers['content-type'] == 'application/json'
    assert response.json() == {
        'kind': 'Status',
        'apiVersion': 'v1',
        'metadata': {},
        'status': 'Failure',
        'message': 'configmaps "missing" not found',
        'reason': 'NotFound',
        'details': {'name': 'missing', 'kind': 'configmaps'},
        'code': 404,
    }
    sts = raw.request('GET', '/apis/apps/v1/namespaces/default/statefulsets/missing').json()
    assert sts['message'] == 'statefulsets.apps "missing" not found'
    assert sts['details'] == {'name': 'missing', 'group': 'apps', 'kind': 'statefulsets'}


def test_lightkube_raises_api_error_with_code_and_reason(client: lightkube.Client) -> None:
    with pytest.raises(ApiError) as missing:
        client.get(Pod, 'nope')
    assert (missing.value.status.code, missing.value.status.reason) == (404, 'NotFound')
    _cm(client)
    with pytest.raises(ApiError) as exists:
        _cm(client)
    assert (exists.value.status.code, exists.value.status.reason) == (409, 'AlreadyExists')
    assert exists.value.status.message == 'configmaps "cm" already exists'


def test_body_name_disagreeing_with_url_is_400(raw: Raw, client: lightkube.Client) -> None:
    _cm(client)
    body = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'other'}}
    response = raw.request('PUT', '/api/v1/namespaces/default/configmaps/cm', body)
    assert response.status_code == 400
    assert response.json()['reason'] == 'BadRequest'
    assert response.json()['message'] == (
        'the name of the object (other) does not match the name on the URL (cm)'
    )
    renamed = raw.request(
        'PATCH',
        '/api/v1/namespaces/default/configmaps/cm',
        {'metadata': {'name': 'other'}},
        content_type='application/merge-patch+json',
    )
    assert renamed.status_code == 400


def test_uid_is_immutable(client: lightkube.Client) -> None:
    _cm(client)
    with pytest.raises(ApiError) as err:
        client.patch(ConfigMap, 'cm', {'metadata': {'uid': 'another'}})
    assert err.value.status.code == 422
    causes = err.value.status.details.causes  # type: ignore[union-attr]
    assert causes is not None and causes[0].field == 'metadata.uid'
    assert 'field is immutable' in (causes[0].message or '')


def test_namespace_mismatch_is_400(raw: Raw) -> None:
    body = {'metadata': {'name': 'cm', 'namespace': 'elsewhere'}}
    response = raw.request('POST', '/api/v1/namespaces/default/configmaps', body)
    assert response.status_code == 400
    assert 'does not match the namespace sent on the request' in response.json()['message']


@pytest.mark.parametrize(
    ('method', 'path', 'content', 'content_type', 'code', 'reason'),
    [
        (
            'POST',
            '/api/v1/namespaces/default/configmaps',
            b'{not json',
            'application/json',
            400,
            'BadRequest',
        ),
        (
            'POST',
            '/api/v1/namespaces/default/configmaps',
            b'[1, 2]',
            'application/json',
            400,
            'BadRequest',
        ),
        ('GET', '/api/v1/namespaces/default/widgets', None, '', 404, 'NotFound'),
        ('GET', '/nonsense/path', None, '', 404, 'NotFound'),
        ('GET', '/api/v1/namespaces/default/configmaps/cm/exec', None, '', 404, 'NotFound'),
        (
            'POST',
            '/api/v1/namespaces/default/configmaps/cm',
            b'{}',
            'application/json',
            405,
            'MethodNotAllowed',
        ),
        (
            'PUT',
            '/api/v1/namespaces/default/configmaps',
            b'{}',
            'application/json',
            405,
            'MethodNotAllowed',
        ),
        (
            'PATCH',
            '/api/v1/namespaces/default/configmaps/cm',
            b'{}',
            'application/apply-patch+yaml',
            415,
            'UnsupportedMediaType',
        ),
        (
            'PATCH',
            '/api/v1/namespaces/default/configmaps/cm',
            b'{}',
            'text/plain',
            415,
            'UnsupportedMediaType',
        ),
        (
            'PATCH',
            '/api/v1/namespaces/default/configmaps/cm',
            b'{nope',
            'application/merge-patch+json',
            400,
            'BadRequest',
        ),
        (
            'PATCH',
            '/api/v1/namespaces/default/configmaps/cm',
            b'[{"op": "jump", "path": "/a"}]',
            'application/json-patch+json',
            422,
            'Invalid',
        ),
        (
            'PATCH',
            '/api/v1/namespaces/default/configmaps/cm',
            b'{"a": 1}',
            'application/json-patch+json',
            400,
            'BadRequest',
        ),
        (
            'POST',
            '/api/v1/namespaces/absent/configmaps',
            b'{"metadata": {"name": "x"}}',
            'application/json',
            404,
            'NotFound',
        ),
        ('GET', '/api/v1/namespaces/default/configmaps', None, '', 200, None),
    ],
)
def test_bad_input_gets_a_status_never_a_crash(
    raw: Raw,
    client: lightkube.Client,
    method: str,
    path: str,
    content: bytes | None,
    content_type: str,
    code: int,
    reason: str | None,
) -> None:
    _cm(client)
    response = raw.request(method, path, content=content, content_type=content_type)
    assert response.status_code == code
    assert response.headers['content-type'] == 'application/json'
    body: dict[str, Any] = response.json()
    if reason is not None:
        assert body['kind'] == 'Status' and body['reason'] == reason and body['code'] == code
    # Nothing was lost: the ConfigMap is as it was.
    assert client.get(ConfigMap, 'cm').data == {'k': 'v'}


def test_list_carries_kind_and_resource_version(raw: Raw, client: lightkube.Client) -> None:
    _cm(client)
    body = raw.request('GET', '/api/v1/namespaces/default/configmaps').json()
    assert body['kind'] == 'ConfigMapList'
    assert body['apiVersion'] == 'v1'
    assert body['metadata']['resourceVersion'] == str(
        int(client.get(ConfigMap, 'cm').metadata.resourceVersion)  # type: ignore[union-attr]
    )
    assert [i['metadata']['name'] for i in body['items']] == ['cm']
    listed = client.list(ConfigMap)
    assert [c.metadata.name for c in listed] == ['cm']  # type: ignore[union-attr]
    assert listed.resourceVersion == body['metadata']['resourceVersion']


def test_dry_run_validates_without_storing(api: kube.FakeKube) -> None:
    rv = api.resource_version
    config = KubeConfig.from_one(
        cluster=Cluster(server=kube.FAKE_SERVER, insecure=True), user=User(token=ADMIN_TOKEN)
    )
    with lightkube.Client(
        config, transport=kube.KubeTransport(api), dry_run=True, trust_env=False
    ) as dry:
        created = dry.create(ConfigMap(metadata=ObjectMeta(name='dry')))
        assert created.metadata is not None and created.metadata.name == 'dry'
        assert api.get('ConfigMap', 'default', 'dry') is None
        assert api.resource_version == rv
        with pytest.raises(ApiError) as err:
            dry.create(ConfigMap(metadata=ObjectMeta(name='dry', labels={'bad key!': 'v'})))
        assert err.value.status.code == 422


def test_force_is_rejected_on_a_non_apply_patch(raw: Raw, client: lightkube.Client) -> None:
    _cm(client)
    response = raw.request(
        'PATCH',
        '/api/v1/namespaces/default/configmaps/cm',
        {'data': {'k': 'w'}},
        content_type='application/merge-patch+json',
        params={'force': 'true', 'fieldManager': 'me'},
    )
    assert response.status_code == 422
    ok = raw.request(
        'PATCH',
        '/api/v1/namespaces/default/configmaps/cm',
        {'data': {'k': 'w'}},
        content_type='application/merge-patch+json',
        params={'fieldManager': 'me'},
    )
    assert ok.status_code == 200 and ok.json()['data'] == {'k': 'w'}


def test_generate_name(client: lightkube.Client) -> None:
    made = client.create(ConfigMap(metadata=ObjectMeta(generateName='gen-')))
    assert made.metadata is not None and made.metadata.name is not None
    assert made.metadata.name.startswith('gen-') and len(made.metadata.name) == len('gen-') + 5


def test_create_with_resource_version_fails_like_the_real_server(
    raw: Raw,
) -> None:
    body = {'metadata': {'name': 'cm', 'resourceVersion': '5'}}
    response = raw.request('POST', '/api/v1/namespaces/default/configmaps', body)
    assert response.status_code == 500
    assert response.json()['message'] == (
        'resourceVersion should not be set on objects to be created'
    )


def test_status_subresource_changes_status_only(api: kube.FakeKube, raw: Raw) -> None:
    api.create(statefulset())
    path = '/apis/apps/v1/namespaces/default/statefulsets/web/status'
    response = raw.request(
        'PATCH',
        path,
        {'status': {'replicas': 5}, 'spec': {'replicas': 9}},
        content_type='application/merge-patch+json',
    )
    assert response.status_code == 200
    body = response.json()
    assert body['status']['replicas'] == 5
    assert body['spec']['replicas'] == 3
    assert body['metadata']['generation'] == 1
    got = raw.request('GET', path).json()
    assert got['status']['replicas'] == 5


def test_patch_cannot_move_an_object_to_another_namespace(
    raw: Raw, client: lightkube.Client
) -> None:
    _cm(client)
    response = raw.request(
        'PATCH',
        '/api/v1/namespaces/default/configmaps/cm',
        {'metadata': {'namespace': 'other'}},
        content_type='application/merge-patch+json',
    )
    assert response.status_code == 400
    assert client.get(ConfigMap, 'cm').metadata.namespace == 'default'  # type: ignore[union-attr]


def test_namespaces_are_cluster_scoped(api: kube.FakeKube, client: lightkube.Client) -> None:
    api.ensure_namespace('model')
    names = [ns.metadata.name for ns in client.list(Namespace) if ns.metadata]
    assert names == ['default', 'model']
    model = client.get(Namespace, 'model')
    assert model.metadata is not None and model.metadata.labels == {
        'kubernetes.io/metadata.name': 'model'
    }
    assert model.status is not None and model.status.phase == 'Active'
    client.create(Namespace(metadata=ObjectMeta(name='fresh')))
    assert api.get('Namespace', None, 'fresh') is not None


def test_delete_collection_by_selector(api: kube.FakeKube, raw: Raw) -> None:
    for name, tier in (('a', 'web'), ('b', 'db'), ('c', 'web')):
        api.create({'kind': 'ConfigMap', 'metadata': {'name': name, 'labels': {'tier': tier}}})
    response = raw.request(
        'DELETE', '/api/v1/namespaces/default/configmaps', params={'labelSelector': 'tier=web'}
    )
    assert response.status_code == 200
    assert [i['metadata']['name'] for i in response.json()['items']] == ['a', 'c']
    assert [o['metadata']['name'] for o in api.objects('ConfigMap')] == ['b']


def test_python_side_api_round_trip(api: kube.FakeKube) -> None:
    made = api.create({'kind': 'ConfigMap', 'metadata': {'name': 'cm', 'namespace': 'm'}})
    assert api.get('Namespace', None, 'm') is not None  # created on demand
    made['data'] = {'a': 'b'}
    replaced = api.put_object(made)
    assert replaced['data'] == {'a': 'b'}
    assert int(replaced['metadata']['resourceVersion']) > int(made['metadata']['resourceVersion'])
    patched = api.patch('ConfigMap', 'm', 'cm', {'metadata': {'labels': {'x': 'y'}}})
    assert patched['metadata']['labels'] == {'x': 'y'}
    assert [o['metadata']['name'] for o in api.objects('ConfigMap', 'm', selector='x=y')] == ['cm']
    patched['data'] = {'mutated': 'copy'}
    assert api.get('ConfigMap', 'm', 'cm')['data'] == {'a': 'b'}  # type: ignore[index]
    assert api.delete('ConfigMap', 'm', 'cm') is True
    assert api.delete('ConfigMap', 'm', 'cm') is False
    with pytest.raises(ValueError, match='not a kind'):
        api.create({'kind': 'Deployment', 'metadata': {'name': 'd'}})
    assert [(e.verb, e.kind) for e in api.log.entries(kube.ADMIN)] == [
        ('create', 'ConfigMap'),
        ('update', 'ConfigMap'),
        ('patch', 'ConfigMap'),
        ('delete', 'ConfigMap'),
    ]
