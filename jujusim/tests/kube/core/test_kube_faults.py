"""Fault hooks (fail before applying, apply and lose the response) and the request log."""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

import threading

import httpx2
import lightkube
import pytest
from kube_core_helpers import statefulset_resource
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import ConfigMap

from jujusim import kube

CALLER = 'admin-client'


@pytest.fixture(autouse=True)
def _cm(client: lightkube.Client) -> None:
    client.create(ConfigMap(metadata=ObjectMeta(name='cm')))


def test_a_burst_of_409s_then_success(api: kube.FakeKube, client: lightkube.Client) -> None:
    fault = api.faults.fail(409, caller=CALLER, verb='patch', kind='ConfigMap', count=3)
    rv = api.resource_version
    for _ in range(3):
        with pytest.raises(ApiError) as err:
            client.patch(ConfigMap, 'cm', {'data': {'a': 'b'}})
        assert (err.value.status.code, err.value.status.reason) == (409, 'Conflict')
        assert err.value.status.message is not None
        assert err.value.status.message.startswith('Operation cannot be fulfilled on configmaps')
        assert api.resource_version == rv  # failed before applying
    assert client.patch(ConfigMap, 'cm', {'data': {'a': 'b'}}).data == {'a': 'b'}
    assert fault.fired == 3 and fault.remaining == 0
    assert [e.fault for e in api.log.entries(CALLER)[-4:]] == [True, True, True, False]


@pytest.mark.parametrize(
    ('code', 'reason'), [(500, 'InternalError'), (503, 'ServiceUnavailable'), (403, 'Forbidden')]
)
def test_fail_with_other_statuses(
    client: lightkube.Client, api: kube.FakeKube, code: int, reason: str
) -> None:
    api.faults.fail(code, verb='get', kind='ConfigMap', name='cm')
    with pytest.raises(ApiError) as err:
        client.get(ConfigMap, 'cm')
    assert (err.value.status.code, err.value.status.reason) == (code, reason)
    if code == 403:
        assert err.value.status.message == (
            'configmaps "cm" is forbidden: User "kubernetes-admin" cannot get resource '
            '"configmaps" in API group "" in the namespace "default"'
        )
    assert client.get(ConfigMap, 'cm').metadata is not None  # one shot


def test_matchers_only_hit_matching_requests(api: kube.FakeKube, client: lightkube.Client) -> None:
    client.create(statefulset_resource())
    fault = api.faults.fail(500, kind='StatefulSet', verb='patch')
    other_caller = api.faults.fail(500, caller='someone-else')
    client.patch(ConfigMap, 'cm', {'data': {'a': 'b'}})
    client.get(StatefulSet, 'web')
    assert fault.fired == 0 and other_caller.fired == 0
    with pytest.raises(ApiError):
        client.patch(StatefulSet, 'web', {'metadata': {'labels': {'a': 'b'}}})
    assert fault.fired == 1
    assert [f.fired for f in api.faults.pending()] == [0]


def test_lost_response_is_applied_and_the_connection_drops(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    fault = api.faults.lose_response(caller=CALLER, verb='patch', kind='ConfigMap')
    rv = api.resource_version
    with pytest.raises(httpx2.TransportError) as err:
        client.patch(ConfigMap, 'cm', {'data': {'applied': 'yes'}})
    assert isinstance(err.value, httpx2.RemoteProtocolError)
    assert fault.fired == 1
    assert api.resource_version == rv + 1
    assert client.get(ConfigMap, 'cm').data == {'applied': 'yes'}
    lost = api.log.entries(CALLER)[-2]
    assert (lost.verb, lost.status, lost.applied, lost.lost) == ('patch', 200, True, True)


def test_lost_response_of_a_failing_request(api: kube.FakeKube, client: lightkube.Client) -> None:
    api.faults.lose_response(verb='create')
    with pytest.raises(httpx2.RemoteProtocolError):
        client.create(ConfigMap(metadata=ObjectMeta(name='cm')))  # would be 409
    entry = api.log.entries(CALLER)[-1]
    assert (entry.status, entry.applied, entry.lost) == (409, False, True)


def test_handle_raises_response_lost(api: kube.FakeKube) -> None:
    api.faults.lose_response(verb='delete')
    request = kube.ApiRequest(
        method='DELETE',
        path='/api/v1/namespaces/default/configmaps/cm',
        headers={'authorization': 'Bearer admin-token'},
    )
    with pytest.raises(kube.ResponseLost):
        api.handle(request)
    assert api.get('ConfigMap', 'default', 'cm') is None


def test_fault_arguments_are_checked(api: kube.FakeKube) -> None:
    with pytest.raises(ValueError, match='4xx or 5xx'):
        api.faults.fail(200)


def test_log_counts_reads_and_writes_per_caller(
    api: kube.FakeKube, client: lightkube.Client
) -> None:
    api.register_caller('other-token', kube.AdminPolicy(), name='other')
    api.log.clear()
    client.get(ConfigMap, 'cm')
    list(client.list(ConfigMap))
    client.patch(ConfigMap, 'cm', {'data': {'a': 'b'}})
    client.patch(ConfigMap, 'cm', {'data': {'a': 'b'}})  # a no-op write still counts
    client.create(ConfigMap(metadata=ObjectMeta(name='cm2')))
    client.delete(ConfigMap, 'cm2')
    with pytest.raises(ApiError):
        client.get(ConfigMap, 'missing')
    with kube.lightkube_client(api, token='other-token') as other:
        other.get(ConfigMap, 'cm')
    assert api.log.counts(CALLER) == kube.RequestCounts(reads=3, writes=4)
    assert api.log.counts('other') == kube.RequestCounts(reads=1, writes=0)
    entries = api.log.entries(CALLER)
    assert [(e.verb, e.name, e.status, e.applied) for e in entries] == [
        ('get', 'cm', 200, False),
        ('list', '', 200, False),
        ('patch', 'cm', 200, True),
        ('patch', 'cm', 200, False),
        ('create', 'cm2', 201, True),
        ('delete', 'cm2', 200, True),
        ('get', 'missing', 404, False),
    ]


def test_handle_is_thread_safe(api: kube.FakeKube) -> None:
    rv = api.resource_version
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            with kube.lightkube_client(api, token='admin-token') as c:
                for round_ in range(20):
                    c.patch(ConfigMap, 'cm', {'data': {f'k{index}-{round_}': 'v'}})
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = api.get('ConfigMap', 'default', 'cm')
    assert stored is not None and len(stored['data']) == 80
    assert api.resource_version == rv + 80
