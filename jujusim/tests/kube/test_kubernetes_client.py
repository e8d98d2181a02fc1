"""The official ``kubernetes`` Python client against the served fake, via the kubeconfig."""

# kubernetes' config loader and ApiException leave some types unknown.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kubernetes.client
import kubernetes.config
import pytest
from kube_served import NAMESPACE, Served
from kubernetes.client.exceptions import ApiException


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
    assert isinstance(e.body, str | bytes)
    return json.loads(e.body)


def _meta(obj: Any) -> kubernetes.client.V1ObjectMeta:
    """An object's metadata (every object the server returns has some)."""
    meta = obj.metadata
    assert isinstance(meta, kubernetes.client.V1ObjectMeta)
    return meta


def _names(objs: Any) -> list[str]:
    return sorted(str(_meta(o).name) for o in objs.items)


def test_create_read_patch_list(api: kubernetes.client.ApiClient):
    core = kubernetes.client.CoreV1Api(api)
    created = core.create_namespaced_config_map(NAMESPACE, _configmap('cm1', {'app': 'a'}))
    assert _meta(created).resource_version
    core.create_namespaced_config_map(NAMESPACE, _configmap('cm2', {'app': 'b'}))
    patched = core.patch_namespaced_config_map(
        'cm1', NAMESPACE, {'metadata': {'labels': {'x': 'y'}}}
    )
    assert _meta(patched).labels == {'app': 'a', 'x': 'y'}
    read = core.read_namespaced_config_map('cm1', NAMESPACE)
    assert _meta(read).labels == {'app': 'a', 'x': 'y'}
    assert _meta(read).resource_version == _meta(patched).resource_version
    listed = core.list_namespaced_config_map(NAMESPACE, label_selector='app in (b,c)')
    assert _names(listed) == ['cm2']
    listed = core.list_namespaced_config_map(NAMESPACE, label_selector='x')
    assert _names(listed) == ['cm1']


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
    assert sts.spec is not None
    assert _meta(sts.spec.template).labels == {'app': 'web', 'x': 'y'}
    pods = kubernetes.client.CoreV1Api(api).list_namespaced_pod(NAMESPACE, label_selector='x=y')
    assert _names(pods) == ['web-0', 'web-1']


def test_conflicts_raise_409(api: kubernetes.client.ApiClient):
    core = kubernetes.client.CoreV1Api(api)
    first = core.create_namespaced_config_map(NAMESPACE, _configmap('cm1', {}))
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(NAMESPACE, _configmap('cm1', {}))
    assert exists.value.status == 409
    assert _status(exists.value)['reason'] == 'AlreadyExists'

    core.patch_namespaced_config_map('cm1', NAMESPACE, {'data': {'k': 'changed'}})
    stale = _configmap('cm1', {'stale': 'yes'})
    _meta(stale).resource_version = _meta(first).resource_version
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map('cm1', NAMESPACE, stale)
    assert conflict.value.status == 409
    assert _status(conflict.value)['reason'] == 'Conflict'
    assert not _meta(core.read_namespaced_config_map('cm1', NAMESPACE)).labels


def test_missing_object_raises_404(api: kubernetes.client.ApiClient):
    with pytest.raises(ApiException) as missing:
        kubernetes.client.CoreV1Api(api).read_namespaced_pod('nope', NAMESPACE)
    assert missing.value.status == 404
    status = _status(missing.value)
    assert status['reason'] == 'NotFound'
    assert status['message'] == 'pods "nope" not found'
