"""The loopback front end, against a tiny recording handler (no fake API needed)."""

from __future__ import annotations

import http.client
import json
import pathlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import lightkube.config.kubeconfig
import pytest

from jujusim import kube
from jujusim.kube import RESOURCES, ApiRequest, ApiResponse, KubeServer, _server


class Recorder:
    """Echoes each request back as JSON and remembers it."""

    def __init__(self) -> None:
        self.requests: list[ApiRequest] = []
        self.fail_with: BaseException | None = None
        self.reply: ApiResponse | None = None

    def handle(self, request: ApiRequest) -> ApiResponse:
        self.requests.append(request)
        if self.fail_with is not None:
            raise self.fail_with
        if self.reply is not None:
            return self.reply
        return ApiResponse.json(
            200,
            {
                'method': request.method,
                'path': request.path,
                'query': request.query,
                'body': request.body.decode(),
                'token': request.bearer_token,
            },
        )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(recorder: Recorder) -> Iterator[KubeServer]:
    with KubeServer(recorder.handle) as server:
        yield server


@pytest.fixture
def connect() -> Iterator[Callable[[KubeServer], http.client.HTTPConnection]]:
    """Open client connections to a server; all are closed at the end of the test."""
    opened: list[http.client.HTTPConnection] = []

    def connect(server: KubeServer) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection('127.0.0.1', server.port)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


Connect = Callable[[KubeServer], http.client.HTTPConnection]


def _request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[http.client.HTTPResponse, Any]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return response, json.loads(data) if data else None


def _raw(server: KubeServer, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection and read until the server hangs up."""
    with socket.create_connection(('127.0.0.1', server.port)) as sock:
        sock.sendall(data)
        chunks: list[bytes] = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b''.join(chunks)


def _status_of(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(':') for line in lines[1:])}
    assert int(headers['content-length']) == len(body)
    return int(lines[0].split()[1]), headers, json.loads(body)


def test_request_reaches_handler_decoded(connect: Connect, server: KubeServer, recorder: Recorder):
    conn = connect(server)
    response, echoed = _request(
        conn,
        'PATCH',
        '/api/v1/namespaces/ns/pods/p%2D0?labelSelector=a%3Db%2Cc&dryRun=',
        body=b'{"x": 1}',
        headers={'Authorization': 'Bearer tok', 'Content-Type': 'application/merge-patch+json'},
    )
    assert response.status == 200
    assert response.getheader('Content-Type') == 'application/json'
    assert echoed == {
        'method': 'PATCH',
        'path': '/api/v1/namespaces/ns/pods/p-0',
        'query': {'labelSelector': ['a=b,c'], 'dryRun': ['']},
        'body': '{"x": 1}',
        'token': 'tok',
    }
    assert recorder.requests[0].headers['content-type'] == 'application/merge-patch+json'


def test_keep_alive_serves_many_requests_on_one_connection(connect: Connect, server: KubeServer):
    conn = connect(server)
    conn.connect()
    sock = conn.sock
    for i in range(200):
        response, echoed = _request(conn, 'GET', f'/api/v1/namespaces/ns/pods/p-{i}')
        assert response.status == 200
        assert echoed['path'] == f'/api/v1/namespaces/ns/pods/p-{i}'
        assert response.getheader('Connection') is None
        assert response.getheader('Content-Length') is not None
    # http.client reconnects silently when the server hangs up: the socket would differ.
    assert conn.sock is sock
    assert server.connections_accepted == 1
    # Nor does it time idle connections out (a fake that did caused "Server disconnected
    # without sending a response" in docs/design-notes.md, "Costs measured for the harness").
    assert _server._RequestHandler.timeout is None


def test_each_response_is_one_socket_write(
    connect: Connect, server: KubeServer, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
):
    # Headers and body in two writes stall ~40 ms on Nagle + delayed ACK (docs/design-notes.md,
    # "Costs measured for the harness").
    writes: list[int] = []
    real_sendall = socket.socket.sendall

    def counting_sendall(self: socket.socket, data: Any, *args: Any) -> None:
        if self.getsockname()[1] == server.port:  # the server's side of a connection
            writes.append(len(data))
        real_sendall(self, data, *args)

    monkeypatch.setattr(socket.socket, 'sendall', counting_sendall)
    recorder.reply = ApiResponse.json(200, {'big': 'x' * 200_000})
    conn = connect(server)
    for _ in range(3):
        response, body = _request(conn, 'GET', '/api/v1/pods')
        assert response.status == 200
        assert len(body['big']) == 200_000
    assert len(writes) == 3
    assert all(n > 200_000 for n in writes)


def test_an_early_response_goes_out_before_the_handler_returns_and_only_once(
    connect: Connect,
):
    """A handler's thread held (as a simulator's gate holds it) while another thread sends
    its response: the client has it before the handler returns, once, and the connection
    serves the next request."""
    released = threading.Semaphore(0)
    answered: list[bool] = []

    def held_handler(request: ApiRequest) -> ApiResponse:
        response = ApiResponse.json(200, {'path': request.path})
        respond_now = kube.early_responder()
        assert respond_now is not None
        sender = threading.Thread(target=lambda: answered.append(respond_now(response)))
        sender.start()
        sender.join()
        assert released.acquire(timeout=10)  # held until the client has read the response
        return response

    with KubeServer(held_handler) as server:
        conn = connect(server)
        for i in range(3):
            response, body = _request(conn, 'GET', f'/api/v1/namespaces/ns/pods/p-{i}')
            assert (response.status, body) == (200, {'path': f'/api/v1/namespaces/ns/pods/p-{i}'})
            released.release()  # the handler returns: a second copy would come next
        assert server.connections_accepted == 1
    assert answered == [True, True, True]  # once the handlers' threads are done
    assert kube.early_responder() is None  # outside a handler


def test_discovery_documents_list_every_resource(
    connect: Connect, server: KubeServer, recorder: Recorder
):
    conn = connect(server)
    _, version = _request(conn, 'GET', '/version')
    assert (version['major'], version['minor']) == ('1', '32')
    _, api = _request(conn, 'GET', '/api')
    assert api['kind'] == 'APIVersions'
    assert api['versions'] == ['v1']
    _, apis = _request(conn, 'GET', '/apis')
    assert apis['kind'] == 'APIGroupList'
    groups = {g['name']: g for g in apis['groups']}
    assert groups['apps']['preferredVersion'] == {'groupVersion': 'apps/v1', 'version': 'v1'}
    served: dict[str, dict[str, Any]] = {}
    for path in ('/api/v1', '/apis/apps/v1'):
        response, doc = _request(conn, 'GET', path)
        assert response.status == 200
        assert doc['kind'] == 'APIResourceList'
        assert doc['groupVersion'] == path.removeprefix('/api/').removeprefix('/apis/')
        for entry in doc['resources']:
            served[f'{doc["groupVersion"]}/{entry["kind"]}'] = entry
    assert len(served) == len(RESOURCES)
    for resource in RESOURCES:
        entry = served[f'{resource.api_version}/{resource.kind}']
        assert entry['name'] == resource.plural
        assert entry['singularName'] == resource.kind.lower()
        assert entry['namespaced'] is resource.namespaced
        assert entry['verbs'] == list(resource.verbs)
        assert entry.get('shortNames', []) == list(resource.short_names)
    assert served['v1/Pod']['categories'] == ['all']
    assert 'categories' not in served['v1/ConfigMap']
    assert recorder.requests == []  # discovery never reaches the handler


def test_openapi_v3_advertises_server_side_field_validation(connect: Connect, server: KubeServer):
    # kubectl create -f validates client-side unless the group-version's OpenAPI v3 PATCH
    # operation lists fieldValidation (cli-runtime pkg/resource/query_param_verifier_v3.go).
    conn = connect(server)
    _, root = _request(conn, 'GET', '/openapi/v3')
    assert set(root['paths']) == {'api/v1', 'apis/apps/v1'}
    for key, entry in root['paths'].items():
        response, doc = _request(conn, 'GET', entry['serverRelativeURL'])
        assert response.status == 200
        kinds: set[str] = set()
        for item in doc['paths'].values():
            patch = item['patch']
            assert 'fieldValidation' in [p['name'] for p in patch['parameters']]
            kinds.add(patch['x-kubernetes-group-version-kind']['kind'])
        group_version = key.removeprefix('api/').removeprefix('apis/')
        expected = {r.kind for r in RESOURCES if r.api_version == group_version}
        assert kinds == expected


def test_discovery_refuses_writes(connect: Connect, server: KubeServer):
    conn = connect(server)
    response, status = _request(conn, 'POST', '/api/v1', body=b'{}')
    assert response.status == 405
    assert status['reason'] == 'MethodNotAllowed'


def test_gate_holds_a_request_before_the_handler(connect: Connect, recorder: Recorder):
    entered = threading.Event()
    release = threading.Event()
    gated: list[tuple[str, str]] = []

    def gate(request: ApiRequest) -> None:
        gated.append((request.method, threading.current_thread().name))
        entered.set()
        assert release.wait(30)

    with KubeServer(recorder.handle, gate=gate) as server:
        results: list[int] = []

        def client() -> None:
            conn = connect(server)
            results.append(_request(conn, 'DELETE', '/api/v1/namespaces/ns/pods/p-0')[0].status)

        thread = threading.Thread(target=client)
        thread.start()
        assert entered.wait(30)
        assert recorder.requests == []  # held: the handler has not seen it
        release.set()
        thread.join(30)
        assert results == [200]
        assert [r.method for r in recorder.requests] == ['DELETE']
        assert gated[0][0] == 'DELETE'
        assert gated[0][1].startswith('kube-conn:')  # in the connection's own thread
        # Discovery is not gated.
        conn = connect(server)
        assert _request(conn, 'GET', '/api')[0].status == 200
        assert len(gated) == 1


def test_gate_may_refuse_with_a_status(recorder: Recorder, connect: Connect):
    def gate(request: ApiRequest) -> None:
        raise kube.StatusError(code=429, reason='TooManyRequests', message='slow down')

    with KubeServer(recorder.handle, gate=gate) as server:
        response, status = _request(connect(server), 'GET', '/api/v1/pods')
    assert response.status == 429
    assert (status['reason'], status['message']) == ('TooManyRequests', 'slow down')
    assert recorder.requests == []


def test_concurrent_connections_are_served_in_parallel(recorder: Recorder):
    # A held request must not block other connections: each has its own thread.
    release = threading.Event()

    def gate(request: ApiRequest) -> None:
        if request.path.endswith('/held'):
            assert release.wait(30)

    with KubeServer(recorder.handle, gate=gate) as server:
        held: list[int] = []

        def hold() -> None:
            conn = http.client.HTTPConnection('127.0.0.1', server.port)
            held.append(_request(conn, 'GET', '/api/v1/held')[0].status)
            conn.close()

        holder = threading.Thread(target=hold)
        holder.start()
        errors: list[BaseException] = []

        def client(n: int) -> None:
            conn = http.client.HTTPConnection('127.0.0.1', server.port)
            try:
                for i in range(50):
                    response, echoed = _request(conn, 'GET', f'/api/v1/c{n}/{i}')
                    assert (response.status, echoed['path']) == (200, f'/api/v1/c{n}/{i}')
            except BaseException as e:  # reported below, in the test's thread
                errors.append(e)
            finally:
                conn.close()

        clients = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(60)
        assert errors == []
        assert held == []  # still held while 400 other requests went through
        release.set()
        holder.join(30)
        assert held == [200]
        assert server.connections_accepted == 9


def test_lost_response_closes_the_connection_after_applying(
    connect: Connect, server: KubeServer, recorder: Recorder
):
    recorder.fail_with = kube.ResponseLost('lost')
    conn = connect(server)
    with pytest.raises(http.client.RemoteDisconnected):
        _request(conn, 'POST', '/api/v1/namespaces/ns/configmaps', body=b'{}')
    assert [r.method for r in recorder.requests] == ['POST']  # the request was applied
    recorder.fail_with = None
    conn = connect(server)
    assert _request(conn, 'GET', '/api/v1/pods')[0].status == 200


def test_handler_bug_is_a_500_status_and_the_connection_lives_on(
    connect: Connect, server: KubeServer, recorder: Recorder
):
    recorder.fail_with = ZeroDivisionError('boom')
    conn = connect(server)
    response, status = _request(conn, 'GET', '/api/v1/pods')
    assert response.status == 500
    assert response.getheader('Content-Type') == 'application/json'
    assert status['kind'] == 'Status'
    assert status['reason'] == 'InternalError'
    assert 'boom' not in json.dumps(status)  # no traceback or internals leak out
    recorder.fail_with = None
    assert _request(conn, 'GET', '/api/v1/pods')[0].status == 200


@pytest.mark.parametrize(
    ('raw', 'code'),
    [
        (b'GARBAGE\r\n\r\n', 400),
        (b'GET /api/v1/pods HTTP/9.x\r\n\r\n', 400),
        (b'GET /api/v1/pods HTTP/2.0\r\n\r\n', 505),
        (b'POST /api/v1/pods HTTP/1.1\r\nContent-Length: nope\r\n\r\n', 400),
        (b'POST /api/v1/pods HTTP/1.1\r\nContent-Length: -5\r\n\r\n', 400),
        (b'POST /api/v1/pods HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n', 413),
        (b'POST /api/v1/pods HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400),
        (b'GET /' + b'a' * 70000 + b' HTTP/1.1\r\n\r\n', 414),
    ],
)
def test_malformed_http_gets_a_status_not_a_traceback(
    server: KubeServer, recorder: Recorder, raw: bytes, code: int
):
    status_code, headers, status = _status_of(_raw(server, raw))
    assert status_code == code
    assert headers['content-type'] == 'application/json'
    assert headers['connection'] == 'close'
    assert status['kind'] == 'Status'
    assert status['status'] == 'Failure'
    assert status['code'] == code
    assert recorder.requests == []


def test_chunked_body_is_decoded(server: KubeServer):
    raw = (
        b'POST /api/v1/namespaces/ns/configmaps HTTP/1.1\r\n'
        b'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
        b'5\r\n{"a":\r\n3;ext=1\r\n 1}\r\n0\r\n\r\n'
    )
    code, _, echoed = _status_of(_raw(server, raw))
    assert code == 200
    assert echoed['body'] == '{"a": 1}'


def test_stop_closes_idle_connections_and_the_port(connect: Connect, recorder: Recorder):
    server = KubeServer(recorder.handle).start()
    port = server.port
    conn = connect(server)
    assert _request(conn, 'GET', '/api/v1/pods')[0].status == 200
    server.stop()
    assert conn.sock is not None
    assert conn.sock.recv(1) == b''  # the idle keep-alive connection was closed
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.1', port)).close()
    with pytest.raises(RuntimeError, match='not started'):
        _ = server.port
    server.stop()  # a second stop is harmless


def test_start_twice_is_refused(server: KubeServer):
    with pytest.raises(RuntimeError, match='already started'):
        server.start()


@pytest.mark.parametrize('tls', [False, True])
def test_kubeconfig_skips_tls_verification_only_for_plain_http(
    recorder: Recorder, tmp_path: pathlib.Path, tls: bool
):
    # A plain-HTTP kubeconfig without the flag makes lightkube load the system CA bundle
    # into an SSL context for every client it builds; with TLS the flag would be a hole.
    with KubeServer(recorder.handle, tls=tls) as server:
        path = server.write_kubeconfig(tmp_path / 'kc', token='t', namespace='ns')
    config = lightkube.config.kubeconfig.KubeConfig.from_file(path).get()
    assert config is not None
    assert config.cluster.insecure is not tls
    assert (config.cluster.certificate_auth_data is not None) is tls
