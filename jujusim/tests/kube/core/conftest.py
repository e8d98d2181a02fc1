"""Fixtures: a fresh fake API, an admin lightkube client and a raw HTTP client, all in-process."""

from __future__ import annotations

from collections.abc import Iterator

import lightkube
import pytest
from kube_core_helpers import ADMIN_TOKEN, Raw

from jujusim import kube


@pytest.fixture
def api() -> kube.FakeKube:
    fake = kube.FakeKube()
    fake.register_caller(ADMIN_TOKEN, kube.AdminPolicy(), name='admin-client')
    return fake


@pytest.fixture
def client(api: kube.FakeKube) -> Iterator[lightkube.Client]:
    with kube.lightkube_client(api, token=ADMIN_TOKEN, namespace='default') as c:
        yield c


@pytest.fixture
def raw(api: kube.FakeKube) -> Iterator[Raw]:
    r = Raw(api)
    yield r
    r.http.close()
