"""Transport-neutral requests and responses, shared by the httpx transport and the server."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Generator
from typing import Any


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiRequest:
    """One HTTP request to the fake API, as either front end received it.

    Attributes:
        method: upper-case HTTP method.
        path: the URL path, without the query string.
        query: the query string's parameters, each with all its values.
        headers: header names lower-cased.
        body: the raw request body.
    """

    method: str
    path: str
    query: dict[str, list[str]] = dataclasses.field(default_factory=dict[str, list[str]])
    headers: dict[str, str] = dataclasses.field(default_factory=dict[str, str])
    body: bytes = b''

    @property
    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer ...`` header, if present."""
        auth = self.headers.get('authorization', '')
        scheme, _, token = auth.partition(' ')
        return token.strip() if scheme.lower() == 'bearer' and token.strip() else None

    def query_value(self, name: str) -> str | None:
        """The first value of query parameter ``name``, if present."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiResponse:
    """One HTTP response from the fake API.

    Attributes:
        status: the HTTP status code.
        body: the whole body, unless the response streams.
        content_type: the body's media type.
        stream: for a watch, the body's chunks (one JSON event per line) as they happen;
            the front end sends them chunked and closes the iterator when the client goes.
            An empty chunk says "nothing yet": the front end checks the client is still
            there and asks again.
    """

    status: int
    body: bytes = b''
    content_type: str = 'application/json'
    stream: Generator[bytes, None, None] | None = None

    @classmethod
    def json(cls, status: int, obj: Any) -> ApiResponse:
        """A JSON response, typed exactly ``application/json`` as lightkube expects."""
        return cls(status=status, body=json.dumps(obj).encode())
