"""A loopback HTTP/1.1 front end for any ``handle(ApiRequest) -> ApiResponse``."""

from __future__ import annotations

import contextlib
import functools
import http
import http.server
import logging
import os
import pathlib
import select
import socket
import socketserver
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Generator
from typing import Any, cast

from . import _discovery, _errors, _http, _kubeconfig, _tables, _tls

logger = logging.getLogger(__name__)

Handler = Callable[[_http.ApiRequest], _http.ApiResponse]
Gate = Callable[[_http.ApiRequest], None]

# Request bodies above this are refused with 413, as the real API server does past its
# 3 MiB limit (kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/server/config.go,
# MaxRequestBodyBytes).
MAX_BODY_BYTES = 3 * 1024 * 1024

READ_TIMEOUT = 30.0
"""Seconds a request's headers and body may take to arrive once its first line has.

Go's http.Server in kube-apiserver bounds reading a request's headers (ReadHeaderTimeout,
32 s: apiserver pkg/server/secure_serving.go) and the request filter times the whole request
out (60 s); a body shorter than its Content-Length would otherwise hold a thread for ever.
An idle keep-alive connection (no request begun) is never timed out.
"""


EarlyResponder = Callable[[_http.ApiResponse], bool]

# The connection thread's request being handled: how to send its response at once.
_handling = threading.local()


def early_responder() -> EarlyResponder | None:
    """Inside a :class:`KubeServer` handler: a way to send this request's response now.

    The returned function may be called from any thread while the handler is still
    running (a simulator's gate holds the request's thread until its scheduler decides);
    it sends ``response`` as the handler's return would, and returns True. The handler
    must then return that same response, which is not sent again. It returns False, and
    sends nothing, for a streamed response or when the client has gone. Outside a
    handler, None.

    Why: a gate that applies requests on another thread saves the client a thread switch
    per request (the request's thread need not wake before the response goes out).
    """
    return getattr(_handling, 'responder', None)


class KubeServer:
    """Serve a fake Kubernetes API on 127.0.0.1 over HTTP/1.1, in background threads.

    Every connection gets its own thread and stays open until the client closes it: the
    server never drops an idle keep-alive connection (clients that reuse a connection the
    server has just closed see "Server disconnected without sending a response"). Each
    response goes out in one socket write with a ``Content-Length``: headers and body in
    two writes stall ~40 ms on Nagle's algorithm and the peer's delayed ACK.

    The discovery documents kubectl needs (``/version``, ``/api``, ``/apis``, each
    group-version, OpenAPI v3) are answered here; every other request goes through
    ``gate`` (if given) and then ``handle``. If either raises :class:`ResponseLost` (the
    core's "apply it, lose the response" fault), the connection is closed with no response.

    With ``tls=True`` it serves HTTPS with a fresh self-signed certificate (see
    :attr:`ca_pem`): kubectl sends a kubeconfig's token only over TLS. Plain HTTP is the
    default, and what lightkube and the ``kubernetes`` client need (they send the token
    either way); it saves the TLS handshake and the per-client SSL context.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with KubeServer(fake.handle, tls=True) as server:
            server.write_kubeconfig('kubeconfig', token=token, namespace='default')
    """

    def __init__(
        self,
        handle: Handler,
        *,
        port: int = 0,
        gate: Gate | None = None,
        tls: bool = False,
        read_timeout: float = READ_TIMEOUT,
    ):
        self._handle = handle
        self._gate = gate
        self.read_timeout = read_timeout
        self._port = port
        self._certificate = _tls.self_signed() if tls else None
        self._tcp: _TcpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (known once started)."""
        if self._tcp is None:
            raise RuntimeError('KubeServer is not started; call start() first')
        return self._tcp.server_address[1]

    @property
    def connections_accepted(self) -> int:
        """How many TCP connections the server has accepted since it started."""
        return 0 if self._tcp is None else self._tcp.accepted

    @property
    def connections_open(self) -> int:
        """How many connections are open now (each served by a thread of its own)."""
        if self._tcp is None:
            return 0
        with self._tcp._lock:
            return len(self._tcp._connections)

    @property
    def url(self) -> str:
        """The server's base URL, ``http[s]://127.0.0.1:PORT``."""
        scheme = 'http' if self._certificate is None else 'https'
        return f'{scheme}://127.0.0.1:{self.port}'

    @property
    def ca_pem(self) -> bytes | None:
        """The self-signed certificate (PEM) clients must trust; None without TLS."""
        return None if self._certificate is None else self._certificate.cert_pem

    def write_kubeconfig(
        self,
        path: str | os.PathLike[str],
        *,
        token: str,
        namespace: str,
        user: str = 'admin',
    ) -> pathlib.Path:
        """Write a kubeconfig for this server (its URL and, with TLS, its certificate).

        Without TLS the cluster is marked ``insecure-skip-tls-verify``: nothing to verify
        on plain HTTP, and lightkube then builds no CA-loaded SSL context per client
        (the cost of a hook that makes a client, as the label library does every hook).
        """
        return _kubeconfig.write_kubeconfig(
            path,
            server=self.url,
            token=token,
            namespace=namespace,
            user=user,
            certificate_authority=self.ca_pem,
            insecure_skip_tls_verify=self._certificate is None,
        )

    def start(self) -> KubeServer:
        """Bind the socket and start serving in a background thread."""
        if self._tcp is not None:
            raise RuntimeError('KubeServer is already started')
        context = None if self._certificate is None else self._certificate.server_context()
        self._tcp = _TcpServer(self, ('127.0.0.1', self._port), context)
        self._thread = threading.Thread(
            target=self._tcp.serve_forever,
            # How often the accept loop looks for a stop() request: bounds stop()'s wait.
            kwargs={'poll_interval': 0.05},
            name=f'kube-server:{self.port}',
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop accepting, close every open connection and wait for their threads.

        A request held by the gate keeps its thread until the gate lets it go; such a
        thread is a daemon and is left behind after ``timeout`` seconds.
        """
        tcp, thread = self._tcp, self._thread
        if tcp is None or thread is None:
            return
        tcp.shutdown()
        thread.join()
        tcp.server_close()
        tcp.close_connections(timeout=timeout)
        self._tcp = self._thread = None

    def __enter__(self) -> KubeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def respond(self, request: _http.ApiRequest) -> _http.ApiResponse | None:
        """The response to ``request``, or None when the response is to be lost."""
        try:
            response = _discovery.discovery_response(request)
            if response is not None:
                return response
            if self._gate is not None:
                self._gate(request)
            response = self._handle(request)
        except _errors.ResponseLost:
            return None
        except _errors.StatusError as e:  # a gate may refuse a request with a Status
            return e.response()
        except Exception:
            # A bug in the handler must not kill the connection's thread or reach the
            # client as a traceback: answer like the real server's panic recovery does
            # (apiserver pkg/server/filters/wrap.go, WithPanicRecovery: 500 InternalError).
            logger.exception('handler failed on %s %s', request.method, request.path)
            return _status(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                'InternalError',
                'Internal error occurred: the fake API failed on this request',
            )
        return _tables.negotiate_table(request, response)


def _status(code: int, reason: str, message: str) -> _http.ApiResponse:
    """A ``Status`` failure, the body the real API server sends with every error."""
    return _errors.StatusError(code=code, reason=reason, message=message).response()


class _TcpServer(socketserver.TCPServer):
    """A TCP server with one daemon thread per connection, all tracked for shutdown."""

    allow_reuse_address = True
    # Listen backlog: a test may open many connections at once.
    request_queue_size = 64

    def __init__(
        self, front: KubeServer, address: tuple[str, int], context: ssl.SSLContext | None
    ):
        self.front = front
        self._context = context
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self.accepted = 0
        self.stopping = False
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f'kube-conn:{client_address[1]}',
            daemon=True,
        )
        with self._lock:
            self._connections[request] = thread
            self.accepted += 1
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        if self._context is not None:
            # The handshake runs in the connection's thread: a slow client cannot hold up
            # the accept loop. The wrapped socket replaces the raw one (now detached).
            raw = request
            try:
                request = self._context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                logger.debug('TLS handshake with %s failed', client_address, exc_info=True)
                raw.close()
                with self._lock:
                    self._connections.pop(raw, None)
                return
            with self._lock:
                self._connections[request] = self._connections.pop(raw)
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._connections.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets its connection is ordinary; anything else is logged, not
        # printed to stderr as socketserver does by default.
        logger.debug('connection from %s failed', client_address, exc_info=True)

    def close_connections(self, *, timeout: float) -> None:
        """Wake every connection thread by shutting its socket down, then join them."""
        self.stopping = True
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            with contextlib.suppress(OSError):  # already closed by its client
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in connections:
            thread.join(timeout)


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    """Parses requests, hands them to the :class:`KubeServer`, writes one-write responses."""

    protocol_version = 'HTTP/1.1'

    def setup(self) -> None:
        super().setup()
        # Belt and braces with the one-write rule: never let Nagle hold a response back.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.command = ''
            self.request_version = 'HTTP/1.1'
            self.send_error(http.HTTPStatus.REQUEST_URI_TOO_LONG)
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        # A request has begun: its headers and body must arrive within the read timeout.
        self.connection.settimeout(cast('_TcpServer', self.server).front.read_timeout)
        try:
            if not self.parse_request():
                return  # parse_request has sent the error
            body = self._read_body()
        except TimeoutError:
            self.send_error(http.HTTPStatus.REQUEST_TIMEOUT, 'the request did not arrive in time')
            return
        finally:
            self.connection.settimeout(None)
        if body is None:
            return  # _read_body has sent the error
        url = urllib.parse.urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f'{headers[key]}, {value}' if key in headers else value
        request = _http.ApiRequest(
            method=self.command,
            path=urllib.parse.unquote(url.path),
            query=urllib.parse.parse_qs(url.query, keep_blank_values=True),
            headers=headers,
            body=body,
        )
        self._sent_early = False
        _handling.responder = functools.partial(self._send_early, request)
        try:
            response = cast('_TcpServer', self.server).front.respond(request)
        finally:
            _handling.responder = None
        if self._sent_early:
            return  # early_responder() sent it
        if response is None:
            # The request was applied and its response is lost: drop the connection.
            self.close_connection = True
            return
        if response.stream is not None:
            self._write_stream(response, response.stream)
            return
        self._write(response)

    def _send_early(self, request: _http.ApiRequest, response: _http.ApiResponse) -> bool:
        """Send the response to ``request`` now, from any thread (see early_responder)."""
        if response.stream is not None or self._sent_early:
            return False
        try:
            self._write(_tables.negotiate_table(request, response))
        except OSError:
            return False  # the client has gone; the request's thread finds out itself
        self._sent_early = True
        return True

    def _client_gone(self) -> bool:
        """Whether the client has closed (or sent anything, which a watching client never does)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _write_stream(
        self, response: _http.ApiResponse, chunks: Generator[bytes, None, None]
    ) -> None:
        """Send a watch: headers, then each event as one HTTP chunk, until either side ends."""
        head = [
            f'HTTP/1.1 {response.status} {http.HTTPStatus(response.status).phrase}',
            f'Content-Type: {response.content_type}',
            'Transfer-Encoding: chunked',
            'Cache-Control: no-cache, private',
            f'Date: {self.date_time_string()}',
        ]
        try:
            self.wfile.write('\r\n'.join(head).encode('latin-1') + b'\r\n\r\n')
            for chunk in chunks:
                if not chunk:
                    if self._client_gone() or self.server_stopping():
                        break
                    continue
                self.wfile.write(b'%x\r\n%s\r\n' % (len(chunk), chunk))
            else:
                self.wfile.write(b'0\r\n\r\n')  # the server ended the watch (its timeout)
                return
        except OSError:
            logger.debug('watch client went away', exc_info=True)
        finally:
            chunks.close()  # unregisters the watcher
        self.close_connection = True

    def server_stopping(self) -> bool:
        """Whether the server is shutting down (a watch then ends)."""
        return cast('_TcpServer', self.server).stopping

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked), or None after an error reply."""
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            return self._read_chunked()
        length_header = self.headers.get('Content-Length')
        if length_header is None:
            return b''
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError(length_header)
        except ValueError:
            self.send_error(
                http.HTTPStatus.BAD_REQUEST, f'invalid Content-Length {length_header!r}'
            )
            return None
        if length > MAX_BODY_BYTES:
            self.send_error(
                http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, 'the request body is too large'
            )
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True  # the client hung up mid-body; nobody to answer
            return None
        return body

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        size_total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b';', 1)[0].strip(), 16)
            except ValueError:
                self.send_error(http.HTTPStatus.BAD_REQUEST, 'malformed chunked request body')
                return None
            size_total += size
            if size_total > MAX_BODY_BYTES:
                self.send_error(
                    http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, 'the request body is too large'
                )
                return None
            if size == 0:
                # Skip trailers up to the blank line that ends the message.
                while self.rfile.readline(65537) not in (b'\r\n', b'\n', b''):
                    pass
                return b''.join(chunks)
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b'\r\n', b'\n'):
                self.send_error(http.HTTPStatus.BAD_REQUEST, 'malformed chunked request body')
                return None
            chunks.append(chunk)

    def _write(self, response: _http.ApiResponse) -> None:
        """Write status line, headers and body in ONE socket write."""
        if self.command == 'HEAD':
            # RFC 9110 section 9.3.2: a HEAD response has headers only; a body would be read
            # as the start of the next response on a keep-alive connection.
            head = self._serialise(response)
            self.wfile.write(head[: len(head) - len(response.body)])
            return
        self.wfile.write(self._serialise(response))
        logger.debug('%s %s -> %d', self.command, self.path, response.status)

    def _serialise(self, response: _http.ApiResponse) -> bytes:
        """The whole HTTP response: status line, headers (Content-Length always), body."""
        try:
            phrase = http.HTTPStatus(response.status).phrase
        except ValueError:
            phrase = 'Unknown'
        lines = [
            f'HTTP/1.1 {response.status} {phrase}',
            f'Content-Type: {response.content_type}',
            f'Content-Length: {len(response.body)}',
            'Cache-Control: no-cache, private',
            f'Date: {self.date_time_string()}',
        ]
        if self.close_connection:
            lines.append('Connection: close')
        return '\r\n'.join(lines).encode('latin-1') + b'\r\n\r\n' + response.body

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        """Answer a request the front end cannot parse with a ``Status`` and hang up."""
        status = http.HTTPStatus(code)
        reason = {
            http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE: 'RequestEntityTooLarge',
            http.HTTPStatus.NOT_IMPLEMENTED: 'MethodNotAllowed',
            http.HTTPStatus.REQUEST_TIMEOUT: 'Timeout',
        }.get(status, 'BadRequest')
        self.close_connection = True  # the stream may be out of step: never reuse it
        self._write(_status(code, reason, message or status.phrase))

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)
