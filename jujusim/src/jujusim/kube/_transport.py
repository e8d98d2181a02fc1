"""In-process front end: an httpx2 transport that lightkube's real ``Client`` talks through."""

from __future__ import annotations

import urllib.parse
from collections.abc import Generator, Iterator

import httpx2
import lightkube
from lightkube.config import kubeconfig, models

from . import _api, _errors, _http

FAKE_SERVER = 'https://fake-kube.invalid'
"""The server URL in the kubeconfig of clients built by ``lightkube_client``."""


class KubeTransport(httpx2.BaseTransport):
    """Hands each request to ``FakeKube.handle``; a lost response becomes a dropped connection.

    Args:
        api: the fake API that answers.
    """

    def __init__(self, api: _api.FakeKube):
        self.api = api

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Translate, answer, translate back."""
        body = request.read()
        query = urllib.parse.parse_qs(request.url.query.decode(), keep_blank_values=True)
        api_request = _http.ApiRequest(
            method=request.method,
            path=request.url.path,
            query=query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        try:
            response = self.api.handle(api_request)
        except _errors.ResponseLost as e:
            # What a client sees when the server applies a request and the connection drops.
            raise httpx2.RemoteProtocolError(
                'Server disconnected without sending a response.', request=request
            ) from e
        if response.stream is not None:
            return httpx2.Response(
                response.status,
                headers={'Content-Type': response.content_type},
                stream=_WatchStream(response.stream),
                request=request,
            )
        return httpx2.Response(
            response.status,
            headers={'Content-Type': response.content_type},
            content=response.body,
            request=request,
        )


class _WatchStream(httpx2.SyncByteStream):
    """A watch's events as an httpx byte stream; closing the response ends the watch."""

    def __init__(self, chunks: Generator[bytes, None, None]):
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            if chunk:  # empty chunks are the server's idle ticks: nothing to pass on
                yield chunk

    def close(self) -> None:
        self._chunks.close()


def lightkube_client(
    api: _api.FakeKube,
    *,
    token: str,
    namespace: str = 'default',
    field_manager: str | None = None,
) -> lightkube.Client:
    """A real ``lightkube.Client`` whose requests reach ``api`` in-process.

    Built from ``KubeConfig.from_one`` with a user (``from_server`` has none, which lightkube
    rejects) and ``insecure-skip-tls-verify`` (building an SSL context costs ~14 ms).
    """
    config = kubeconfig.KubeConfig.from_one(
        cluster=models.Cluster(server=FAKE_SERVER, insecure=True),
        user=models.User(token=token),
        namespace=namespace,
    )
    return lightkube.Client(
        config,
        transport=KubeTransport(api),
        field_manager=field_manager,
        trust_env=False,
    )
