"""Fixtures: the fake API served on loopback HTTP, with a kubeconfig for real clients."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Iterator

import pytest

from jujusim import kube

NAMESPACE = 'test'
ADMIN_TOKEN = 'admin-token'


@dataclasses.dataclass(frozen=True)
class Served:
    """A fake API behind a :class:`KubeServer`, and a kubeconfig for its admin."""

    fake: kube.FakeKube
    server: kube.KubeServer
    kubeconfig: pathlib.Path

    def kubeconfig_for(self, token: str, path: pathlib.Path) -> pathlib.Path:
        """Another kubeconfig on the same server, for the caller holding ``token``."""
        return kube.write_kubeconfig(
            path, server=self.server.url, token=token, namespace=NAMESPACE
        )


def serve(tmp_path: pathlib.Path, *, auto_settle: bool) -> Iterator[Served]:
    fake = kube.FakeKube(namespaces=(NAMESPACE,), auto_settle=auto_settle)
    fake.register_caller(ADMIN_TOKEN, kube.AdminPolicy())
    with kube.KubeServer(fake.handle) as server:
        path = kube.write_kubeconfig(
            tmp_path / 'kubeconfig', server=server.url, token=ADMIN_TOKEN, namespace=NAMESPACE
        )
        yield Served(fake=fake, server=server, kubeconfig=path)


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[Served]:
    """Serve mode, as ``jujusim kube serve``: controllers settle after every request."""
    yield from serve(tmp_path, auto_settle=True)


@pytest.fixture
def served_stepped(tmp_path: pathlib.Path) -> Iterator[Served]:
    """The test steps the controllers itself, to observe a rollout in progress."""
    yield from serve(tmp_path, auto_settle=False)
