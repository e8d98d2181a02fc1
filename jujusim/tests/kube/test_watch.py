"""Watch, Events, HEAD, slow bodies and big StatefulSets: the server keeps answering."""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from kube_paths import NS, TOKEN, new_fake

from jujusim import kube

AUTH = {'Authorization': f'Bearer {TOKEN}'}
CM_PATH = f'/api/v1/namespaces/{NS}/configmaps'


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {'kind': 'ConfigMap', 'metadata': {'name': name, 'labels': labels}}


class _Watch:
    """A watch on loopback, its events read line by line on this thread."""

    def __init__(self, server: kube.KubeServer, query: str):
        self.conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
        self.conn.request('GET', f'{CM_PATH}?watch=true&{query}', headers=AUTH)
        self.response = self.conn.getresponse()

    def next(self) -> dict[str, Any]:
        return json.loads(self.response.readline())

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def fake() -> kube.FakeKube:
    return new_fake()


@pytest.fixture
def server(fake: kube.FakeKube) -> Iterator[kube.KubeServer]:
    with kube.KubeServer(fake.handle, read_timeout=0.5) as server:
        yield server


def test_a_watch_sees_changes_and_never_holds_the_lock(
    fake: kube.FakeKube, server: kube.KubeServer
):
    fake.create(_cm('before'), namespace=NS)
    watch = _Watch(server, 'labelSelector=app%3Dx')
    try:
        assert watch.response.status == 200
        fake.create(_cm('a', app='x'), namespace=NS)  # the watch holds no lock: this returns
        fake.create(_cm('other', app='y'), namespace=NS)  # not selected
        fake.patch('ConfigMap', NS, 'a', {'data': {'k': 'v'}})
        fake.patch('ConfigMap', NS, 'a', {'metadata': {'labels': {'app': 'z'}}})  # leaves it
        seen = [
            (e['type'], e['object']['metadata']['name']) for e in (watch.next() for _ in range(3))
        ]
        assert seen == [('ADDED', 'a'), ('MODIFIED', 'a'), ('DELETED', 'a')]
        assert fake.watches.open_watches == 1
    finally:
        watch.close()
    deadline = time.monotonic() + 5
    while fake.watches.open_watches and time.monotonic() < deadline:
        time.sleep(0.05)  # the server notices the client went within an idle tick
    assert fake.watches.open_watches == 0


def test_a_watch_from_an_old_resource_version_replays_what_followed(
    fake: kube.FakeKube, server: kube.KubeServer
):
    first = fake.create(_cm('a'), namespace=NS)
    fake.patch('ConfigMap', NS, 'a', {'data': {'n': '1'}})
    fake.delete('ConfigMap', NS, 'a')
    watch = _Watch(server, f'resourceVersion={first["metadata"]["resourceVersion"]}')
    try:
        events = [watch.next() for _ in range(2)]
    finally:
        watch.close()
    assert [e['type'] for e in events] == ['MODIFIED', 'DELETED']
    assert events[0]['object']['data'] == {'n': '1'}


def test_a_watch_from_a_compacted_resource_version_gets_410_expired(server: kube.KubeServer):
    fake = kube.FakeKube(namespaces=(NS,), watch_history=3)
    fake.register_caller(TOKEN, kube.AdminPolicy())
    for i in range(6):
        fake.create(_cm(f'c{i}'), namespace=NS)
    with kube.KubeServer(fake.handle) as small:
        watch = _Watch(small, 'resourceVersion=2')
        try:
            assert watch.response.status == 200  # the cacher's newErrWatcher: an ERROR event
            event = watch.next()
        finally:
            watch.close()
    assert event['type'] == 'ERROR'
    assert (event['object']['code'], event['object']['reason']) == (410, 'Expired')
    assert event['object']['message'].startswith('too old resource version: 2 (')


def test_a_watch_in_process_streams_through_lightkube(fake: kube.FakeKube):
    from lightkube.resources.core_v1 import ConfigMap

    fake.create(_cm('a'), namespace=NS)
    client = kube.lightkube_client(fake, token=TOKEN, namespace=NS)
    seen: list[tuple[str, str]] = []

    def write_later() -> None:
        time.sleep(0.2)
        fake.create(_cm('b'), namespace=NS)

    writer = threading.Thread(target=write_later)
    writer.start()
    for op, obj in client.watch(ConfigMap, namespace=NS):
        assert obj.metadata is not None
        seen.append((op, str(obj.metadata.name)))
        if len(seen) == 2:
            break
    writer.join()
    assert seen == [('ADDED', 'a'), ('ADDED', 'b')]


def test_events_list_is_an_event_list_and_selects_by_involved_object(server: kube.KubeServer):
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
    conn.request(
        'GET',
        f'/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name%3Dx',
        headers=AUTH,
    )
    body = json.loads(conn.getresponse().read())
    conn.close()
    assert (body['kind'], body['apiVersion'], body['items']) == ('EventList', 'v1', [])
    assert body['metadata']['resourceVersion']


def test_head_has_no_body_and_the_connection_stays_in_step(server: kube.KubeServer):
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
    for method in ('HEAD', 'GET', 'HEAD', 'GET'):
        conn.request(method, CM_PATH, headers=AUTH)
        response = conn.getresponse()
        body = response.read()
        if method == 'HEAD':
            assert body == b''
        else:
            assert (response.status, json.loads(body)['kind']) == (200, 'ConfigMapList')
    conn.close()


def test_a_body_shorter_than_its_length_times_out_and_the_server_answers_others(
    server: kube.KubeServer,
):
    slow = socket.create_connection(('127.0.0.1', server.port))
    slow.sendall(
        f'POST {CM_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n'
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a"'.encode()
    )
    slow.settimeout(5)
    started = time.monotonic()
    answer = slow.recv(65536)
    slow.close()
    assert answer.startswith(b'HTTP/1.1 408'), answer
    assert b'"kind": "Status"' in answer
    assert time.monotonic() - started < 3


def test_a_huge_statefulset_never_stops_the_server_answering(
    fake: kube.FakeKube, server: kube.KubeServer
):
    sts = {
        'apiVersion': 'apps/v1',
        'kind': 'StatefulSet',
        'metadata': {'name': 'huge'},
        'spec': {
            'replicas': 2**31 - 1,  # the largest legal value: the controller never finishes
            'podManagementPolicy': 'Parallel',
            'selector': {'matchLabels': {'app': 'huge'}},
            'template': {
                'metadata': {'labels': {'app': 'huge'}},
                'spec': {'containers': [{'name': 'c', 'image': 'img'}]},
            },
        },
    }
    with httpx2.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
        started = time.monotonic()
        created = client.post(f'/apis/apps/v1/namespaces/{NS}/statefulsets', json=sts)
        assert created.status_code == 201
        for _ in range(5):
            assert client.get(CM_PATH).status_code == 200
        elapsed = time.monotonic() - started
        # It works in the background meanwhile: pods appear (counted before the scale-down
        # below, which would delete them again).
        deadline = time.monotonic() + 10
        while not fake.objects('Pod', NS) and time.monotonic() < deadline:
            time.sleep(0.01)
        made_pods = len(fake.objects('Pod', NS))
        # Stop the controller's work: scale to nothing, then it settles.
        client.patch(
            f'/apis/apps/v1/namespaces/{NS}/statefulsets/huge',
            json={'spec': {'replicas': 0}},
            headers={'Content-Type': 'application/merge-patch+json'},
        )
    # Each request waits for at most one controller budget (~0.2 s; more on a loaded machine);
    # before the budget, the create itself never returned.
    assert elapsed < 20, elapsed
    assert made_pods > 0


def test_a_watch_streams_while_the_models_gate_holds_a_units_request(fake: kube.FakeKube):
    # The simulator serves the API through its gate (model/_gate.py), which parks every
    # request of a unit until the scheduler decides. A watch (here kubectl's, any non-unit
    # token) must stream meanwhile, and the held request must go on once released.
    from jujusim.model._gate import Gate

    gate = Gate(fake, wake=lambda: None)
    fake.register_caller('unit-token', kube.AdminPolicy())
    gate.register('unit-token', 'app/0')
    with kube.KubeServer(gate.handle) as server:
        unit = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
        unit_answer: list[int] = []

        def unit_request() -> None:
            unit.request('GET', CM_PATH, headers={'Authorization': 'Bearer unit-token'})
            unit_answer.append(unit.getresponse().status)

        parked = threading.Thread(target=unit_request)
        parked.start()
        held: list[Any] = []
        deadline = time.monotonic() + 5
        while not held and time.monotonic() < deadline:
            held.extend(gate.arrived())
            time.sleep(0.01)
        assert len(held) == 1 and not unit_answer  # the unit's request is parked
        watch = _Watch(server, 'resourceVersion=0')
        try:
            fake.create(_cm('while-held'), namespace=NS)
            event = watch.next()
            assert (event['type'], event['object']['metadata']['name']) == ('ADDED', 'while-held')
            assert not unit_answer  # still parked: the watch went round the gate's hold
            held[0].release('apply')
            parked.join(timeout=10)
            assert unit_answer == [200]
        finally:
            watch.close()
            unit.close()


def test_a_store_copies_without_its_observers(fake: kube.FakeKube):
    # Test environments branch a scenario by copying the store (lib/tests' Env.clone); the
    # watch history's lock and a simulator's callbacks stay with the original.
    import copy

    fake.create(_cm('a'), namespace=NS)
    twin = copy.deepcopy(fake.store)
    assert twin.observers == [] and fake.store.observers
    assert twin.resource_version == fake.store.resource_version
    assert twin.find_uid(fake.objects('ConfigMap', NS)[0]['metadata']['uid'], NS) is not None
