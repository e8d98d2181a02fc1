"""The zygote: a warmed interpreter that forks one worker per unit on request.

Run as ``python -m jujusim.agent._private.zygote --control-fd N --charm PATH ...`` by
:class:`jujusim.agent.AgentPool`, never forked from the parent, which runs threads.
It imports ops, ops.testing, lightkube and the charm, runs warm hooks (otherwise each
fork pays ~21 ms of lazy imports: docs/design-notes.md, "Costs measured for the harness"),
then serves requests on its control socket (seqpacket, pickled messages):

- in: ``('spawn', spawn_id, unit, env, tmpdir)`` with the worker's socket attached;
  ``unit`` is None for a spare, which warms itself up, says ``('ready',)`` on its
  socket and waits for ``('assign', unit, env)``. Out: ``('spawned', spawn_id,
  is_spare, pid)`` with a pidfd of the worker attached, so the parent can SIGKILL it
  directly and race-free, or ``('spawn_failed', spawn_id, is_spare, text)``.
- out: ``('exited', pid, wait_status)`` once a worker is reaped.
- out at start: ``('ready', pid)`` or ``('failed', traceback_text)``.

When the parent closes the control socket (or dies), the zygote kills its workers,
reaps them, and exits, quietly even with a request it can no longer answer; a spare whose
parent is gone before it is warm exits quietly too. Workers die with the zygote
(``PR_SET_PDEATHSIG``). The zygote and its workers keep their temp files under the folder
the parent gives them.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes

# A worker's first connection names its host as text, which socket.getaddrinfo encodes
# with the idna codec (CPython Modules/socketmodule.c, socket_getaddrinfo): a lazy import
# (with stringprep) each worker would pay in its first API call, made once here.
import encodings.idna  # noqa: F401  # pyright: ignore[reportUnusedImport]
import gc
import json
import os
import pathlib
import selectors
import signal
import socket
import sys
import tempfile
import traceback
import types
from typing import Any, ClassVar

import httpx2
import lightkube
import lightkube.config.kubeconfig
import lightkube.core.decoders
import lightkube.core.exceptions
import lightkube.models.meta_v1
import lightkube.resources.apps_v1
import lightkube.resources.core_v1
import msgspec
import ops
import ops.testing

from . import charm_source, hooks, speedups, wire, worker

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
WARM_CHARM_BUDGET = 5.0  # seconds


def set_parent_death_signal(expected_parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies; exit if it already has.

    The signal fires when the parent *thread* exits (prctl(2)); the zygote is
    single-threaded, so for workers that is the zygote's death.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != expected_parent:
        os._exit(1)


class _WarmCharm(ops.CharmBase):
    """Exercises the paths a real charm's hook takes, so forked workers start warm."""

    _stored = ops.StoredState()
    META: ClassVar[dict[str, Any]] = {
        'name': 'warm',
        'containers': {'box': {}},
        'requires': {'db': {'interface': 'db'}},
        'peers': {'peers': {'interface': 'warm-peers'}},
    }
    CONFIG: ClassVar[dict[str, Any]] = {'options': {'x': {'type': 'string', 'default': 'a'}}}
    ACTIONS: ClassVar[dict[str, Any]] = {'go': {'params': {'n': {'type': 'integer'}}}}

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self._stored.set_default(hooks=0)
        for event in (
            self.on.config_changed,
            self.on.update_status,
            self.on.box_pebble_ready,
            self.on.db_relation_changed,
            self.on.leader_elected,
        ):
            framework.observe(event, self._on_event)
        framework.observe(self.on.go_action, self._on_go)
        framework.observe(self.on.collect_unit_status, self._on_collect)

    def _on_event(self, event: ops.EventBase) -> None:
        self._stored.hooks += 1
        _ = self.model.juju_version
        _ = self.config['x']
        for relation in self.model.relations['db']:
            relation.data[self.unit]['n'] = str(self._stored.hooks)
            _ = dict(relation.data[relation.app])
        if isinstance(event, ops.UpdateStatusEvent) and self._stored.hooks < 3:
            event.defer()

    def _on_go(self, event: ops.ActionEvent) -> None:
        event.log('going')
        event.set_results({'n': event.params.get('n', 0)})

    def _on_collect(self, event: ops.CollectStatusEvent) -> None:
        event.add_status(ops.ActiveStatus(f'{self._stored.hooks} hooks'))


def warm_up(juju_version: str) -> None:
    """Run hooks of a built-in charm, and a lightkube round trip, through in-memory fakes.

    The charm under test is imported but not run: its hooks could touch the world.
    """
    run_warm_hooks(juju_version)
    _warm_lightkube()
    warm_decoders()


def run_warm_hooks(juju_version: str) -> None:
    """Run the built-in charm's hooks as a unit's hooks would run."""
    source = charm_source.CharmSource(
        path=pathlib.Path(__file__).parent,
        meta=_WarmCharm.META,
        config=_WarmCharm.CONFIG,
        actions=_WarmCharm.ACTIONS,
        entrypoint=pathlib.Path(__file__),
    )
    runner = worker.Worker(_WarmCharm, source, unit='warm/0', juju_version=juju_version)
    relation = ops.testing.Relation('db', remote_app_data={'k': 'v'}, remote_units_data={0: {}})
    state = ops.testing.State(
        leader=True,
        config={'x': 'b'},
        relations={relation, ops.testing.PeerRelation('peers')},
        containers={ops.testing.Container('box', can_connect=True)},
    )
    specs = [
        hooks.HookSpec(kind='config_changed'),
        hooks.HookSpec(kind='update_status'),
        hooks.HookSpec(kind='relation_changed', relation_id=relation.id, remote_unit=0),
        hooks.HookSpec(kind='pebble_ready', container='box'),
        hooks.HookSpec(kind='leader_elected'),
        hooks.HookSpec(kind='action', action='go', params={'n': 1}),
        hooks.HookSpec(kind='update_status'),
    ]
    for hook_id, spec in enumerate(specs):
        result = runner.run_hook(hook_id, spec, state)
        if result.error is not None:
            raise RuntimeError(f'warm-up hook {spec.describe()} failed:\n{result.error.traceback}')
        assert result.state is not None  # noqa: S101 - no error means a state
        wire.frame(result)  # the pickling path, too
        state = hooks.juju_side(result.state)


def warm_charm(
    charm_type: type[ops.CharmBase],
    source: charm_source.CharmSource,
    juju_version: str,
    *,
    budget: float = WARM_CHARM_BUDGET,
) -> None:
    """Run the charm's own first hooks once, cut off from the world, and forget them.

    A forked worker's first hook of a charm cost ~10 ms more than its second (what it
    touches is copied on write, its caches are cold), and a built-in charm warms only
    ops' share of that. These hooks run as a unit the model never has, before the worker
    serves its parent (so ``is-leader`` answers from the State), and with ``KUBECONFIG``
    naming a file that does not exist, so a
    Kubernetes client fails at once (no retries, no sleeps) and reaches no cluster; the
    worker keeps nothing of them. Their failures are expected and ignored. A charm that
    hangs without its API is cut off after ``budget`` seconds.
    """
    app = str(source.meta.get('name', 'warm'))
    runner = worker.Worker(charm_type, source, unit=f'{app}/0', juju_version=juju_version)
    declared: dict[str, Any] = source.meta.get('containers') or {}
    containers = {ops.testing.Container(name, can_connect=True) for name in declared}
    saved = os.environ.get('KUBECONFIG')
    os.environ['KUBECONFIG'] = os.path.join(tempfile.gettempdir(), 'no-such-kubeconfig')
    previous = signal.signal(signal.SIGALRM, _out_of_budget)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        # Juju's restart order (upgrade-charm first), then the leader's path to its client.
        for spec, leader in (
            (hooks.HookSpec(kind='upgrade_charm'), False),
            (hooks.HookSpec(kind='config_changed'), True),
        ):
            runner.run_hook(0, spec, ops.testing.State(leader=leader, containers=containers))
    except WarmUpTimeout:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if saved is None:
            del os.environ['KUBECONFIG']
        else:
            os.environ['KUBECONFIG'] = saved


class WarmUpTimeout(BaseException):
    """A warm-up hook ran out of time.

    A BaseException, so that a charm's ``except Exception`` cannot swallow it.
    """


def _out_of_budget(signum: int, frame: types.FrameType | None) -> None:
    del signum, frame
    raise WarmUpTimeout


def _warm_lightkube() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == 'GET':
            status = {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'code': 404}
            return httpx2.Response(404, json={**status, 'reason': 'NotFound', 'message': 'nf'})
        body = json.loads(request.content or b'{}')
        meta = {'name': 'cm', 'namespace': 'warm', 'resourceVersion': '1'}
        return httpx2.Response(
            200, json={'apiVersion': 'v1', 'kind': 'ConfigMap', **body, 'metadata': meta}
        )

    cluster = {'server': 'http://127.0.0.1:1', 'insecure-skip-tls-verify': True}
    kubeconfig = {
        'clusters': [{'name': 'c', 'cluster': cluster}],
        'users': [{'name': 'u', 'user': {'token': 'warm'}}],
        'contexts': [{'name': 'x', 'context': {'cluster': 'c', 'user': 'u', 'namespace': 'w'}}],
        'current-context': 'x',
    }
    config = lightkube.config.kubeconfig.KubeConfig.from_dict(kubeconfig)  # pyright: ignore[reportUnknownMemberType]
    client = lightkube.Client(
        config, transport=httpx2.MockTransport(handler), field_manager='warm'
    )
    with contextlib.suppress(lightkube.core.exceptions.ApiError):
        client.get(lightkube.resources.core_v1.ConfigMap, 'cm')
    patch = {'data': {'a': 'b'}}
    client.patch(lightkube.resources.core_v1.ConfigMap, 'cm', patch)  # pyright: ignore[reportUnknownMemberType]
    client.close()


# The kinds the fake API serves (``jujusim.kube.RESOURCES``; a test keeps the two equal),
# named here so that a zygote does not import the fake API itself (~0.16 s a zygote).
WARM_KINDS: tuple[tuple[str, str], ...] = (
    ('v1', 'Namespace'),
    ('v1', 'ConfigMap'),
    ('v1', 'Service'),
    ('v1', 'Pod'),
    ('apps/v1', 'StatefulSet'),
    ('apps/v1', 'ControllerRevision'),
    ('v1', 'Event'),
)


def warm_decoders() -> None:
    """Build lightkube's msgspec decoders for every kind the fake API serves, and lists.

    msgspec builds a model's type information on its first decode and caches it on the
    class; for a StatefulSet that is ~35 ms (and ~6 ms more for a Pod list), which every
    fresh worker would otherwise pay on its first API call of each kind.
    """
    modules = {'v1': lightkube.resources.core_v1, 'apps/v1': lightkube.resources.apps_v1}
    msgspec.json.Decoder(lightkube.models.meta_v1.Status)
    for api_version, kind in WARM_KINDS:
        module = modules.get(api_version)
        model: Any = getattr(module, kind, None) if module is not None else None
        if model is None or not isinstance(model, type) or not issubclass(model, msgspec.Struct):
            continue
        msgspec.json.Decoder(model)
        # lightkube makes each kind's list model once and caches it (core/decoders.py).
        get_list_model: Any = getattr(lightkube.core.decoders, '_get_list_model')  # noqa: B009
        msgspec.json.Decoder(get_list_model(model)[0])


def _ignore_signal(signum: int, frame: types.FrameType | None) -> None:
    del signum, frame


class Zygote:
    """Serves spawn requests on the control socket and reaps the workers it forked."""

    def __init__(
        self,
        control: socket.socket,
        source: charm_source.CharmSource,
        charm_type: type[ops.CharmBase],
        juju_version: str,
    ):
        self._control = control
        self._source = source
        self._charm_type = charm_type
        self._juju_version = juju_version
        self._children: set[int] = set()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector = selectors.DefaultSelector()

    def serve(self) -> None:
        """Loop until the parent closes the control socket; then kill and reap every worker."""
        signal.set_wakeup_fd(self._wake_w)
        # A handler (not SIG_DFL) so SIGCHLD writes to the wakeup fd.
        signal.signal(signal.SIGCHLD, _ignore_signal)
        self._selector.register(self._control, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in self._selector.select():
                    if key.fileobj is self._control:
                        try:
                            message, fds = wire.recv_packet(self._control)
                            self._handle(message, fds)
                        except (wire.ConnectionClosedError, ConnectionError):
                            # The parent is gone (it closed the socket, or died with a
                            # request still queued): nobody to answer. Not an error.
                            return
                    else:
                        with contextlib.suppress(BlockingIOError):
                            os.read(self._wake_r, 4096)
                self._reap()
        finally:
            self._shutdown()

    def _handle(self, message: Any, fds: list[int]) -> None:
        if message[0] != wire.SPAWN or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            return
        _, spawn_id, unit, env, tmpdir = message
        is_spare = unit is None
        try:
            pid = os.fork()
        except OSError as e:
            os.close(fds[0])
            reply = (wire.SPAWN_FAILED, spawn_id, is_spare, f'fork failed: {e}')
            wire.send_packet(self._control, reply)
            return
        if pid == 0:  # pragma: no cover - runs in the child
            self._become_worker(unit, env, tmpdir, fds[0])
        os.close(fds[0])
        self._children.add(pid)
        pidfd = os.pidfd_open(pid)
        try:
            wire.send_packet(self._control, (wire.SPAWNED, spawn_id, is_spare, pid), [pidfd])
        finally:
            os.close(pidfd)

    def _become_worker(  # pragma: no cover - runs in the child
        self, unit: str | None, env: dict[str, str], tmpdir: str, fd: int
    ) -> None:
        code = 0
        try:
            zygote = os.getppid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._control.close()
            set_parent_death_signal(zygote)
            worker.use_tmpdir(tmpdir)
            sock = socket.socket(fileno=fd)
            if unit is None:
                # A spare pays for its first hook (copy-on-write faults, cold caches) now,
                # before any unit waits on it. The charm's own hooks are enough: the
                # built-in charm's hooks before them gained no restart time and cost
                # ~8 ms of CPU per spare (measured), taken from the hooks running then.
                warm_charm(self._charm_type, self._source, self._juju_version)
                try:
                    wire.send(sock, (wire.READY,))
                    _, unit, env = wire.recv(sock)
                except (wire.ConnectionClosedError, ConnectionError):
                    return  # the parent is gone before it gave this spare a unit
            assert unit is not None  # noqa: S101 - assigned above
            worker.apply_env(env)
            runner = worker.Worker(
                self._charm_type, self._source, unit=unit, juju_version=self._juju_version
            )
            runner.serve(sock)
        except BaseException:  # a worker must never return into the zygote loop
            traceback.print_exc()
            code = 70
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _reap(self) -> None:
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._children.discard(pid)
            with contextlib.suppress(OSError):
                wire.send_packet(self._control, (wire.EXITED, pid, status))

    def _shutdown(self) -> None:
        for pid in self._children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in list(self._children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self._children.clear()
        self._control.close()


def main(argv: list[str] | None = None) -> int:
    """Start a zygote: load and warm the charm, report ready, serve until told to stop."""
    parser = argparse.ArgumentParser(prog='python -m jujusim.agent._private.zygote')
    parser.add_argument('--control-fd', type=int, required=True)
    parser.add_argument('--charm', required=True)
    parser.add_argument('--juju-version', required=True)
    parser.add_argument('--tmpdir', required=True)
    args = parser.parse_args(argv)
    control = socket.socket(fileno=args.control_fd)
    # No PR_SET_PDEATHSIG here: it fires when the parent *thread* that started us
    # ends, and the pool may live longer than that thread. The parent's death closes
    # the control socket, which ends serve() instead.
    worker.use_tmpdir(args.tmpdir)
    worker.quiet_http_loggers()
    worker.live_is_leader()
    worker.virtual_sleep()
    worker.isolate_from_cluster()
    speedups.install()
    try:
        source = charm_source.CharmSource.load(args.charm)
        charm_type = source.load_charm_class()
        warm_up(args.juju_version)
    except Exception:  # reported to the parent, which raises it
        with contextlib.suppress(OSError):  # unless the parent is gone already
            wire.send_packet(
                control, (wire.FAILED, traceback.format_exc()[-wire.SEQPACKET_MAX // 2 :])
            )
        return 1
    # Objects made so far move to a generation the collector never scans, so workers
    # do not copy every page on their first collection.
    gc.collect()
    gc.freeze()
    try:
        wire.send_packet(control, (wire.READY, os.getpid()))
    except OSError:  # the parent is gone already
        return 1
    Zygote(control, source, charm_type, args.juju_version).serve()
    return 0


if __name__ == '__main__':
    sys.exit(main())
