"""Callers, bearer tokens and Juju's trust Role.

juju/juju caas/kubernetes/provider/application/trust.go: untrusted apps get/list/patch pods
and services in their namespace; ``juju trust`` grants everything.
"""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

from collections.abc import Callable, Iterator

import lightkube
import pytest
from kube_core_helpers import Raw, statefulset_resource
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import ConfigMap, Pod, Service

from jujusim import kube

APP_TOKEN = 'mesh-consumer-token'
USER = 'system:serviceaccount:default:mesh-consumer'


@pytest.fixture
def policy(api: kube.FakeKube, client: lightkube.Client) -> kube.JujuAppPolicy:
    client.create(statefulset_resource('mesh-consumer', replicas=1))
    client.create(ConfigMap(metadata=ObjectMeta(name='cm')))
    api.create({'kind': 'Service', 'metadata': {'name': 'mesh-consumer'}, 'spec': {}})
    api.create({'kind': 'ConfigMap', 'metadata': {'name': 'cm', 'namespace': 'other'}})
    api.settle()
    p = kube.JujuAppPolicy(namespace='default', app='mesh-consumer')
    api.register_caller(APP_TOKEN, p)
    return p


@pytest.fixture
def app(api: kube.FakeKube, policy: kube.JujuAppPolicy) -> Iterator[lightkube.Client]:
    with kube.lightkube_client(api, token=APP_TOKEN) as c:
        yield c


def _forbidden(verb: str, resource: str, group: str, name: str = '') -> str:
    what = f'{resource}.{group}' if group else resource
    head = f'{what} "{name}" is forbidden' if name else f'{what} is forbidden'
    return (
        f'{head}: User "{USER}" cannot {verb} resource "{resource}" in API group "{group}" '
        'in the namespace "default"'
    )


def test_unknown_or_missing_token_is_401(api: kube.FakeKube) -> None:
    for token in ('wrong', None):
        response = Raw(api, token=token).request('GET', '/api/v1/namespaces/default/pods')
        assert response.status_code == 401
        assert response.headers['content-type'] == 'application/json'
        assert response.json() == {
            'kind': 'Status',
            'apiVersion': 'v1',
            'metadata': {},
            'status': 'Failure',
            'message': 'Unauthorized',
            'reason': 'Unauthorized',
            'code': 401,
        }
    with kube.lightkube_client(api, token='wrong') as stranger, pytest.raises(ApiError) as err:
        stranger.get(Pod, 'x')
    assert (err.value.status.code, err.value.status.reason) == (401, 'Unauthorized')
    assert api.log.counts('anonymous').reads == 3


def test_untrusted_app_may_read_and_patch_pods_and_services(app: lightkube.Client) -> None:
    assert app.get(Pod, 'mesh-consumer-0').metadata is not None
    assert [p.metadata.name for p in app.list(Pod) if p.metadata] == ['mesh-consumer-0']
    patched = app.patch(Pod, 'mesh-consumer-0', {'metadata': {'labels': {'x': 'y'}}})
    assert patched.metadata is not None and patched.metadata.labels is not None
    assert patched.metadata.labels['x'] == 'y'
    app.patch(Service, 'mesh-consumer', {'metadata': {'labels': {'x': 'y'}}})


def _get_sts(c: lightkube.Client) -> object:
    return c.get(StatefulSet, 'mesh-consumer')


def _patch_sts(c: lightkube.Client) -> object:
    return c.patch(StatefulSet, 'mesh-consumer', {'metadata': {'labels': {'a': 'b'}}})


def _list_sts(c: lightkube.Client) -> object:
    return list(c.list(StatefulSet))


def _delete_pod(c: lightkube.Client) -> object:
    return c.delete(Pod, 'mesh-consumer-0')


def _get_cm(c: lightkube.Client) -> object:
    return c.get(ConfigMap, 'cm')


@pytest.mark.parametrize(
    ('call', 'message'),
    [
        (_get_sts, _forbidden('get', 'statefulsets', 'apps', 'mesh-consumer')),
        (_patch_sts, _forbidden('patch', 'statefulsets', 'apps', 'mesh-consumer')),
        (_list_sts, _forbidden('list', 'statefulsets', 'apps')),
        (_delete_pod, _forbidden('delete', 'pods', '', 'mesh-consumer-0')),
        (_get_cm, _forbidden('get', 'configmaps', '', 'cm')),
    ],
)
def test_untrusted_app_is_forbidden_with_the_real_message(
    app: lightkube.Client, call: Callable[[lightkube.Client], object], message: str
) -> None:
    with pytest.raises(ApiError) as err:
        call(app)
    status = err.value.status
    assert (status.code, status.reason) == (403, 'Forbidden')
    assert status.message == message


def test_statefulset_403_message_matches_juju_reports(app: lightkube.Client) -> None:
    # As quoted in canonical/vault-k8s-operator#917 (names changed).
    with pytest.raises(ApiError) as err:
        app.get(StatefulSet, 'mesh-consumer')
    assert err.value.status.message == (
        'statefulsets.apps "mesh-consumer" is forbidden: User '
        '"system:serviceaccount:default:mesh-consumer" cannot get resource "statefulsets" in '
        'API group "apps" in the namespace "default"'
    )
    details = err.value.status.details
    assert details is not None
    assert (details.name, details.group, details.kind) == ('mesh-consumer', 'apps', 'statefulsets')


def test_untrusted_app_is_confined_to_its_namespace(app: lightkube.Client) -> None:
    with pytest.raises(ApiError) as err:
        app.list(Pod, namespace='other').__iter__().__next__()
    assert err.value.status.code == 403


def test_configmaps_can_be_opted_in_for_untrusted_apps(
    app: lightkube.Client, policy: kube.JujuAppPolicy
) -> None:
    policy.untrusted_configmaps = True
    app.create(ConfigMap(metadata=ObjectMeta(name='state')))
    app.patch(ConfigMap, 'state', {'data': {'a': 'b'}})
    app.delete(ConfigMap, 'state')
    with pytest.raises(ApiError) as err:
        app.get(ConfigMap, 'cm', namespace='other')
    assert err.value.status.code == 403


def test_trust_flips_at_run_time(app: lightkube.Client, policy: kube.JujuAppPolicy) -> None:
    with pytest.raises(ApiError):
        app.get(StatefulSet, 'mesh-consumer')
    policy.trusted = True
    assert app.get(StatefulSet, 'mesh-consumer').metadata is not None
    app.patch(StatefulSet, 'mesh-consumer', {'metadata': {'labels': {'a': 'b'}}})
    app.get(ConfigMap, 'cm', namespace='other')
    policy.trusted = False
    with pytest.raises(ApiError) as err:
        app.get(StatefulSet, 'mesh-consumer')
    assert err.value.status.code == 403


def test_forbidden_requests_change_nothing(api: kube.FakeKube, app: lightkube.Client) -> None:
    rv = api.resource_version
    with pytest.raises(ApiError):
        app.patch(StatefulSet, 'mesh-consumer', {'metadata': {'labels': {'a': 'b'}}})
    assert api.resource_version == rv
    entry = api.log.entries(USER)[-1]
    assert (entry.verb, entry.kind, entry.status, entry.applied) == (
        'patch',
        'StatefulSet',
        403,
        False,
    )
