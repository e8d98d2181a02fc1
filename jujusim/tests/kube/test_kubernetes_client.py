"""The official ``kubernetes`` Python client against the served fake, via the kubeconfig."""

# The kubernetes client ships no type information: its calls are Unknown to pyright.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false
# pyright: reportUnknownArgumentType=false

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kubernetes.client
import kubernetes.config
import pytest
from kubernetes.client.rest import ApiException

from .conftest import NAMESPACE, Served


@pytest.fixture
def api(served: Served) -> Iterator[kubernetes.client.ApiClient]:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(served.kubeconfig), client_configuration=configuration
    )
    with kubernetes.client.ApiClient(configuration) as api:
        yield api


def _configmap(name: str, labels: dict[str, str]) -> kubernetes.client.V1ConfigMap:
    return kubernetes.client.V1ConfigMap(
        metadata=kubernetes.client.V1ObjectMeta(name=name, labels=labels), data={'k': 'v'}
    )


def _status(e: ApiException) -> dict[str, Any]:
    return json.loads(e.body)


def test_create_read_patch_list(api: kubernetes.client.ApiClient):
    core = kubernetes.client.CoreV1Api(api)
    created = core.create_namespaced_config_map(NAMESPACE, _configmap('cm1', {'app': 'a'}))
    assert created.metadata.resource_version
    core.create_namespaced_config_map(NAMESPACE, _configmap('cm2', {'app': 'b'}))
    patched = core.patch_namespaced_config_map(
        'cm1', NAMESPACE, {'metadata': {'labels': {'x': 'y'}}}
    )
    assert patched.metadata.labels == {'app': 'a', 'x': 'y'}
    read = core.read_namespaced_config_map('cm1', NAMESPACE)
    assert read.metadata.labels == {'app': 'a', 'x': 'y'}
    assert read.metadata.resource_version == patched.metadata.resource_version
    listed = core.list_namespaced_config_map(NAMESPACE, label_selector='app in (b,c)')
    assert [c.metadata.name for c in listed.items] == ['cm2']
    listed = core.list_namespaced_config_map(NAMESPACE, label_selector='x')
    assert [c.metadata.name for c in listed.items] == ['cm1']


def test_json_patch_and_statefulset(api: kubernetes.client.ApiClient):
    apps = kubernetes.client.AppsV1Api(api)
    labels = {'app': 'web'}
    apps.create_namespaced_stateful_set(
        NAMESPACE,
        kubernetes.client.V1StatefulSet(
            metadata=kubernetes.client.V1ObjectMeta(name='web'),
            spec=kubernetes.client.V1StatefulSetSpec(
                replicas=2,
                service_name='web',
                selector=kubernetes.client.V1LabelSelector(match_labels=labels),
                template=kubernetes.client.V1PodTemplateSpec(
                    metadata=kubernetes.client.V1ObjectMeta(labels=labels),
                    spec=kubernetes.client.V1PodSpec(
                        containers=[kubernetes.client.V1Container(name='c', image='i')]
                    ),
                ),
            ),
        ),
    )
    # A list body is sent as application/json-patch+json.
    apps.patch_namespaced_stateful_set(
        'web',
        NAMESPACE,
        [{'op': 'add', 'path': '/spec/template/metadata/labels/x', 'value': 'y'}],
    )
    sts = apps.read_namespaced_stateful_set('web', NAMESPACE)
    assert sts.spec.template.metadata.labels == {'app': 'web', 'x': 'y'}
    pods = kubernetes.client.CoreV1Api(api).list_namespaced_pod(NAMESPACE, label_selector='x=y')
    assert sorted(p.metadata.name for p in pods.items) == ['web-0', 'web-1']


def test_conflicts_raise_409(api: kubernetes.client.ApiClient):
    core = kubernetes.client.CoreV1Api(api)
    first = core.create_namespaced_config_map(NAMESPACE, _configmap('cm1', {}))
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(NAMESPACE, _configmap('cm1', {}))
    assert exists.value.status == 409
    assert _status(exists.value)['reason'] == 'AlreadyExists'

    core.patch_namespaced_config_map('cm1', NAMESPACE, {'data': {'k': 'changed'}})
    stale = _configmap('cm1', {'stale': 'yes'})
    stale.metadata.resource_version = first.metadata.resource_version
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map('cm1', NAMESPACE, stale)
    assert conflict.value.status == 409
    assert _status(conflict.value)['reason'] == 'Conflict'
    assert core.read_namespaced_config_map('cm1', NAMESPACE).metadata.labels is None


def test_missing_object_raises_404(api: kubernetes.client.ApiClient):
    with pytest.raises(ApiException) as missing:
        kubernetes.client.CoreV1Api(api).read_namespaced_pod('nope', NAMESPACE)
    assert missing.value.status == 404
    status = _status(missing.value)
    assert status['reason'] == 'NotFound'
    assert status['message'] == 'pods "nope" not found'
