"""Fixtures: the fake API served on loopback, with a kubeconfig for real clients."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from kube_served import Served, serve


@pytest.fixture
def served(served_https: Served) -> Served:
    """Serve mode, as ``jujusim kube serve``: HTTPS, controllers settle after each request."""
    return served_https


@pytest.fixture
def served_https(tmp_path: pathlib.Path) -> Iterator[Served]:
    """HTTPS with a self-signed certificate, which kubectl needs to send its token."""
    yield from serve(tmp_path, auto_settle=True, tls=True)


@pytest.fixture
def served_http(tmp_path: pathlib.Path) -> Iterator[Served]:
    """Plain HTTP, as the simulator's units use it (lightkube sends its token anyway)."""
    yield from serve(tmp_path, auto_settle=True, tls=False)


@pytest.fixture
def served_stepped(tmp_path: pathlib.Path) -> Iterator[Served]:
    """HTTPS; the test steps the controllers itself, to observe a rollout in progress."""
    yield from serve(tmp_path, auto_settle=False, tls=True)
