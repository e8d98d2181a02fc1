"""The two ways a request reaches the fake API: in-process (httpx) and served (loopback HTTP)."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
from collections.abc import Callable, Generator
from typing import Any

import httpx2

from jujusim import kube

NS = 'ns'
TOKEN = 'admin-token'


@dataclasses.dataclass(frozen=True)
class Answer:
    """A response: its status code and body."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body, decoded."""
        return json.loads(self.body)


Send = Callable[[str, str, dict[str, str], bytes], Answer]
"""send(method, path_and_query, headers, body): one request through one path."""


def new_fake() -> kube.FakeKube:
    """A fake in serve mode, namespace ``ns``, with an admin caller."""
    fake = kube.FakeKube(namespaces=(NS,), auto_settle=True)
    fake.register_caller(TOKEN, kube.AdminPolicy())
    return fake


@contextlib.contextmanager
def in_process(fake: kube.FakeKube) -> Generator[Send, None, None]:
    """Requests through :class:`KubeTransport`, as the simulator's lightkube clients send them."""
    with httpx2.Client(transport=kube.KubeTransport(fake), base_url=kube.FAKE_SERVER) as client:

        def send(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
            headers = {'Authorization': f'Bearer {TOKEN}', **headers}
            response = client.request(method, path, headers=headers, content=body)
            return Answer(response.status_code, response.content)

        yield send


@contextlib.contextmanager
def served(fake: kube.FakeKube, *, read_timeout: float = 30.0) -> Generator[Send, None, None]:
    """Requests over loopback HTTP/1.1 to a :class:`KubeServer`, one keep-alive connection."""
    with kube.KubeServer(fake.handle, read_timeout=read_timeout) as server:
        conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=30)

        def send(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
            headers = {'Authorization': f'Bearer {TOKEN}', **headers}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return Answer(response.status, response.read())

        try:
            yield send
        finally:
            conn.close()


PATHS = {'in-process': in_process, 'served': served}
