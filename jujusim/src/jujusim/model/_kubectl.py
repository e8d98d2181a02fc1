"""The cluster admin's tools: the real ``kubectl`` and a lightkube client, as admin."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import lightkube

from ..kube import AdminPolicy, KubeServer, lightkube_client
from ._errors import ModelError
from ._gate import Gate
from ._world import World

_KUBECTL_TOKEN = 'jujusim-kubectl'  # noqa: S105 - a fake cluster's fixed token
_ADMIN_TOKEN = 'jujusim-admin'  # noqa: S105 - likewise


class Admin:
    """An administrator of the fake cluster, beside the units."""

    def __init__(self, world: World, *, gate: Gate, tmp: pathlib.Path):
        self._world = world
        self._gate = gate
        self._tmp = tmp
        self._kubectl_server: KubeServer | None = None
        self._client: lightkube.Client | None = None

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real ``kubectl`` against the served fake API, as a cluster admin.

        kubectl sends a kubeconfig's token only over TLS (client-go ``client_config.go``),
        so it gets a TLS server of its own beside the units' plain-HTTP one.
        """
        world = self._world
        if self._kubectl_server is None:
            world.kube.register_caller(_KUBECTL_TOKEN, AdminPolicy(), name='kubectl')
            self._kubectl_server = KubeServer(self._gate.handle, tls=True).start()
            self._kubectl_server.write_kubeconfig(
                self._tmp / 'kubectl.yaml', token=_KUBECTL_TOKEN, namespace=world.name
            )
        binary = shutil.which('kubectl')
        if binary is None:
            raise ModelError('kubectl is not on PATH')
        env = {**os.environ, 'KUBECONFIG': str(self._tmp / 'kubectl.yaml')}
        result = subprocess.run(  # noqa: S603 - kubectl with our own arguments
            [binary, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        world.trace.record(
            'kubectl',
            f'kubectl {" ".join(args)} -> {result.returncode}',
            args=list(args),
            returncode=result.returncode,
        )
        return result

    def client(self) -> lightkube.Client:
        """A lightkube client with admin rights over the in-process transport."""
        world = self._world
        if self._client is None:
            world.kube.register_caller(_ADMIN_TOKEN, AdminPolicy(), name='checker')
            self._client = lightkube_client(world.kube, token=_ADMIN_TOKEN, namespace=world.name)
        return self._client

    def register_again(self) -> None:
        """Let the admin's clients in again: the fake API was restored to a snapshot.

        Its tokens are the admin's (machinery kept by a restore), not the model's state.
        """
        kube = self._world.kube
        if self._client is not None:
            kube.register_caller(_ADMIN_TOKEN, AdminPolicy(), name='checker')
        if self._kubectl_server is not None:
            kube.register_caller(_KUBECTL_TOKEN, AdminPolicy(), name='kubectl')

    def close(self) -> None:
        """Stop kubectl's server, if it ran."""
        if self._kubectl_server is not None:
            self._kubectl_server.stop(timeout=1.0)
