"""A unit's worker: runs one hook at a time through ``ops.testing``, keeping local state."""

from __future__ import annotations

import collections
import dataclasses
import http.client
import logging
import math
import os
import pathlib
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from collections.abc import Mapping
from typing import Any, cast

import lightkube.config.kubeconfig
import ops
import ops.testing
import scenario.errors
import scenario.mocking

from . import charm_source, hooks, wire

# ops leaves the root logger at DEBUG during a hook, so the HTTP clients' debug lines
# would pile into the charm's juju-log (docs/design-notes.md, "ops and ops.testing").
QUIET_LOGGERS = ('httpx2', 'httpcore2', 'httpx', 'httpcore', 'hpack')


def quiet_http_loggers() -> None:
    """Keep the HTTP clients' debug and info lines out of juju-log."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # ops.testing warns that an application-data relation-changed names no remote unit:
    # that is what Juju sends then (ops RelationEvent.unit is None), so it is no news.
    logging.getLogger('ops-scenario.runtime.consistency_checker').setLevel(logging.ERROR)


# Where lightkube looks for an in-cluster service account in a worker: nowhere.
NO_SERVICE_ACCOUNT = pathlib.Path('/nonexistent/jujusim/no-service-account')


def isolate_from_cluster() -> None:
    """Make lightkube skip the pod's service account and read ``KUBECONFIG``.

    ``KubeConfig.from_env`` tries the in-cluster service account before ``KUBECONFIG``
    (``lightkube/config/kubeconfig.py``). On a CI runner that is itself a pod, a unit's
    client would then reach the runner's real cluster instead of the fake API.
    """
    from_env: Any = lightkube.config.kubeconfig.KubeConfig.from_env
    function = from_env.__func__
    _, default_config = function.__defaults__
    function.__defaults__ = (str(NO_SERVICE_ACCOUNT), default_config)


ASK_LEADER_ENV = wire.ASK_LEADER_ENV


def live_is_leader() -> None:
    """Make ``is-leader`` ask the parent, when ``JUJUSIM_ASK_LEADER`` is set, not the State.

    ops.testing answers ``is-leader`` from ``State.leader`` for the whole hook
    (``scenario/mocking.py``), but Juju's answer can change mid-hook: a stalled leader loses
    its lease, and ops re-asks once its cached answer is 30 s old (``ops/model.py``,
    ``_ModelBackend.is_leader``). Juju's ``is-leader`` hook tool asks the unit's agent
    (``internal/worker/uniter/runner/jujuc/is-leader.go``); here a hook asks the parent
    over the worker's own socket (``wire.IS_LEADER``), where the pool's ``is_leader``
    callback answers: the model, which applies ops' cache on its virtual clock. With no
    callback, or outside a unit's hooks (a spare warming up), the State answers.

    The model's answer cannot change while this unit runs without sending anything: it
    decides nothing until every running unit waits at the API or has finished. So the
    worker keeps the answer until the process next writes to a socket, or the next hook
    starts (:func:`forget_leadership`), and asks again only then. Most questions are not
    even asked: the hook starts with the answer (``wire.HOOK``), and the parent sends the
    answer that holds after an API request before it lets the response go
    (``wire.LEADER_AHEAD``), unless ops would ask Juju again by then. Ask from the hook's
    own thread: the socket carries one question at a time, and the scheduler counts on a
    hook that waits at the API doing nothing else.
    """
    backend_type = scenario.mocking._MockModelBackend
    original = backend_type.is_leader

    def is_leader(self: scenario.mocking._MockModelBackend) -> bool:
        if not _PARENT or not os.environ.get(ASK_LEADER_ENV):
            return bool(original(self))
        if not _LEADER_ANSWER:
            parent = _PARENT[0]
            answer = parent.answer_ahead()
            if answer is None:
                answer = parent.ask_is_leader()  # its own send cleared the list: fill it after
            if answer is None:
                return bool(original(self))
            _LEADER_ANSWER.append(answer)
        return _LEADER_ANSWER[0]

    backend_type.is_leader = is_leader
    _forget_on_send()


class ParentLink:
    """A worker's end of its socket to the parent; every read goes through one buffer.

    Besides the requests it waits for (a hook, ``exit``, the answer to ``is-leader``),
    the parent may send answers ahead (``wire.LEADER_AHEAD``) at any time during a hook;
    those are kept aside here, the rest queued for :meth:`recv`.
    """

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._reader = wire.FrameReader()
        self._queued: collections.deque[Any] = collections.deque()
        self._ahead: bool | None = None

    def recv(self) -> Any:
        """Block until the next message that is not an answer ahead.

        Raises:
            ConnectionClosedError: the parent closed the connection first.
        """
        while not self._queued:
            data = self.sock.recv(1 << 20)
            if not data:
                raise wire.ConnectionClosedError('peer closed the connection')
            self._take(data)
        return self._queued.popleft()

    def send(self, obj: Any) -> None:
        """Send one framed message to the parent."""
        wire.send(self.sock, obj)

    def answer_ahead(self) -> bool | None:
        """The answer the parent sent ahead since this process last sent anything, if any."""
        self._drain()
        return self._ahead

    def forget_ahead(self) -> None:
        """This process sends something: an answer sent ahead before now no longer holds."""
        self._drain()
        self._ahead = None

    def ask_is_leader(self) -> bool | None:
        """Ask the parent; None means the State answers."""
        self.send((wire.IS_LEADER,))
        reply = self.recv()
        if reply[0] != wire.LEADER:  # the parent said exit: it is closing the pool
            raise wire.ConnectionClosedError(f'asked is-leader, the parent said {reply[0]!r}')
        return reply[1]

    def _drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # a closed socket: recv() reports it
            if not data:
                return
            self._take(data)

    def _take(self, data: bytes) -> None:
        for message in self._reader.feed(data):
            if message[0] == wire.LEADER_AHEAD:
                self._ahead = message[1]  # the latest answer ahead wins
            else:
                self._queued.append(message)


# The model's last is-leader answer in this hook, while still good (empty: ask again).
_LEADER_ANSWER: list[bool] = []
# The link to the parent, while this process serves a unit's hooks.
_PARENT: list[ParentLink] = []


def forget_leadership(answer: bool | None = None) -> None:
    """Drop the kept is-leader answer and any sent ahead, or start from ``answer``.

    Called when a hook starts (with the answer it starts with) and whenever this process
    sends anything (:func:`_forget_on_send`).
    """
    _LEADER_ANSWER[:] = [] if answer is None else [answer]
    if _PARENT:
        _PARENT[0].forget_ahead()


def _forget_on_send() -> None:
    """Drop the kept is-leader answer whenever this process writes to any socket.

    Whatever the client (lightkube's httpx2, urllib3, asyncio), a request reaches the
    fake API through ``send``/``sendall`` of a ``socket.socket`` or ``ssl.SSLSocket``.
    An answer the parent sent ahead before this write was for an earlier response: it
    is dropped too.
    """
    for socket_type in (socket.socket, ssl.SSLSocket):
        for name in ('send', 'sendall'):
            method = getattr(socket_type, name)
            if getattr(method, '_forgets_leadership', False):
                continue
            setattr(socket_type, name, _forgetting(method))


def _forgetting(method: Any) -> Any:
    def forgetting(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        forget_leadership()
        return method(self, *args, **kwargs)

    forgetting._forgets_leadership = True  # pyright: ignore[reportFunctionMemberAccess]
    return forgetting


# Virtual seconds this process's hooks have slept (virtual_sleep): its clocks run ahead by it.
_SLEPT: list[float] = [0.0]
# The sleep endpoint (host, port, token) of each KUBECONFIG path met so far.
_SLEEP_ENDPOINTS: dict[str, tuple[str, int, str]] = {}


def virtual_sleep() -> None:
    """Make a model unit's ``time.sleep`` wait on the model's virtual clock.

    In Juju a hook that sleeps takes that long while the rest of the model goes on: other
    units run hooks, timers fire, and the unit's agent goes on renewing its lease (juju
    ``worker/leadership/tracker.go``: the tracker's own loop renews, beside the uniter's
    hook). Slept for real here, a sleep would stop the whole model for as many wall-clock
    seconds (the scheduler waits for the sleeping unit) and move no virtual time; past the
    harness's hook timeout the unit would be called hung. So in a model's unit
    (``wire.ASK_LEADER_ENV`` set, during a hook) a sleep is a request to the fake API at
    ``wire.SLEEP_PATH``, which the model holds that many virtual seconds while the rest
    runs, rounded up to a tenth of a second. ``time.monotonic`` and ``time.time`` then read
    that much later, so a loop waiting for a deadline (``while time.monotonic() < end``,
    tenacity's ``stop_after_delay``) ends as it would. Elsewhere (a spare warming up, a
    bare AgentPool) time.sleep sleeps. Install before the charm is imported: a module that
    binds ``time.sleep`` at import (``from time import sleep``, a default argument) keeps
    what it found.
    """
    if getattr(time.sleep, '_virtual', False):
        return
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if seconds > 0 and _PARENT and os.environ.get(ASK_LEADER_ENV):
            # Up to the next tenth of a second: a sleep computed from the clocks (the time
            # left to a deadline, less the real time the hook took) then mostly comes out
            # the same from run to run, and so does the virtual time.
            virtual = math.ceil(round(seconds * 10, 6)) / 10
            if _sleep_held(virtual):
                _SLEPT[0] += virtual
                return
        real_sleep(seconds)

    sleep._virtual = True  # pyright: ignore[reportFunctionMemberAccess]
    time.sleep = sleep
    real_monotonic, real_time = time.monotonic, time.time
    real_monotonic_ns, real_time_ns = time.monotonic_ns, time.time_ns
    time.monotonic = lambda: real_monotonic() + _SLEPT[0]
    time.time = lambda: real_time() + _SLEPT[0]
    time.monotonic_ns = lambda: real_monotonic_ns() + round(_SLEPT[0] * 1e9)
    time.time_ns = lambda: real_time_ns() + round(_SLEPT[0] * 1e9)


def _sleep_held(seconds: float) -> bool:
    """Ask the model to hold this unit ``seconds`` virtual seconds; False if it cannot ask."""
    kubeconfig = os.environ.get('KUBECONFIG', '')
    endpoint = _SLEEP_ENDPOINTS.get(kubeconfig)
    if endpoint is None:
        try:
            config = lightkube.config.kubeconfig.KubeConfig.from_file(kubeconfig).get()
        except Exception:  # no kubeconfig of the model's: sleep for real
            return False
        if config is None or config.user is None or not config.user.token:
            return False
        server = urllib.parse.urlsplit(config.cluster.server)
        token = config.user.token
        if server.scheme != 'http' or not server.hostname or not server.port:
            return False
        endpoint = _SLEEP_ENDPOINTS[kubeconfig] = (server.hostname, server.port, token)
    host, port, token = endpoint
    connection = http.client.HTTPConnection(host, port, timeout=None)
    try:
        connection.request(
            'POST',
            f'{wire.SLEEP_PATH}?seconds={seconds!r}',
            headers={'Authorization': f'Bearer {token}'},
        )
        connection.getresponse().read()
    except OSError:
        pass  # the model dropped it: this process is being killed
    finally:
        connection.close()
    return True


class Worker:
    """Runs a unit's hooks, one at a time, carrying its unit-local state between them.

    The parent sends the Juju-side state with every hook; the worker merges in its own
    StoredState and deferred events, runs the hook, and keeps the new local parts only
    when the hook succeeded, as ops commits nothing of a failed hook (``ops/_main.py``).

    Args:
        charm_type: the charm class.
        source: the charm's source folder (metadata, config, actions).
        unit: the unit's name, ``app/N``.
        juju_version: the Juju version the charm is told it runs under.
    """

    def __init__(
        self,
        charm_type: type[ops.CharmBase],
        source: charm_source.CharmSource,
        *,
        unit: str,
        juju_version: str,
    ):
        app, _, number = unit.rpartition('/')
        self.charm_type = charm_type
        self.unit = unit
        self.app = app
        self.unit_id = int(number)
        self.juju_version = juju_version
        self.local = hooks.LocalState()
        self._context_kwargs = source.context_kwargs()
        self._root = source.path

    def run_hook(
        self,
        hook_id: int,
        spec: hooks.HookSpec,
        juju_state: ops.testing.State,
        *,
        trusted: bool = False,
        leader: bool | None = None,
    ) -> hooks.HookResult:
        """Run one hook; never raises: every failure is described in the result.

        ``leader`` is what ``is-leader`` answers until the hook first sends anything (None:
        ask the parent then).
        """
        started = time.perf_counter()
        forget_leadership(leader)
        state_in = self.local.merged_into(juju_state)
        outcome: dict[str, Any] = {
            'unit_status': state_in.unit_status,
            'app_status': state_in.app_status,
        }
        # A Context per hook: a reused one grows its juju-log without bound, and each
        # makes a scenario-* temp dir that only close() removes (docs/design-notes.md, "ops and
        # ops.testing").
        ctx = ops.testing.Context(
            self.charm_type,
            **self._context_kwargs,
            app_name=self.app,
            unit_id=self.unit_id,
            juju_version=self.juju_version,
            app_trusted=trusted,
        )
        try:
            outcome.update(self._run(ctx, spec, state_in))
            outcome['juju_log'] = tuple(ctx.juju_log)
            if spec.kind == 'action':
                outcome['action_results'] = dict(ctx.action_results or {})
                outcome['action_logs'] = tuple(ctx.action_logs)
        except Exception as e:  # a fault of ours must reach the parent too
            outcome['error'] = _error('internal', e)
        finally:
            ctx.close()
        state = outcome.pop('state', None)
        if state is not None:
            self.local = hooks.LocalState.of(state)
        return hooks.HookResult(
            unit=self.unit,
            hook_id=hook_id,
            spec=spec,
            state=state,
            elapsed=time.perf_counter() - started,
            **outcome,
        )

    def _run(
        self, ctx: ops.testing.Context[Any], spec: hooks.HookSpec, state_in: ops.testing.State
    ) -> dict[str, Any]:
        try:
            event = hooks.to_event(ctx, spec, state_in)
        except (LookupError, ValueError) as e:
            return {'error': _error('inconsistent', e)}
        manager = ctx(event, state_in)
        try:
            with manager:
                _as_juju_dispatches(manager, spec)
                state = manager.run()
        except ops.testing.ActionFailed as e:
            # An action that calls fail() still ends normally: its changes stand.
            state = cast('ops.testing.State | None', e.state)
            assert state is not None  # noqa: S101 - Context always attaches it
            return {**_statuses(state), 'state': state, 'action_failure': e.message}
        except scenario.errors.UncaughtCharmError as e:
            partial = manager.ops.state if manager.ops is not None else state_in
            cause = e.__cause__ if e.__cause__ is not None else e
            return {**_statuses(partial), 'error': _error('charm', cause)}
        except scenario.errors.InconsistentScenarioError as e:
            return {'error': _error('inconsistent', e)}
        return {**_statuses(state), 'state': state}

    def serve(self, sock: socket.socket) -> None:
        """Answer hook requests on ``sock`` until the parent closes it or says ``exit``."""
        parent = ParentLink(sock)
        _PARENT[:] = [parent]
        fresh = charm_memory(self._root)  # as a new process of this unit starts
        while True:
            try:
                message = parent.recv()
            except (wire.ConnectionClosedError, ConnectionResetError):
                return
            if message[0] == wire.EXIT:
                return
            if message[0] == wire.LOCAL:
                self.local = message[1]
                continue
            if message[0] == wire.AS_NEW:
                parent.send((wire.AS_NEW, charm_memory(self._root) == fresh))
                continue
            _, hook_id, spec, juju_state, trusted, leader = message
            result = self.run_hook(hook_id, spec, juju_state, trusted=trusted, leader=leader)
            try:
                message = wire.frame((wire.DONE, hook_id, result))
            except Exception as e:  # an unpicklable result must not kill the worker
                failed = dataclasses.replace(
                    result, state=None, action_results=None, error=_error('internal', e)
                )
                message = wire.frame((wire.DONE, hook_id, failed))
            try:
                sock.sendall(message)
            except (BrokenPipeError, ConnectionResetError):
                return


def charm_memory(root: pathlib.Path) -> list[tuple[str, str, int, str | None]]:
    """What the charm's own modules (those under ``root``) hold, and which threads run.

    Shallowly: each global's identity, and the text of each module-level container
    (dict, list, set, deque, bytearray): a global rebound or a container changed shows,
    a change deeper inside an object does not. Under Juju each hook is a new process, so a charm
    that changes these keeps in memory what its next hook will not find there; and a
    thread a hook left running ends with that process.
    """
    threads = sorted(thread.ident or 0 for thread in threading.enumerate())
    memory: list[tuple[str, str, int, str | None]] = [('', 'threads', 0, repr(threads))]
    for name in _charm_modules(f'{root}{os.sep}'):
        module = sys.modules.get(name)
        globals_: dict[str, object] = vars(module) if module is not None else {}
        for key, value in globals_.items():
            if key == '__builtins__':
                continue  # Python's, not the charm's (and a large dict)
            text = repr(value) if issubclass(type(value), _CONTAINERS) else None
            memory.append((name, key, id(value), text))
    return memory


def _charm_modules(prefix: str) -> list[str]:
    """The names of the loaded modules whose file is under ``prefix``, sorted.

    Found again only when the number of loaded modules changed since (a scan of every
    module costs ~1 ms; the charm's own hold a few hundred globals). A charm module
    loaded as another is unloaded would be missed, which no charm here does.
    """
    count = len(sys.modules)
    cached = _CHARM_MODULES.get(prefix)
    if cached is None or cached[0] != count:
        names = sorted(
            name
            for name, module in list(sys.modules.items())
            if str(getattr(module, '__file__', None) or '').startswith(prefix)
        )
        cached = _CHARM_MODULES[prefix] = (count, names)
    return cached[1]


_CHARM_MODULES: dict[str, tuple[int, list[str]]] = {}
_CONTAINERS = (dict, list, set, collections.deque, bytearray)


def use_tmpdir(tmpdir: str) -> None:
    """Send every temp file of this process into ``tmpdir``, which the parent deletes.

    Scenario's scenario-* dirs included: a SIGKILL then never leaves one elsewhere.
    """
    os.environ['TMPDIR'] = tmpdir
    tempfile.tempdir = tmpdir


def apply_env(env: Mapping[str, str]) -> None:
    """Add the unit's own environment (its KUBECONFIG, say), keeping its temp dir."""
    tmpdir = os.environ.get('TMPDIR')
    os.environ.update(env)
    if tmpdir is not None:
        os.environ['TMPDIR'] = tmpdir


def _statuses(state: ops.testing.State) -> dict[str, Any]:
    return {'unit_status': state.unit_status, 'app_status': state.app_status}


def _error(kind: Any, e: BaseException) -> hooks.HookError:
    return hooks.HookError(
        kind=kind,
        type_name=type(e).__name__,
        message=str(e),
        traceback=''.join(traceback.format_exception(e)),
    )


def _as_juju_dispatches(manager: Any, spec: hooks.HookSpec) -> None:
    """Give the charm the hook environment Juju gives where ops.testing differs.

    A relation-changed for the remote application's databag has no remote unit
    (``JUJU_REMOTE_UNIT`` empty, ``JUJU_REMOTE_APP`` set: juju internal/worker/uniter/
    relation/resolver.go nextHookForRelation, ``RemoteUnit: ""``); ops.testing picks a
    remote unit whenever none is given. A Dying unit, or a unit of an application being
    removed, departs as itself (the departee is the local unit then); ops.testing can only
    name a unit of the remote application. The event's arguments come from the manager's
    Juju context when it is emitted, so the context is corrected before ``run()``.
    """
    ops_manager = manager.ops
    if ops_manager is None:
        return
    context = ops_manager._juju_context
    if spec.kind == 'relation_changed' and spec.remote_unit is None:
        context = dataclasses.replace(context, remote_unit_name=None)
    elif spec.kind == 'relation_departed' and spec.departing_local:
        context = dataclasses.replace(context, relation_departing_unit_name=context.unit_name)
    else:
        return
    ops_manager._juju_context = context
