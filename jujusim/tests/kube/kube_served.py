"""Helpers: the fake API served on loopback HTTP, with a kubeconfig for real clients."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Iterator

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
        return self.server.write_kubeconfig(path, token=token, namespace=NAMESPACE)


def serve(tmp_path: pathlib.Path, *, auto_settle: bool, tls: bool) -> Iterator[Served]:
    """Serve a fresh fake (namespace ``test``, an admin caller) until the generator ends."""
    fake = kube.FakeKube(namespaces=(NAMESPACE,), auto_settle=auto_settle)
    fake.register_caller(ADMIN_TOKEN, kube.AdminPolicy())
    with kube.KubeServer(fake.handle, tls=tls) as server:
        path = server.write_kubeconfig(
            tmp_path / 'kubeconfig', token=ADMIN_TOKEN, namespace=NAMESPACE
        )
        yield Served(fake=fake, server=server, kubeconfig=path)
