"""Helpers for the fake API core's tests: raw HTTP through the transport, sample objects."""

from __future__ import annotations

import json
from typing import Any, cast

import httpx2
from lightkube.resources.apps_v1 import StatefulSet

from jujusim import kube

ADMIN_TOKEN = 'admin-token'


class Raw:
    """Plain HTTP requests through the same transport, to see status codes and headers."""

    def __init__(self, api: kube.FakeKube, token: str | None = ADMIN_TOKEN):
        headers = {'Authorization': f'Bearer {token}'} if token else {}
        self.http = httpx2.Client(
            transport=kube.KubeTransport(api), base_url=kube.FAKE_SERVER, headers=headers
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content: bytes | None = None,
        content_type: str = 'application/json',
        params: dict[str, str] | None = None,
    ) -> httpx2.Response:
        data = content if content is not None else None
        if body is not None:
            data = json.dumps(body).encode()
        headers = {'Content-Type': content_type} if data is not None else {}
        return self.http.request(method, path, content=data, headers=headers, params=params)


def statefulset(
    name: str = 'web', *, replicas: int = 3, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A StatefulSet as Juju would create it (selector on app.kubernetes.io/name)."""
    template_labels = {'app.kubernetes.io/name': name, **(labels or {})}
    return {
        'apiVersion': 'apps/v1',
        'kind': 'StatefulSet',
        'metadata': {
            'name': name,
            'namespace': 'default',
            'labels': {'app.kubernetes.io/name': name, 'app.kubernetes.io/managed-by': 'juju'},
        },
        'spec': {
            'replicas': replicas,
            'serviceName': f'{name}-endpoints',
            'selector': {'matchLabels': {'app.kubernetes.io/name': name}},
            'template': {
                'metadata': {'labels': template_labels},
                'spec': {'containers': [{'name': 'charm', 'image': 'charm:1'}]},
            },
        },
    }


def statefulset_resource(
    name: str = 'web', *, replicas: int = 3, labels: dict[str, str] | None = None
) -> StatefulSet:
    """``statefulset(...)`` as a lightkube model."""
    body = statefulset(name, replicas=replicas, labels=labels)
    return cast('StatefulSet', StatefulSet.from_dict(body))  # pyright: ignore[reportUnknownMemberType]
