"""One kubeconfig for a whole run: a fixed HTTPS address that serves the live fake API.

A run of ``jujusim demo`` or ``jujusim explore`` builds a new model (a new fake API) per
scenario or schedule, one after the other. A person watching with kubectl wants one
kubeconfig for the whole run, so :class:`Relay` serves one address and forwards each
request to whichever fake API is attached now (the newest model), or to an empty one in the
same namespace between models. A watch outlives the model it started on: when another
model is attached, the watch goes on as a fresh watch of the new one (its ``ADDED``
events first), so ``kubectl get pods -w`` keeps printing across the run. kubectl prints
each event as it comes and does not compare resourceVersions across them (kubectl
``get.go`` ``watch``, through client-go ``watchtools.UntilWithoutRetry``), so a stream
that moves to another store is one it can follow.

Models find the relay through :func:`active_relay`, which the command line sets with
:func:`relaying` for the length of a run, so that the code that builds models (a scenario,
an exploration, a shrinker) need not carry it.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import pathlib
import secrets
import threading
from collections.abc import Callable, Generator

from . import _api, _http, _rbac, _server

Handler = Callable[[_http.ApiRequest], _http.ApiResponse]

CALLER = 'kubectl (--kubeconfig)'
"""The relay's caller name in each fake API's request log (faults aim at units, not it)."""


@dataclasses.dataclass(frozen=True)
class _Backend:
    generation: int
    handle: Handler
    label: str


class Relay:
    """A TLS server at one address for the whole run, forwarding to the attached fake API.

    Args:
        namespace: the namespace the kubeconfig selects; the idle fake API between models
            has it, so a ``kubectl get`` then answers "No resources found", not an error.
    """

    def __init__(self, *, namespace: str):
        self.namespace = namespace
        self.token = secrets.token_urlsafe(16)
        idle = _api.FakeKube(namespaces=(namespace,))
        self.admit(idle)
        self._idle = _Backend(0, idle.handle, 'no model')
        self._backend = self._idle
        self._generations = 0
        self._changed = threading.Condition()
        self._stopped = False
        # kubectl sends a kubeconfig's token only over TLS (client-go client_config.go).
        self._server = _server.KubeServer(self._handle, tls=True)

    @property
    def live(self) -> str:
        """What requests reach now: the attached model's label, or ``no model``."""
        return self._backend.label

    def admit(self, kube: _api.FakeKube) -> None:
        """Let the relay's requests into ``kube`` as a cluster admin."""
        kube.register_caller(self.token, _rbac.AdminPolicy(), name=CALLER)

    def attach(self, handle: Handler, *, label: str) -> None:
        """Send every request, and every open watch, to ``handle`` from now on."""
        with self._changed:
            self._generations += 1
            self._backend = _Backend(self._generations, handle, label)
            self._changed.notify_all()

    def detach(self, handle: Handler) -> None:
        """Go back to the idle fake API, if ``handle`` is still the attached one."""
        with self._changed:
            if self._backend.handle == handle:
                self._generations += 1
                self._backend = dataclasses.replace(self._idle, generation=self._generations)
                self._changed.notify_all()

    def start(self, kubeconfig: str | os.PathLike[str]) -> pathlib.Path:
        """Listen on a free loopback port and write the kubeconfig; return its path.

        Raises:
            OSError: the kubeconfig cannot be written (the server is stopped again).
        """
        self._server.start()
        try:
            return self._server.write_kubeconfig(
                kubeconfig, token=self.token, namespace=self.namespace
            )
        except OSError:
            self._server.stop(timeout=1.0)
            raise

    def stop(self) -> None:
        """End every watch and stop serving."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._server.stop(timeout=1.0)

    def _handle(self, request: _http.ApiRequest) -> _http.ApiResponse:
        backend = self._backend
        response = backend.handle(request)
        if response.stream is None:
            return response
        return dataclasses.replace(response, stream=self._follow(request, response, backend))

    def _follow(
        self, request: _http.ApiRequest, response: _http.ApiResponse, backend: _Backend
    ) -> Generator[bytes, None, None]:
        """A watch's chunks, moved to each newly attached fake API as it comes."""
        stream = response.stream
        try:
            while stream is not None:
                for chunk in stream:
                    yield chunk
                    # An idle tick (every _watch.IDLE_TICK): is another fake API live now?
                    if not chunk and self._backend.generation != backend.generation:
                        break
                else:
                    return  # the fake API ended the watch (its timeout): so do we
                stream.close()
                stream = None
                with self._changed:
                    if self._stopped:
                        return
                    backend = self._backend
                # A resourceVersion of the old store means nothing to the new one: start
                # afresh, with ADDED for what exists now, as a watch without one does.
                fresh = dataclasses.replace(
                    request,
                    query={k: v for k, v in request.query.items() if k != 'resourceVersion'},
                )
                stream = backend.handle(fresh).stream
        finally:
            if stream is not None:
                stream.close()


_ACTIVE: contextvars.ContextVar[Relay | None] = contextvars.ContextVar(
    'jujusim_relay', default=None
)


def active_relay() -> Relay | None:
    """The relay of the run in progress, if the command line started one."""
    return _ACTIVE.get()


@contextlib.contextmanager
def relaying(relay: Relay) -> Generator[Relay]:
    """Make ``relay`` the one models attach to, for the ``with`` block; stop it after."""
    token = _ACTIVE.set(relay)
    try:
        yield relay
    finally:
        _ACTIVE.reset(token)
        relay.stop()
