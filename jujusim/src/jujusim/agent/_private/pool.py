"""The parent's side: one zygote per charm, one worker process per unit, one event queue."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import os
import pathlib
import re
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import ops.testing

from . import charm_source, hooks, wire

DEFAULT_JUJU_VERSION = '3.6.14'
# A hook in a worker that runs longer than this is killed and reported as failed. Real
# hooks here take milliseconds; the bound only turns a hung charm into an error.
DEFAULT_HOOK_TIMEOUT = 60.0
DEFAULT_STARTUP_TIMEOUT = 60.0
_MAX_IDLE_WAIT = 1.0


_WAKE = object()  # the selector key of the wake-up pipe


class AgentError(Exception):
    """The agent layer cannot do what was asked: the message says why, in one line.

    ``details``: more, such as the traceback of a charm that failed to import.
    """

    def __init__(self, message: str, details: str = ''):
        super().__init__(message)
        self.details = details


@dataclasses.dataclass(frozen=True)
class HookDone:
    """A hook finished in a worker (successfully or not)."""

    unit: str
    result: hooks.HookResult


@dataclasses.dataclass(frozen=True)
class WorkerGone:
    """A unit's worker process ended; a hook it was running never reports.

    Attributes:
        unit: the unit whose worker ended.
        pid: the worker's process id.
        signal: the signal that ended it (``SIGKILL`` after :meth:`AgentPool.kill`),
            or ``None`` when it exited or its zygote died first.
        exit_code: its exit code when it exited, else ``None``.
        hook: the hook it was running when it ended, if any.
        killed: whether the pool killed it (``kill``, ``restart``, a hook timeout).
    """

    unit: str
    pid: int
    signal: int | None
    exit_code: int | None
    hook: hooks.HookSpec | None
    killed: bool


AgentEvent = HookDone | WorkerGone


@dataclasses.dataclass(frozen=True)
class UnitProcess:
    """A snapshot of one unit's worker process, as :meth:`AgentPool.process` gives it.

    Attributes:
        unit: the unit, ``app/N``.
        pid: the worker's process id.
        tmpdir: the worker's own temp dir (the pool deletes it when the worker ends).
        env: the environment variables the worker was given.
        alive: whether it can still run hooks (not killed, not ended).
        hook: the hook in flight, if any.
    """

    unit: str
    pid: int
    tmpdir: pathlib.Path
    env: Mapping[str, str]
    alive: bool
    hook: hooks.HookSpec | None


class _Worker:
    """The parent's record of one worker process (a spare until it gets a unit)."""

    def __init__(
        self, *, pid: int, pidfd: int, sock: socket.socket, tmpdir: pathlib.Path, zygote: _Zygote
    ):
        self.unit: str | None = None
        self.env: Mapping[str, str] = {}
        self.pid = pid
        self.pidfd = pidfd
        self.sock = sock
        self.tmpdir = tmpdir
        self.zygote = zygote
        self.reader = wire.FrameReader()
        self.warm = False
        self.ran_a_hook = False
        # (hook id, spec, deadline on the monotonic clock) of the hook in flight.
        self.hook: tuple[int, hooks.HookSpec, float] | None = None
        self.killed = False
        self.eof = False
        self.status: int | None = None
        self.gone = False
        # Events of a unit's new worker wait until its previous worker's WorkerGone
        # is queued, so each unit's events arrive in the order its processes lived.
        self.predecessor: _Worker | None = None
        self.successor: _Worker | None = None
        self.reported = False
        self.held: list[tuple[AgentEvent, bool]] = []
        # The unit-local state the worker holds, as it keeps it (worker.Worker.run_hook):
        # what it was given, then that of each hook that succeeded.
        self.local = hooks.LocalState()
        # Its answer to ('as-new',): whether its charm's memory and threads are as when it
        # began to serve (worker.charm_memory); None until it answers.
        self.as_new: bool | None = None

    @property
    def alive(self) -> bool:
        return not (self.killed or self.eof or self.gone)

    def snapshot(self) -> UnitProcess:
        assert self.unit is not None  # noqa: S101 - only units are shown
        return UnitProcess(
            unit=self.unit,
            pid=self.pid,
            tmpdir=self.tmpdir,
            env=self.env,
            alive=self.alive,
            hook=self.hook[1] if self.hook is not None else None,
        )


class _Zygote:
    """One zygote process: the charm it serves, its control socket, its spare workers."""

    def __init__(
        self,
        source: charm_source.CharmSource,
        process: subprocess.Popen[bytes],
        control: socket.socket,
    ):
        self.source = source
        self.process = process
        self.control = control
        self.dead = False
        # Forks asked for and not yet answered: spawn id -> (our socket end, tmpdir).
        self.forking: dict[int, tuple[socket.socket, pathlib.Path]] = {}
        # Answered forks for a unit: spawn id -> the worker, or why the fork failed.
        self.forked: dict[int, _Worker | str] = {}
        self.spares: collections.deque[_Worker] = collections.deque()


class AgentPool:
    """Runs units' hooks in worker processes forked from a warmed zygote per charm.

    Each unit is one process with its own environment and temp dir; hooks of several
    units may be in flight at once, and their outcomes arrive through one queue
    (:meth:`next_event`). Each zygote keeps ``spares`` workers forked and warmed ahead
    of need, so a fresh unit process costs no fork and no cold first hook. Use the
    pool from one thread (the scheduler's), and close it (or use it as a context
    manager): closing kills every worker and zygote and deletes every temp dir.

    Args:
        juju_version: the Juju version the charms are told they run under.
        hook_timeout: wall-clock seconds after which a hook is killed and reported as
            failed (``HookError(kind='timeout')``), so a hung charm never hangs a test.
        startup_timeout: seconds to wait for a zygote to load and warm its charm, or
            for a fork.
        spares: warmed workers each zygote keeps ready.
        is_leader: answers a unit's ``is-leader`` during its hooks, for workers whose
            environment sets ``JUJUSIM_ASK_LEADER`` (``worker.live_is_leader``); it is
            called on this pool's thread, when a hook starts (the answer it starts with)
            and when the worker asks, and its answer must hold until the worker next
            sends anything (an API request).
        tmp_root: where the pool's temp dirs go; by default ``/dev/shm`` when it is a
            writable folder, else the system's temp dir.
    """

    def __init__(
        self,
        *,
        juju_version: str = DEFAULT_JUJU_VERSION,
        hook_timeout: float = DEFAULT_HOOK_TIMEOUT,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        spares: int = 1,
        is_leader: Callable[[str], bool] | None = None,
        tmp_root: str | pathlib.Path | None = None,
    ):
        if hook_timeout <= 0 or startup_timeout <= 0:
            raise ValueError('hook_timeout and startup_timeout must be positive')
        if spares < 0:
            raise ValueError('spares must be zero or more')
        self.juju_version = juju_version
        self.hook_timeout = hook_timeout
        self.startup_timeout = startup_timeout
        self.spares = spares
        self._is_leader = is_leader
        root = tmp_root if tmp_root is not None else _default_tmp_root()
        self._root = pathlib.Path(tempfile.mkdtemp(prefix='jujusim-agents-', dir=root))
        self._selector = selectors.DefaultSelector()
        self._zygotes: dict[pathlib.Path, _Zygote] = {}
        self._apps: dict[str, _Zygote] = {}
        self._units: dict[str, _Worker] = {}
        self._by_pid: dict[int, _Worker] = {}
        self._events: collections.deque[tuple[_Worker, AgentEvent, bool]] = collections.deque()
        self._ids = itertools.count(1)
        self._closed = False
        # wake() lets another thread (the simulator's API gate) end a next_event() wait.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self._woken = False
        self._is_leader_questions = 0
        # Workers that took a spare: their zygote forks the next spare once they have run
        # a hook or died (_refill_spares), so a restart's first hook does not share the
        # CPU with a new spare's warm-up (~15% of a restart, measured).
        self._owing: list[_Worker] = []
        # Idle workers set aside (set_aside, forget_units), by the unit they served:
        # spawn() of that unit takes its worker back instead of a new process.
        self._kept: dict[str, _Worker] = {}

    # -- setting up ----------------------------------------------------------------

    def add_app(
        self, app: str, charm: charm_source.CharmSource | str | pathlib.Path
    ) -> charm_source.CharmSource:
        """Make ``app`` run ``charm``: start a zygote for the charm, or reuse its zygote.

        Raises:
            CharmSourceError: the charm's source folder is malformed.
            AgentError: the charm fails to import or warm up in the zygote; the
                message carries its traceback.
        """
        self._check_open()
        if not app or '/' in app:
            raise ValueError(f'bad application name {app!r}')
        if app in self._apps:
            raise AgentError(f'application {app!r} is already added')
        source = (
            charm
            if isinstance(charm, charm_source.CharmSource)
            else charm_source.CharmSource.load(charm)
        )
        zygote = self._zygotes.get(source.path)
        if zygote is None or zygote.dead:
            zygote = self._start_zygote(source)
            self._zygotes[source.path] = zygote
            for _ in range(self.spares):
                self._fork(zygote, None, {})
        self._apps[app] = zygote
        return zygote.source

    def _start_zygote(self, source: charm_source.CharmSource) -> _Zygote:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        tmpdir = tempfile.mkdtemp(prefix=f'zygote-{source.name}-', dir=self._root)
        # The zygote imports this package from wherever the parent did.
        src = str(pathlib.Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [src, env.get('PYTHONPATH')]))
        command = [
            sys.executable,
            '-m',
            'jujusim.agent._private.zygote',
            f'--control-fd={theirs.fileno()}',
            f'--charm={source.path}',
            f'--juju-version={self.juju_version}',
            f'--tmpdir={tmpdir}',
        ]
        try:
            # A process group of its own: a Ctrl-C at the terminal reaches the parent
            # only, which then closes the pool (or dies, and the zygote sees EOF).
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                process_group=0,
            )
        finally:
            theirs.close()
        ours.settimeout(self.startup_timeout)
        try:
            message, _ = wire.recv_packet(ours)
        except (TimeoutError, wire.ConnectionClosedError, ConnectionResetError) as e:
            process.kill()
            code = process.wait()
            ours.close()
            raise AgentError(
                f'the zygote for charm {source.path} did not start (exit code {code}): {e}'
            ) from None
        if message[0] != wire.READY:
            ours.close()
            process.wait()
            details = str(message[1])
            last = next((line for line in reversed(details.splitlines()) if line.strip()), '')
            last = re.sub(r'^(?:\w+\.)+(\w+: )', r'\1', last)  # the exception's bare name
            raise AgentError(f'charm {source.path} failed to load in its zygote: {last}', details)
        ours.settimeout(None)
        zygote = _Zygote(source, process, ours)
        self._selector.register(ours, selectors.EVENT_READ, zygote)
        return zygote

    def _fork(self, zygote: _Zygote, unit: str | None, env: Mapping[str, str]) -> int:
        """Ask ``zygote`` for a worker (a spare when ``unit`` is None); return the spawn id."""
        prefix = unit.replace('/', '-') + '-' if unit is not None else 'spare-'
        tmpdir = pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir=self._root))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        spawn_id = next(self._ids)
        try:
            message = (wire.SPAWN, spawn_id, unit, dict(env), str(tmpdir))
            wire.send_packet(zygote.control, message, [theirs.fileno()])
        except OSError as e:
            ours.close()
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise AgentError(f'the zygote for {zygote.source.name} is gone: {e}') from None
        finally:
            theirs.close()
        zygote.forking[spawn_id] = (ours, tmpdir)
        return spawn_id

    def spawn(
        self,
        unit: str,
        *,
        env: Mapping[str, str] | None = None,
        local: hooks.LocalState | None = None,
    ) -> UnitProcess:
        """Give ``unit`` (``app/N``) a worker, with empty unit-local state.

        The unit's worker set aside (:meth:`set_aside`) serves it again if its
        environment is ``env``. Else a spare (forked ahead of need, and warmed or
        warming) takes the unit when there is one, and the zygote forks a new spare once
        the unit has run its first hook (or died); otherwise the zygote forks a worker
        for the unit now.

        Args:
            unit: the unit's name; its application must have been added.
            env: environment variables for the worker (e.g. ``KUBECONFIG``), on top
                of the zygote's own.
            local: unit-local state to start with instead of none: what a unit's
                earlier worker held (:meth:`local_state`), for a model restored from a
                snapshot. Nothing else of that worker carries over, but the unit's
                worker set aside (:meth:`set_aside`), if its ``env`` is the same,
                serves the unit again (with ``local``) instead of a new process.

        Raises:
            AgentError: the unit already has a live worker, or its zygote is gone.
        """
        self._check_open()
        zygote = self._zygote_for(unit)
        previous = self._units.get(unit)
        if previous is not None and previous.alive:
            raise AgentError(f'{unit} already has a live worker (pid {previous.pid}); use restart')
        if zygote.dead:
            raise AgentError(f'the zygote for {unit} has died; no worker can be forked')
        env = dict(env or {})
        kept = self._kept.pop(unit, None)
        if kept is not None and kept.alive and kept.zygote is zygote and kept.env == env:
            worker = kept
            worker.unit = unit
        elif zygote.spares:
            worker = zygote.spares.popleft()
            worker.unit, worker.env = unit, env
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                wire.send(worker.sock, (wire.ASSIGN, unit, env))
            self._owing.append(worker)
        else:
            worker = self._wait_fork(zygote, self._fork(zygote, unit, env))
            worker.unit, worker.env = unit, env
        if kept is not None and kept is not worker and kept.alive:
            self._kill(kept)  # another environment or charm: not this unit's process now
        local = local if local is not None else hooks.LocalState()
        if local != worker.local:
            worker.local = local
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                wire.send(worker.sock, (wire.LOCAL, local))
        if previous is not None and not previous.reported:
            worker.predecessor, previous.successor = previous, worker
        self._units[unit] = worker
        return worker.snapshot()

    def local_state(self, unit: str) -> hooks.LocalState:
        """The unit-local state ``unit``'s live worker holds now (StoredState, deferrals).

        Raises:
            AgentError: the unit has no live worker, or it is running a hook (its state
                is changing).
        """
        worker = self._units.get(unit)
        if worker is None or not worker.alive:
            raise AgentError(f'{unit} has no live worker')
        if worker.hook is not None:
            raise AgentError(f'{unit} is running {worker.hook[1].describe()}')
        return worker.local

    def forget_units(self, *, keep_idle: bool = False) -> None:
        """Kill every unit's worker and forget the units: nothing of them is reported again.

        The pool is then as if new, its zygotes and spare workers kept: every unit gets
        a fresh worker again with :meth:`spawn`. The killed processes are reaped in the
        background; their ends, and any outcome already on its way, are never reported.
        Applications stay added.

        With ``keep_idle``, each unit's current worker is set aside as :meth:`set_aside`
        does when it can be, and those set aside before stay so; :meth:`retire_kept`
        ends those no spawn took back.
        """
        self._check_open()
        if not keep_idle:
            self.retire_kept()
        current = [w for w in self._by_pid.values() if self._units.get(w.unit or '') is w]
        as_new = self._as_new([w for w in current if self._idle(w)]) if keep_idle else []
        # Every worker a unit ever had and that has not been reaped: an earlier worker of
        # a restarted unit too, whose end would otherwise be reported later.
        for worker in list(self._by_pid.values()):
            if worker.unit is None:
                continue  # a spare, or set aside
            if worker in as_new:
                self._keep(worker)
                continue
            if worker.alive:
                self._kill(worker)
            self._unassign(worker)
        self._units.clear()
        self._events.clear()

    def set_aside(self, unit: str) -> bool:
        """End ``unit``'s worker as :meth:`kill` would, but keep its process if it can be.

        It can be when it is idle (no hook in flight, nothing of it still to report) and
        its charm's modules hold what they held when it began to serve, with no thread
        of the charm's left running (``worker.charm_memory``). It
        is then taken from the unit and reports nothing more, and the unit's next
        :meth:`spawn` or :meth:`restart` with the same environment takes it back, given
        the unit-local state the spawn gives (none for a restart), instead of a new
        process: a fork, the copy-on-write faults of a new process and its end saved,
        ~23 ms of CPU a worker (measured). Under Juju each hook is a new process; what
        a charm could tell apart here is only its process id.

        Returns:
            Whether it was set aside; when not, nothing changed (kill it then).
        """
        self._check_open()
        worker = self._units.get(unit)
        if worker is None or not self._idle(worker) or not self._as_new([worker]):
            return False
        del self._units[unit]
        self._keep(worker)
        return True

    def retire_kept(self, unit: str | None = None) -> None:
        """Kill the workers set aside (:meth:`set_aside`) that no spawn took back.

        Args:
            unit: only that unit's, if it has one.
        """
        for name in [unit] if unit is not None else list(self._kept):
            worker = self._kept.pop(name, None)
            if worker is not None and worker.alive:
                self._kill(worker)

    def _idle(self, worker: _Worker) -> bool:
        """No hook of ``worker`` in flight, and nothing of it still to report."""
        waiting = worker.predecessor is not None and not worker.predecessor.reported
        queued = any(owner is worker for owner, _, _ in self._events)
        busy = worker.hook is not None or worker.held or waiting or queued
        return worker.alive and not busy

    def _as_new(self, workers: list[_Worker]) -> list[_Worker]:
        """Those of the idle ``workers`` whose charm memory is as when they began to serve."""
        asked: list[_Worker] = []
        for worker in workers:
            worker.as_new = None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                wire.send(worker.sock, (wire.AS_NEW,))
                asked.append(worker)
        deadline = time.monotonic() + self.startup_timeout
        while any(w.as_new is None and w.alive for w in asked):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._pump(remaining)
        return [w for w in asked if w.as_new and w.alive]

    def _keep(self, worker: _Worker) -> None:
        assert worker.unit is not None  # noqa: S101 - only a unit's worker is kept
        self.retire_kept(worker.unit)
        self._kept[worker.unit] = worker
        self._unassign(worker)

    @staticmethod
    def _unassign(worker: _Worker) -> None:
        # Unit-less, it is retired as a spare is (_maybe_gone), and a hook outcome of it
        # is ignored (_read_worker).
        worker.unit = None
        worker.hook = None
        worker.held = []
        worker.predecessor = worker.successor = None

    def remove_app(self, app: str) -> None:
        """Forget ``app`` (its units first: :meth:`forget_units`); its zygote stays."""
        if any(u.partition('/')[0] == app for u in self._units):
            raise AgentError(f'{app} still has units')
        self._apps.pop(app, None)

    def _wait_fork(self, zygote: _Zygote, spawn_id: int) -> _Worker:
        deadline = time.monotonic() + self.startup_timeout
        while spawn_id in zygote.forking:
            remaining = deadline - time.monotonic()
            if zygote.dead or remaining <= 0:
                raise AgentError(f'the zygote for {zygote.source.name} did not fork a worker')
            self._pump(remaining)
        worker = zygote.forked.pop(spawn_id)
        if isinstance(worker, str):
            raise AgentError(f'the zygote for {zygote.source.name} could not fork: {worker}')
        return worker

    def wait_for_spares(self, timeout: float | None = None) -> None:
        """Fork every spare owed, and wait until every zygote's spares are warm.

        A spare taken by :meth:`spawn` is replaced once its unit has run a hook or died;
        this replaces it now.

        Raises:
            AgentError: they are not ready within ``timeout`` (default: the startup
                timeout).
        """
        self._check_open()
        deadline = time.monotonic() + (self.startup_timeout if timeout is None else timeout)
        self._refill_spares(force=True)
        while not self._spares_ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AgentError('spare workers not ready in time')
            self._pump(remaining)

    def _refill_spares(self, *, force: bool = False) -> None:
        for worker in list(self._owing):
            if not (force or worker.ran_a_hook or not worker.alive):
                continue
            self._owing.remove(worker)
            if not worker.zygote.dead:
                with contextlib.suppress(AgentError):  # the zygote died just now
                    self._fork(worker.zygote, None, {})

    def _spares_ready(self) -> bool:
        return all(
            z.dead or (not z.forking and all(w.warm for w in z.spares))
            for z in self._zygotes.values()
        )

    # -- running hooks -------------------------------------------------------------

    def start_hook(
        self,
        unit: str,
        spec: hooks.HookSpec,
        juju_state: ops.testing.State,
        *,
        trusted: bool = False,
    ) -> int:
        """Start ``spec`` in ``unit``'s worker without waiting; its outcome is a ``HookDone``.

        Args:
            unit: a unit with a live, idle worker.
            spec: the hook to run.
            juju_state: the Juju-side state (leader flag, config, relations and their
                data, secrets, containers, statuses); the worker adds its own
                StoredState and deferred events, so this must carry none.
            trusted: whether the application has ``juju trust``.

        Returns:
            The hook's id, as found again in ``HookDone.result.hook_id``.

        Raises:
            AgentError: the unit has no live worker, or is already running a hook
                (Juju runs one hook at a time per unit: internal/worker/uniter/resolver.go).
            ValueError: the hook does not fit the state or the charm.
        """
        self._check_open()
        worker = self._units.get(unit)
        if worker is None or not worker.alive:
            raise AgentError(f'{unit} has no live worker; spawn or restart it first')
        if worker.hook is not None:
            raise AgentError(
                f'{unit} is already running {worker.hook[1].describe()}: '
                'a unit runs one hook at a time'
            )
        problems = hooks.check_against(spec, juju_state)
        actions = worker.zygote.source.actions
        if spec.action is not None and spec.action not in actions:
            problems.append(f'the charm declares no action {spec.action!r} ({sorted(actions)})')
        if problems:
            raise ValueError(f'cannot run {spec.describe()} on {unit}: ' + '; '.join(problems))
        hook_id = next(self._ids)
        worker.hook = (hook_id, spec, time.monotonic() + self.hook_timeout)
        # The hook starts with its is-leader answer: one question fewer, and the callback's
        # answer holds until the worker first sends anything (see is_leader above).
        leader = None
        if self._is_leader is not None and self._asks_is_leader(worker):
            leader = self._is_leader(unit)
        # A worker that died a moment ago fails this send; its WorkerGone follows.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            wire.send(worker.sock, (wire.HOOK, hook_id, spec, juju_state, trusted, leader))
        return hook_id

    def answer_is_leader_ahead(self, unit: str, answer: bool | None) -> None:
        """Tell ``unit``'s worker what ``is-leader`` answers once its API request is answered.

        Call it before letting the response of the unit's request go: the worker then
        uses ``answer`` from that response until it next sends anything, and asks the
        callback no question meanwhile. ``None`` tells nothing: the worker asks if it
        needs to (as when the answer would be asked of Juju again by then).
        """
        worker = self._units.get(unit)
        if answer is None or worker is None or worker.hook is None:
            return
        if not self._asks_is_leader(worker):
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            wire.send(worker.sock, (wire.LEADER_AHEAD, answer))

    def _asks_is_leader(self, worker: _Worker) -> bool:
        return (
            self._is_leader is not None
            and worker.unit is not None
            and not worker.killed
            and bool(worker.env.get(wire.ASK_LEADER_ENV))
        )

    def next_event(self, timeout: float | None = None) -> AgentEvent | None:
        """The next ``HookDone`` or ``WorkerGone``, oldest first.

        Each unit's events come in order: a restarted unit's new worker reports
        nothing before its old worker's ``WorkerGone``. After :meth:`kill`, no
        ``HookDone`` of the killed worker is delivered, even one already on its way.

        Args:
            timeout: seconds to wait for an event, even one nothing announced (a
                worker that crashed on its own); ``None`` waits as long as something
                is pending (a hook in flight or a worker ending), which hook timeouts
                bound.

        Returns:
            The event, or ``None`` if ``timeout`` passed first or :meth:`wake` was called.

        Raises:
            AgentError: ``timeout`` is ``None`` and nothing is pending, so waiting
                would never end.
        """
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            while self._events:
                worker, event, discard_if_killed = self._events.popleft()
                if discard_if_killed and worker.killed:
                    continue
                return event
            if self._woken:
                self._woken = False
                return None
            if deadline is None:
                if not self._pending():
                    self._pump(0)
                    if not self._events:
                        raise AgentError(
                            'no hook in flight and no worker ending: nothing to wait for'
                        )
                    continue
                self._pump(None)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._pump(remaining)

    def run_hook(
        self,
        unit: str,
        spec: hooks.HookSpec,
        juju_state: ops.testing.State,
        *,
        trusted: bool = False,
    ) -> hooks.HookResult:
        """Run one hook and wait for its outcome; other events stay queued, in order.

        Raises:
            AgentError: the worker ended before answering.
        """
        hook_id = self.start_hook(unit, spec, juju_state, trusted=trusted)
        worker = self._units[unit]
        while True:
            for index, (owner, event, _) in enumerate(self._events):
                if owner is not worker:
                    continue
                if isinstance(event, HookDone) and event.result.hook_id == hook_id:
                    del self._events[index]
                    return event.result
                if isinstance(event, WorkerGone):
                    raise AgentError(f'{unit} ended while running {spec.describe()}: {event}')
            self._pump(None)

    # -- killing -------------------------------------------------------------------

    def kill(self, unit: str) -> None:
        """SIGKILL ``unit``'s worker wherever it stands.

        Returns as soon as the signal is sent. From then on the pool reports nothing
        of that worker but its ``WorkerGone``: the hook it was running never reports,
        even if its outcome was already on its way.

        Raises:
            AgentError: the unit has no live worker.
        """
        self._check_open()
        worker = self._units.get(unit)
        if worker is None or not worker.alive:
            raise AgentError(f'{unit} has no live worker to kill')
        self._kill(worker)

    @staticmethod
    def _kill(worker: _Worker) -> None:
        worker.killed = True
        # A pidfd names this very process even if its pid is reused (pidfd_open(2)).
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(worker.pidfd, signal.SIGKILL)

    def restart(self, unit: str, *, env: Mapping[str, str] | None = None) -> UnitProcess:
        """Kill ``unit``'s worker if it lives, then give the unit another (:meth:`spawn`).

        The worker starts with empty unit-local state, as a recreated pod does.

        Args:
            unit: the unit.
            env: the new worker's environment; the old one's when not given.
        """
        self._check_open()
        old = self._units.get(unit)
        if old is not None and old.alive:
            self._kill(old)
        return self.spawn(unit, env=old.env if env is None and old is not None else env)

    # -- reading -------------------------------------------------------------------

    def process(self, unit: str) -> UnitProcess | None:
        """A snapshot of ``unit``'s current (or last) worker, if it ever had one."""
        worker = self._units.get(unit)
        return worker.snapshot() if worker is not None else None

    @property
    def units(self) -> list[str]:
        """Units with a live worker, sorted."""
        return sorted(u for u, w in self._units.items() if w.alive)

    @property
    def apps(self) -> list[str]:
        """The applications added, sorted."""
        return sorted(self._apps)

    @property
    def pids(self) -> list[int]:
        """Process ids of every zygote and every worker not yet reaped (spares included)."""
        zygotes = [z.process.pid for z in self._zygotes.values() if not z.dead]
        return sorted(zygotes + list(self._by_pid))

    def zygote_pid(self, app: str) -> int:
        """The process id of ``app``'s zygote."""
        zygote = self._apps.get(app)
        if zygote is None:
            raise AgentError(f'application {app!r} has not been added (add_app)')
        return zygote.process.pid

    @property
    def is_leader_questions(self) -> int:
        """How many times a worker has asked ``is-leader`` over its socket so far.

        Each is a round trip between processes; the answers a hook starts with and those
        sent ahead (:meth:`answer_is_leader_ahead`) are not counted.
        """
        return self._is_leader_questions

    @property
    def root(self) -> pathlib.Path:
        """The folder under which every worker's temp dir lives (deleted by :meth:`close`)."""
        return self._root

    # -- the event loop ------------------------------------------------------------

    def _pending(self) -> bool:
        return any(
            w.hook is not None or (not w.alive and not w.reported) for w in self._units.values()
        )

    def _pump(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` for I/O, handle it, and fire any hook timeouts."""
        self._refill_spares()
        now = time.monotonic()
        wait = _MAX_IDLE_WAIT if timeout is None else max(0.0, min(timeout, _MAX_IDLE_WAIT))
        for worker in self._units.values():
            if worker.hook is not None and not worker.killed:
                wait = min(wait, max(0.0, worker.hook[2] - now))
        for key, _ in self._selector.select(wait):
            owner = key.data
            if owner is _WAKE:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 4096):
                        pass
                self._woken = True
            elif isinstance(owner, _Worker):
                self._read_worker(owner)
            else:
                self._read_zygote(owner)
        self._fire_timeouts()

    def _read_worker(self, worker: _Worker) -> None:
        try:
            data = worker.sock.recv(1 << 20, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except ConnectionResetError:
            data = b''
        if not data:
            worker.eof = True
            self._selector.unregister(worker.sock)
            worker.sock.close()
            self._maybe_gone(worker)
            return
        for message in worker.reader.feed(data):
            if message[0] == wire.READY:
                worker.warm = True
                continue
            if message[0] == wire.IS_LEADER:
                self._answer_is_leader(worker)
                continue
            if message[0] == wire.AS_NEW:
                worker.as_new = bool(message[1])
                continue
            _, hook_id, result = message
            if worker.hook is None or worker.hook[0] != hook_id:
                continue  # the answer to a hook already reported as timed out
            worker.hook = None
            worker.ran_a_hook = True
            if result.state is not None:
                worker.local = hooks.LocalState.of(result.state)
            assert worker.unit is not None  # noqa: S101 - spares run no hooks
            self._emit(worker, HookDone(worker.unit, result), discard_if_killed=True)

    def _answer_is_leader(self, worker: _Worker) -> None:
        self._is_leader_questions += 1
        answer = None  # the worker then answers from the State
        if self._is_leader is not None and worker.unit is not None and not worker.killed:
            answer = self._is_leader(worker.unit)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            wire.send(worker.sock, (wire.LEADER, answer))

    def _read_zygote(self, zygote: _Zygote) -> None:
        try:
            message, fds = wire.recv_packet(zygote.control, wait=False)
        except BlockingIOError:
            return
        except (wire.ConnectionClosedError, ConnectionResetError):
            self._zygote_died(zygote)
            return
        kind = message[0]
        if kind == wire.EXITED:
            _, pid, status = message
            worker = self._by_pid.get(pid)
            if worker is not None:
                worker.status = status
                self._maybe_gone(worker)
        elif kind in (wire.SPAWNED, wire.SPAWN_FAILED):
            self._forked(zygote, message, fds)

    def _forked(self, zygote: _Zygote, message: Any, fds: list[int]) -> None:
        _, spawn_id, is_spare, detail = message
        sock, tmpdir = zygote.forking.pop(spawn_id)
        if message[0] == wire.SPAWN_FAILED:
            sock.close()
            shutil.rmtree(tmpdir, ignore_errors=True)
            if not is_spare:
                zygote.forked[spawn_id] = detail
            return
        worker = _Worker(pid=detail, pidfd=fds[0], sock=sock, tmpdir=tmpdir, zygote=zygote)
        self._by_pid[worker.pid] = worker
        self._selector.register(sock, selectors.EVENT_READ, worker)
        if is_spare:
            zygote.spares.append(worker)
        else:
            zygote.forked[spawn_id] = worker

    def _zygote_died(self, zygote: _Zygote) -> None:
        zygote.dead = True
        self._selector.unregister(zygote.control)
        for sock, tmpdir in zygote.forking.values():
            sock.close()
            shutil.rmtree(tmpdir, ignore_errors=True)
        zygote.forking.clear()
        for worker in list(self._by_pid.values()):
            if worker.zygote is zygote:
                self._maybe_gone(worker)

    def _maybe_gone(self, worker: _Worker) -> None:
        """Retire a worker once its output is drained and its end is known."""
        if worker.gone or not worker.eof:
            return
        if worker.status is None and not worker.zygote.dead:
            return
        worker.gone = True
        if worker.status is None:
            # No zygote to reap it and report: its socket closed as it began to exit;
            # wait on its pidfd until it has ended.
            _wait_ended([worker.pidfd], self.startup_timeout)
        sig = code = None
        if worker.status is not None:
            exit_code = os.waitstatus_to_exitcode(worker.status)
            sig, code = (-exit_code, None) if exit_code < 0 else (None, exit_code)
        hook = worker.hook[1] if worker.hook is not None else None
        worker.hook = None
        os.close(worker.pidfd)
        self._by_pid.pop(worker.pid, None)
        shutil.rmtree(worker.tmpdir, ignore_errors=True)
        if worker.unit is None:  # a spare: no unit to tell
            with contextlib.suppress(ValueError):
                worker.zygote.spares.remove(worker)
            return
        event = WorkerGone(worker.unit, worker.pid, sig, code, hook, worker.killed)
        self._emit(worker, event, discard_if_killed=False)

    def _emit(self, worker: _Worker, event: AgentEvent, *, discard_if_killed: bool) -> None:
        if worker.predecessor is not None and not worker.predecessor.reported:
            worker.held.append((event, discard_if_killed))
            return
        self._events.append((worker, event, discard_if_killed))
        if isinstance(event, WorkerGone):
            worker.reported = True
            successor = worker.successor
            if successor is not None:
                successor.predecessor = None
                held, successor.held = successor.held, []
                for held_event, held_discard in held:
                    self._emit(successor, held_event, discard_if_killed=held_discard)

    def _fire_timeouts(self) -> None:
        now = time.monotonic()
        for worker in list(self._units.values()):
            current = worker.hook
            if current is None or worker.killed or current[2] > now:
                continue
            hook_id, spec, _ = current
            worker.hook = None  # reported here, so not again with its WorkerGone
            self._kill(worker)
            error = hooks.HookError(
                kind='timeout',
                type_name='TimeoutError',
                message=(
                    f'{spec.describe()} ran over {self.hook_timeout} s of wall-clock time; '
                    'its worker was killed (Juju sets no limit: it would hang for ever)'
                ),
            )
            assert worker.unit is not None  # noqa: S101 - spares run no hooks
            result = hooks.HookResult(
                unit=worker.unit, hook_id=hook_id, spec=spec, state=None, error=error
            )
            self._emit(worker, HookDone(worker.unit, result), discard_if_killed=False)

    # -- closing -------------------------------------------------------------------

    def close(self) -> None:
        """Kill every worker and zygote, reap them, and delete every temp dir."""
        if self._closed:
            return
        self._closed = True
        for worker in self._by_pid.values():
            self._kill(worker)
        # Workers of a zygote that died are nobody's children we can wait for: wait on
        # their pidfds, which turn readable once the process has ended (pidfd_open(2)).
        _wait_ended([w.pidfd for w in self._by_pid.values()], self.startup_timeout)
        # Closing its control socket makes a zygote kill and reap its workers and exit.
        for zygote in self._zygotes.values():
            zygote.control.close()
        for zygote in self._zygotes.values():
            try:
                zygote.process.wait(timeout=self.startup_timeout)
            except subprocess.TimeoutExpired:  # pragma: no cover - only if the zygote hangs
                zygote.process.kill()
                zygote.process.wait()
            for sock, _ in zygote.forking.values():
                sock.close()
        for worker in self._by_pid.values():
            os.close(worker.pidfd)
            if not worker.eof:
                worker.sock.close()
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._by_pid.clear()
        self._events.clear()
        shutil.rmtree(self._root, ignore_errors=True)

    def wake(self) -> None:
        """End a :meth:`next_event` wait early (it returns None); safe from any thread."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b'w')

    def __enter__(self) -> AgentPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise AgentError('the agent pool is closed')

    def _zygote_for(self, unit: str) -> _Zygote:
        app, slash, number = unit.rpartition('/')
        if not slash or not number.isdigit():
            raise ValueError(f'bad unit name {unit!r}: expected <app>/<number>')
        zygote = self._apps.get(app)
        if zygote is None:
            raise AgentError(f'application {app!r} has not been added (add_app)')
        return zygote


def _wait_ended(pidfds: list[int], timeout: float) -> None:
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    waiting = set(pidfds)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for fd, _ in poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            waiting.discard(fd)
            poller.unregister(fd)


def _default_tmp_root() -> str:
    # Every hook makes and deletes a few temp dirs (Scenario's scenario-* dir and its
    # virtual charm root). On this project's machines a disk mkdir+rmdir costs ~0.8 ms
    # and a tmpfs one ~0.05 ms: a large share of a small hook's time.
    shm = '/dev/shm'  # noqa: S108 - only a folder to make private temp dirs in
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()
