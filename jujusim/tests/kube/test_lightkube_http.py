"""lightkube against the served fake, over loopback HTTP, configured by the kubeconfig file."""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import lightkube
import pytest
from kube_served import NAMESPACE, Served
from lightkube.models import apps_v1 as apps_models
from lightkube.models import core_v1 as core_models
from lightkube.models import meta_v1
from lightkube.resources import apps_v1, core_v1


@pytest.fixture(params=['http', 'https'])
def served(request: pytest.FixtureRequest) -> Served:
    """Both ways lightkube may reach the served fake: plain HTTP and HTTPS."""
    name = 'served_http' if request.param == 'http' else 'served_https'
    return request.getfixturevalue(name)


@pytest.fixture
def client(served: Served) -> Iterator[lightkube.Client]:
    client = lightkube.Client(lightkube.KubeConfig.from_file(served.kubeconfig))
    yield client
    client.close()


def _configmap(name: str, labels: dict[str, str]) -> core_v1.ConfigMap:
    return core_v1.ConfigMap(
        metadata=meta_v1.ObjectMeta(name=name, labels=labels), data={'k': 'v'}
    )


def test_create_get_patch_list_over_http(client: lightkube.Client, served: Served):
    created = client.create(_configmap('cm1', {'app': 'a'}))
    assert created.metadata is not None
    assert created.metadata.namespace == NAMESPACE  # the kubeconfig's namespace
    client.create(_configmap('cm2', {'app': 'b'}))
    patched = client.patch(core_v1.ConfigMap, 'cm1', {'metadata': {'labels': {'x': 'y'}}})
    assert patched.metadata is not None
    assert patched.metadata.labels == {'app': 'a', 'x': 'y'}
    got = client.get(core_v1.ConfigMap, 'cm1')
    assert got.metadata is not None
    assert got.metadata.resourceVersion == patched.metadata.resourceVersion
    names = [
        c.metadata.name for c in client.list(core_v1.ConfigMap, labels={'app': 'b'}) if c.metadata
    ]
    assert names == ['cm2']
    # The fake saw it all as the admin caller.
    stored = served.fake.get('ConfigMap', NAMESPACE, 'cm1')
    assert stored is not None
    assert stored['metadata']['labels'] == {'app': 'a', 'x': 'y'}


def test_errors_raise_api_error_with_the_status(client: lightkube.Client):
    with pytest.raises(lightkube.ApiError) as missing:
        client.get(core_v1.Pod, 'nope')
    assert missing.value.status.code == 404
    assert missing.value.status.reason == 'NotFound'
    client.create(_configmap('cm1', {}))
    with pytest.raises(lightkube.ApiError) as exists:
        client.create(_configmap('cm1', {}))
    assert exists.value.status.code == 409
    assert exists.value.status.reason == 'AlreadyExists'


def test_statefulset_rolls_in_serve_mode(client: lightkube.Client):

    client.create(
        apps_v1.StatefulSet(
            metadata=meta_v1.ObjectMeta(name='web'),
            spec=apps_models.StatefulSetSpec(
                replicas=2,
                serviceName='web',
                selector=meta_v1.LabelSelector(matchLabels={'app': 'web'}),
                template=core_models.PodTemplateSpec(
                    metadata=meta_v1.ObjectMeta(labels={'app': 'web'}),
                    spec=core_models.PodSpec(
                        containers=[core_models.Container(name='c', image='i')]
                    ),
                ),
            ),
        )
    )
    # Serve mode settles the controller after each request: the pods exist already.
    pods = client.list(core_v1.Pod, labels={'app': 'web'})
    assert sorted(str(p.metadata and p.metadata.name) for p in pods) == ['web-0', 'web-1']
    client.patch(
        apps_v1.StatefulSet, 'web', {'spec': {'template': {'metadata': {'labels': {'x': 'y'}}}}}
    )
    for pod in client.list(core_v1.Pod, labels={'app': 'web'}):
        assert pod.metadata is not None
        assert pod.metadata.labels is not None
        assert pod.metadata.labels['x'] == 'y'


def test_one_keep_alive_connection_for_many_calls(client: lightkube.Client, served: Served):
    client.create(_configmap('cm1', {}))
    for i in range(100):
        client.patch(core_v1.ConfigMap, 'cm1', {'metadata': {'labels': {'i': str(i)}}})
        client.get(core_v1.ConfigMap, 'cm1')
    assert served.server.connections_accepted == 1


def test_lost_response_is_a_disconnect_and_the_write_is_applied(
    client: lightkube.Client, served: Served
):
    served.fake.faults.lose_response(verb='create', kind='ConfigMap')
    with pytest.raises(httpx2.RemoteProtocolError):
        client.create(_configmap('cm1', {'lost': 'yes'}))
    stored = served.fake.get('ConfigMap', NAMESPACE, 'cm1')
    assert stored is not None
    assert stored['metadata']['labels'] == {'lost': 'yes'}
    # The client reconnects and carries on.
    with pytest.raises(lightkube.ApiError) as exists:
        client.create(_configmap('cm1', {}))
    assert exists.value.status.code == 409


def test_unknown_token_is_unauthorized(served: Served):
    path = served.kubeconfig_for('not-registered', served.kubeconfig.with_name('stranger'))
    stranger = lightkube.Client(lightkube.KubeConfig.from_file(path))
    try:
        with pytest.raises(lightkube.ApiError) as denied:
            stranger.get(core_v1.ConfigMap, 'x')
        assert denied.value.status.code == 401
    finally:
        stranger.close()
