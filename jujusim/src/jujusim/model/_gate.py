"""The API gate: every request a unit makes waits here until the scheduler lets it go.

The fake API server calls :meth:`Gate.handle` on one of its threads per request. A request
from a unit is parked as a :class:`HeldRequest`; the scheduler (the model's one thread)
decides to apply it, to drop it unapplied, or to apply it and lose the response, so that a
SIGKILL can land exactly between two API calls of a hook. Requests from anyone else (the
test, kubectl) pass straight through. A unit's ``time.sleep`` arrives here too, as a request
to ``SLEEP_PATH`` that no API sees (``agent._private.worker.virtual_sleep``).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable
from typing import Literal

from ..agent._private.wire import SLEEP_PATH
from ..kube import ApiRequest, ApiResponse, EarlyResponder, FakeKube, ResponseLost, early_responder

Decision = Literal['apply', 'drop', 'apply-lose']


@dataclasses.dataclass(eq=False)
class HeldRequest:
    """One unit's request, parked until the scheduler decides."""

    unit: str
    request: ApiRequest
    decision: Decision | None = None
    response: ApiResponse | None = None
    decided: threading.Event = dataclasses.field(default_factory=threading.Event)
    applied: threading.Event = dataclasses.field(default_factory=threading.Event)
    delivered: threading.Event = dataclasses.field(default_factory=threading.Event)
    # The fake API's handler, run on the scheduler's thread by release() (see there).
    apply_with: Callable[[ApiRequest], ApiResponse] | None = None
    failure: BaseException | None = None  # what the handler raised, re-raised on the server
    # Sends the response from the releasing thread (kube.early_responder); None: the
    # request's own thread sends it when it wakes.
    respond_now: EarlyResponder | None = None
    # Counted by every fault plan already: held by a stall, it comes back when the stall
    # ends, and a plan must not count it twice (model/_faults.py, Faults.intercept).
    counted: bool = False
    # A time.sleep of the unit's hook, not an API request: how long, and the virtual time it
    # ends (set when the scheduler takes it in).
    sleep: float | None = None
    wake_at: float | None = None

    def describe(self) -> str:
        """``METHOD path`` with the query, for traces."""
        query = '&'.join(f'{k}={v}' for k, vs in sorted(self.request.query.items()) for v in vs)
        return f'{self.request.method} {self.request.path}' + (f'?{query}' if query else '')

    def release(self, decision: Decision) -> None:
        """Let the request's thread go on as ``decision`` says.

        ``apply`` and ``apply-lose`` apply the request here, on the caller's (the
        scheduler's) thread, before the request's own thread wakes: the scheduler then
        never waits for a thread switch to learn the outcome, and :attr:`applied` is
        set on return. Whatever the handler raises is raised again on the request's
        thread, so the server answers it as it would have. An applied response that is
        not to be lost also goes out from here (:attr:`respond_now`), before the
        request's thread wakes: the client is not kept waiting on that thread switch.
        """
        if decision in ('apply', 'apply-lose') and self.apply_with is not None:
            try:
                self.response = self.apply_with(self.request)
            except BaseException as e:
                self.failure = e
            self.applied.set()
            if decision == 'apply' and self.failure is None and self.respond_now is not None:
                assert self.response is not None  # noqa: S101 - applied without failure
                self.respond_now(self.response)
        self.decision = decision
        self.decided.set()


class Gate:
    """Parks units' requests for the scheduler; lets everyone else's through."""

    def __init__(
        self,
        kube: FakeKube,
        wake: Callable[[], None],
    ):
        self._kube = kube
        self._wake = wake
        self._units: dict[str, str] = {}
        self._arrived: queue.SimpleQueue[HeldRequest] = queue.SimpleQueue()

    def register(self, token: str, unit: str) -> None:
        """Park every request that carries ``token`` as ``unit``'s."""
        self._units[token] = unit

    def handle(self, request: ApiRequest) -> ApiResponse:
        """The server's handler: runs on the request's own thread."""
        unit = self._units.get(request.bearer_token or '')
        if unit is None:
            return self._kube.handle(request)
        if request.path == SLEEP_PATH:
            held = self._sleep(unit, request)
        else:
            held = HeldRequest(
                unit=unit,
                request=request,
                apply_with=self._kube.handle,
                respond_now=early_responder(),
            )
        self._arrived.put(held)
        self._wake()
        held.decided.wait()
        if held.decision == 'drop':
            raise ResponseLost  # never applied; its worker is being killed
        held.applied.set()  # already set when release() applied it
        if held.decision == 'apply-lose':
            held.delivered.wait()  # the scheduler kills the worker first
            raise ResponseLost
        if held.failure is not None:
            raise held.failure
        assert held.response is not None  # noqa: S101 - release() applied or answered it
        return held.response

    @staticmethod
    def _sleep(unit: str, request: ApiRequest) -> HeldRequest:
        try:
            seconds = float(request.query['seconds'][0])
        except (KeyError, IndexError, ValueError):
            seconds = 0.0
        if not 0.0 <= seconds < float('inf'):
            seconds = 0.0
        return HeldRequest(
            unit=unit,
            request=request,
            apply_with=lambda _: ApiResponse.json(200, {}),
            respond_now=early_responder(),
            sleep=seconds,
        )

    def arrived(self) -> list[HeldRequest]:
        """The requests parked since the last call, in arrival order."""
        out: list[HeldRequest] = []
        while True:
            try:
                out.append(self._arrived.get_nowait())
            except queue.Empty:
                return out
