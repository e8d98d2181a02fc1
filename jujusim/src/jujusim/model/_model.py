"""The simulated Juju model: the public API a test or a scenario drives.

:class:`Model` wires the components, one per Juju or Kubernetes part, and delegates to
them:

- ``_world``: the controller's state (applications, units, relations), shared;
- ``_units``: each unit's local state; ``_resolver``: the uniter's choice of next hook;
- ``_hooks``: running a hook and committing its result, the only writer of a unit's state;
- ``_lease``, ``_leadership``: the lease, its renewals and claims, ``is-leader``;
- ``_databags``, ``_relations``: relation settings and the relation lifecycle;
- ``_provisioner``: the application provisioner (Juju's objects, rewrite, trust, RBAC);
- ``_pods``: pod events and the StatefulSet controller's pace;
- ``_faults``: the nemesis (kills, stalls, foreign writes, API errors);
- ``_timers``, ``_clock``, ``_scheduler``: what is due, and the one seeded decider;
- ``_gate``: units' API requests held for the scheduler; ``_kubectl``: the admin's tools;
- ``_trace``: structured events; ``_expectations``: the checker's bookkeeping.
"""

from __future__ import annotations

import os
import pathlib
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import lightkube

from ..agent import AgentPool, CharmSource, HookSpec
from ..check import LabelExpectation, check_app, rollout_pending
from ..kube import FakeKube, KubeServer, active_relay
from ._clock import VirtualClock, checked_seconds
from ._databags import Relation
from ._errors import LivelockError, ModelError
from ._expectations import Expectations
from ._faults import FaultPlan, Faults
from ._gate import Gate
from ._hooks import ActionOutcome, Hooks
from ._kubectl import Admin
from ._leadership import Leadership
from ._pods import Pods
from ._provisioner import Provisioner
from ._relations import Relations
from ._scheduler import MAX_STEPS, Scheduler
from ._snapshot import Snapshot
from ._snapshot import restore as _restore
from ._snapshot import take as _take
from ._timers import Timers
from ._trace import KINDS as TRACE_KINDS
from ._trace import Trace, TraceEvent
from ._units import Application, HookFailure, HookFailureKind, Unit, UnitStatus
from ._world import World

__all__ = [
    'DEFAULT_NAME',
    'TRACE_KINDS',
    'ActionOutcome',
    'FaultPlan',
    'HookFailure',
    'HookFailureKind',
    'LivelockError',
    'Model',
    'ModelError',
    'Snapshot',
    'UnitStatus',
]

DEFAULT_NAME = 'jujusim'
"""A model's name, and so its namespace, unless given."""
# The most units an application may have: every unit is a process here, so an absurd
# count would run for ever rather than fail.
MAX_UNITS = 20


class Model:
    """A Juju model on a fake Kubernetes API, whose units run real charm code in processes.

    Each unit is a worker process that runs its hooks through ``ops.testing`` and talks to
    the fake API over loopback HTTP with its own token. Every API request of every unit is
    held until the scheduler releases it; the scheduler picks among held requests, hooks
    ready to start and controller actions with a seeded random choice, so a seed replays a
    run exactly. Time is virtual: leases, retries and update-status follow :attr:`clock`.

    Args:
        name: the model's name, which is also its namespace.
        seed: the scheduler's seed.
        hook_timeout: wall-clock seconds before a hung hook is killed and failed.
        automatically_retry_hooks: the model setting of that name: retry failed hooks with
            backoff (Juju's default), or leave the unit in error.
    """

    def __init__(
        self,
        *,
        name: str = DEFAULT_NAME,
        seed: int = 0,
        hook_timeout: float = 60.0,
        automatically_retry_hooks: bool = True,
    ):
        self.name = name
        self.seed = seed
        self.clock = VirtualClock()
        self.rng = random.Random(seed)  # noqa: S311 - a schedule, not a secret
        self.kube = FakeKube(namespaces=(name,), seed=seed, graceful_pod_deletion=True)
        self._world = world = World(
            name=name,
            clock=self.clock,
            rng=self.rng,
            kube=self.kube,
            trace=Trace(self.clock),
            automatically_retry_hooks=automatically_retry_hooks,
        )
        self.apps: dict[str, Application] = world.apps
        self.relations: dict[int, Relation] = world.relations
        self._tmp = pathlib.Path(tempfile.mkdtemp(prefix='jujusim-model-'))
        self.pool = AgentPool(hook_timeout=hook_timeout, is_leader=self._is_leader_now)
        self._gate = Gate(self.kube, wake=self.pool.wake)
        self.server = KubeServer(self._gate.handle).start()
        self._admin = Admin(world, gate=self._gate, tmp=self._tmp)
        self._expectations = Expectations(world)
        self._relations = Relations(world)
        self._provisioner = Provisioner(
            world,
            gate=self._gate,
            server=self.server,
            on_rewrite=self._expectations.juju_rewrote,
        )
        self._hooks = Hooks(
            world,
            pool=self.pool,
            relations=self._relations,
            remove_pod=self._remove_pod,
            on_app_data=self._expectations.provider_published,
            on_dead=self._unit_dead,
        )
        self._faults = Faults(
            world, hooks=self._hooks, expectations=self._expectations, kubectl=self.kubectl
        )
        self._leadership = Leadership(
            world,
            running=self._hooks.running,
            stalled=self._faults.stalled,
            on_elected=self._expectations.leader_elected,
        )
        self._pods = Pods(
            world,
            pool=self.pool,
            hooks=self._hooks,
            leadership=self._leadership,
            new_agent=self._faults.new_agent,
        )
        self._faults.attach(self._pods)
        self._unsubscribe = (
            self.kube.observe(self._pods.on_kube_event),
            self.kube.observe(self._expectations.on_kube_event),
        )
        self._timers = Timers(
            world,
            hooks=self._hooks,
            leadership=self._leadership,
            pods=self._pods,
            faults=self._faults,
            provisioner=self._provisioner,
        )
        self._scheduler = Scheduler(
            world,
            pool=self.pool,
            gate=self._gate,
            hooks=self._hooks,
            pods=self._pods,
            faults=self._faults,
            timers=self._timers,
            leadership=self._leadership,
            provisioner=self._provisioner,
            expectations=self._expectations,
        )
        # `--kubeconfig` on the command line: a person's kubectl follows the newest model.
        self._relay = active_relay()
        if self._relay is not None:
            self._relay.admit(self.kube)
            self._relay.attach(self._gate.handle, label=f'model {name!r}, seed {seed}')
        self._closed = False
        self._origin = uuid.uuid4().hex

    # -- what a test reads ---------------------------------------------------------------

    @property
    def trace(self) -> list[str]:
        """The run as text lines, ``time  text``; one rendering of :attr:`events`."""
        return self._world.trace.lines

    @property
    def events(self) -> list[TraceEvent]:
        """The run as structured events (time, unit, kind, fields)."""
        return self._world.trace.events

    def subscribe(self, listener: Callable[[TraceEvent], None]) -> Callable[[], None]:
        """Call ``listener`` with each trace event as it happens; return the unsubscriber."""
        return self._world.trace.subscribe(listener)

    @property
    def actions(self) -> list[ActionOutcome]:
        """Every action that ran, in order."""
        return self._hooks.actions

    @property
    def foreign_template(self) -> dict[str, dict[str, str | None]]:
        """Per application, pod-template labels written by others (Juju included)."""
        return self._expectations.foreign_template

    @property
    def foreign_service(self) -> dict[str, dict[str, str | None]]:
        """Per Service, labels written by others (Juju included)."""
        return self._expectations.foreign_service

    @property
    def foreign_pods(self) -> dict[str, dict[str, str | None]]:
        """Per pod uid, labels written by others."""
        return self._expectations.foreign_pods

    @property
    def ever_desired(self) -> dict[str, set[str]]:
        """Per application, every label key its provider ever published."""
        return self._expectations.ever_desired

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Kill every unit, stop the server and remove temporary files."""
        if self._closed:
            return
        self._closed = True
        if self._relay is not None:
            self._relay.detach(self._gate.handle)
        for held in self._hooks.held.values():
            held.release('drop')
        self._hooks.held.clear()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.pool.close()
        self.server.stop(timeout=1.0)
        self._admin.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- snapshots ---------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The model's whole state as data, to :meth:`restore` later instead of redoing it.

        Everything a run depends on is in it: the controller's state (applications, units
        and what each has seen, relations and their data, leases), each component's
        bookkeeping (timers, faults planned, expectations, the trace), the virtual clock,
        the scheduler's random state, the fake API's store with its resourceVersion
        counter, watch history and request log, and each live worker's unit-local state
        (StoredState, deferred events). Take it when the model is quiescent (after
        :meth:`settle`).

        Raises:
            ModelError: a hook runs or a request waits at the gate.
        """
        self._check_quiescent('take a snapshot')
        return _take(self._origin, self._parts(), self.pool)

    def restore(self, snapshot: Snapshot, *, seed: int | None = None) -> None:
        """Put the model back into the state ``snapshot`` holds, whatever it did since.

        Each unit that had a worker gets one given only the unit-local state the snapshot
        holds, as a unit's agent keeps it between hooks: its idle worker if it has one
        whose charm keeps nothing in memory (``AgentPool.set_aside``), else a fresh
        process (a warmed spare); every other worker is killed. Going on from here gives
        the same run, event for event, as going on from the moment the snapshot was
        taken. The zygotes, servers and temp files stay.

        Args:
            snapshot: what :meth:`snapshot` returned, on this model.
            seed: also seed everything a new model seeds (the scheduler, the fake API's
                generated names and uids) as ``Model(seed=seed)`` does: with a snapshot
                taken before anything ran, the model is then as a new one.

        Raises:
            ModelError: ``snapshot`` was taken by another model.
        """
        if self._closed:
            raise ModelError('the model is closed')
        if snapshot.origin != self._origin:
            raise ModelError('a snapshot can only restore the model that took it')
        busy = bool(self._hooks.running or self._hooks.held)
        # First: a worker whose request is dropped may send another. An idle one is kept
        # for its unit (AgentPool.forget_units): a fork and a process's end saved.
        self.pool.forget_units(keep_idle=True)
        for held in self._hooks.held.values():
            held.release('drop')
        if busy:
            self._drop_requests_of_killed_workers()
        for held in self._gate.arrived():
            held.release('drop')
        _restore(snapshot, self._parts())
        # The admin's and a person's kubectl relay's tokens are theirs, not the model's.
        self._admin.register_again()
        if self._relay is not None:
            self._relay.admit(self.kube)
            # Attached again: a person's open watch starts over on the restored store.
            self._relay.attach(self._gate.handle, label=f'model {self.name!r}, restored')
        for app in self.pool.apps:
            if app not in self._world.apps:
                self.pool.remove_app(app)
        for app in self._world.apps.values():
            if app.name not in self.pool.apps:
                self.pool.add_app(app.name, app.charm)
        for unit, (env, local) in snapshot.workers.items():
            self.pool.spawn(unit, env=env, local=local)
        self.pool.retire_kept()
        if seed is not None:
            self.reseed(seed)
            self.kube.store.reseed(seed)

    def _drop_requests_of_killed_workers(self, timeout: float = 0.5) -> None:
        """Drop what killed workers still had on its way, until their connections close.

        A unit's token stays the same across a restore, so a request a killed worker sent
        just before its end would otherwise pass for its new worker's. Bounded: someone
        else (kubectl) may keep a connection open.
        """
        deadline = time.monotonic() + timeout
        while self.server.connections_open and time.monotonic() < deadline:
            for held in self._gate.arrived():
                held.release('drop')
            time.sleep(0.002)

    def reseed(self, seed: int) -> None:
        """Seed the scheduler's decisions afresh from here on (the model's state stays)."""
        self.seed = seed
        self.rng.seed(seed)

    def _check_quiescent(self, what: str) -> None:
        if self._hooks.running or self._hooks.held:
            busy = sorted({*self._hooks.running, *self._hooks.held})
            raise ModelError(f'cannot {what}: {", ".join(busy)} busy; settle() first')

    def _parts(self) -> dict[str, object]:
        """Every object that holds the model's state, by the names _snapshot uses."""
        kube = self.kube
        return {
            'model': self,
            'world': self._world,
            'clock': self.clock,
            'trace': self._world.trace,
            'kube': kube,
            'store': kube.store,
            'watches': kube.watches,
            'log': kube.log,
            'kube_faults': kube.faults,
            'controller': kube.controller,
            'gate': self._gate,
            'expectations': self._expectations,
            'relations': self._relations,
            'provisioner': self._provisioner,
            'hooks': self._hooks,
            'faults': self._faults,
            'leadership': self._leadership,
            'pods': self._pods,
            'timers': self._timers,
            'scheduler': self._scheduler,
            'pool': self.pool,
            'server': self.server,
            'admin': self._admin,
        }

    # -- deploying ---------------------------------------------------------------------

    def deploy(
        self,
        charm: str | os.PathLike[str],
        *,
        app: str | None = None,
        units: int = 1,
        config: Mapping[str, Any] | None = None,
        trust: bool = False,
    ) -> None:
        """Deploy a charm from its source folder, as Juju on Kubernetes does.

        Juju creates the StatefulSet and Service with its own labels (docs/design-notes.md,
        "The objects Juju creates"); the StatefulSet controller then creates the pods, and each
        pod's unit starts running hooks.
        """
        source = CharmSource.load(pathlib.Path(charm))
        name = app or source.name
        _unit_count(f'cannot deploy {name}', units, least=1)
        if name in self.apps:
            raise ModelError(f'application {name!r} is already deployed')
        problems = source.settings_problems(config or {})
        if problems:
            raise ModelError(f'cannot deploy {name}: ' + '; '.join(problems))
        self.pool.add_app(name, source)
        directory = self._tmp / name
        directory.mkdir(exist_ok=True)  # a model restored to before a deploy has it
        application = Application(
            name=name,
            charm=source,
            scale=units,
            config={k: v for k, v in (config or {}).items() if v is not None},
            trusted=trust,
            kubeconfig_dir=str(directory),
        )
        self.apps[name] = application
        self._provisioner.add_app(application)
        self._relations.add_peers(name, source)
        self._provisioner.create_objects(application)
        self._expectations.juju_labels(name)
        self._world.trace.record(
            'operator',
            f'deploy {name} ({units} units, trust={trust})',
            command='deploy',
            app=name,
        )

    # -- the operator's commands --------------------------------------------------------

    def integrate(self, one: str, other: str) -> int:
        """Relate ``app[:endpoint]`` to ``app[:endpoint]``; return the relation id."""
        return self._relations.integrate(one, other)

    def remove_relation(self, relation_id: int) -> None:
        """Remove a relation: each unit runs departed per remote unit, then broken."""
        self._relations.remove(relation_id)

    def config(self, app: str, **values: Any) -> None:
        """``juju config APP key=value ...``; a value of None resets the key."""
        application = self._world.app(app)
        problems = application.charm.settings_problems(values)
        if problems:
            raise ModelError(f'cannot configure {app}: ' + '; '.join(problems))
        new = dict(application.config)
        for key, value in values.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        if new != application.config:
            application.config = new
            application.config_version += 1
        self._world.trace.record(
            'operator', f'config {app} {values}', command='config', app=app, values=dict(values)
        )

    def trust(self, app: str, trusted: bool = True) -> None:
        """``juju trust APP --scope=cluster`` (or ``--remove``).

        Juju re-ensures the StatefulSet on a trust change (worker/
        caasapplicationprovisioner/ops.go): see :meth:`juju_rewrite_statefulset`.
        """
        self._provisioner.set_trust(self._world.app(app), trusted)

    def run_action(self, unit: str, action: str, **params: Any) -> None:
        """Queue an action on a unit; its outcome lands in :attr:`actions` once it ran.

        Raises:
            ModelError: the charm has no such action, or Juju would refuse the parameters
                (``juju run`` refuses them before any unit runs anything).
        """
        target = self._world.unit(unit)
        problems = self._world.app(target.app).charm.action_problems(action, params)
        if problems:
            raise ModelError(f'cannot run {action} on {unit}: ' + '; '.join(problems))
        target.actions.append(HookSpec(kind='action', action=action, params=params))
        self._world.trace.record(
            'operator',
            f'run {unit} {action} {params}',
            unit=unit,
            command='run',
            action=action,
            params=dict(params),
        )

    def run_action_to_end(
        self,
        unit: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        max_steps: int = MAX_STEPS,
    ) -> ActionOutcome:
        """``juju run UNIT ACTION``: queue the action and run the model until it has ended.

        ``juju run`` waits for the task's result unless given ``--background`` (juju
        cmd/juju/action/run.go), so what comes after it meets what the action did.

        Raises:
            ModelError: the model settled before the action ran.
        """
        ran = len(self._hooks.actions)

        def outcome() -> ActionOutcome | None:
            mine = (a for a in self._hooks.actions[ran:] if (a.unit, a.action) == (unit, action))
            return next(mine, None)

        self.run_action(unit, action, **(params or {}))
        self._scheduler.run_until(
            lambda: outcome() is not None, what=f'{action} on {unit}', max_steps=max_steps
        )
        ended = outcome()
        assert ended is not None  # noqa: S101 - run_until returned: it has
        return ended

    def scale(self, app: str, units: int) -> None:
        """``juju scale-application APP N``: the StatefulSet's replicas, Juju's way.

        Scaling up adds units ``app/N`` for the new ordinals; the StatefulSet creates their
        pods. Scaling down marks the highest ordinals Dying: each runs relation-departed for
        every member and relation-broken (the others see it depart), then stop and remove,
        and is Dead; once all are Dead, Juju lowers the StatefulSet's replicas and their
        pods are deleted (juju worker/caasapplicationprovisioner/ops.go ``ensureScale``,
        ``reconcileDeadUnitScale``; the provider's ``UnitsToRemove`` takes the highest
        ordinals). A leader among them resigns and stops renewing; another unit is elected
        when its lease runs out.
        """
        application = self._world.app(app)
        _unit_count(f'cannot scale {app}', units, least=0)
        current = application.scale
        self._world.trace.record(
            'operator', f'scale {app} {current} -> {units}', command='scale', app=app
        )
        if units > current:
            for ordinal in range(current, units):
                name = f'{app}/{ordinal}'
                if name in application.units:
                    raise ModelError(f'{name} is still being removed: settle() before scaling up')
            application.scale = units
            for ordinal in range(current, units):
                self._provisioner.add_unit(application, ordinal)
            self._provisioner.scale(application, units)
        elif units < current:
            application.scale = units
            for unit in application.units.values():
                if unit.ordinal >= units and not unit.dying:
                    unit.dying = True
                    self._world.trace.record('unit-dying', f'{unit.name} is dying', unit=unit.name)
            self._provisioner.reconcile_dead_units(application)

    def remove_unit(self, unit: str) -> None:
        """``juju remove-unit``, as Juju does it on Kubernetes.

        Juju refuses to remove a named unit of a Kubernetes application ("k8s models do not
        support removing named units"); ``juju remove-unit APP --num-units 1`` scales the
        application down by one, which removes its highest ordinal (juju
        cmd/juju/application/removeunit.go ``validateCAASRemoval``, ``removeCaasUnits``).
        So ``unit`` is an application name here; a unit name is refused the same way.

        Raises:
            ModelError: ``unit`` names a unit, or no such application.
        """
        if '/' in unit:
            app = unit.partition('/')[0]
            raise ModelError(
                f'cannot remove {unit}: Kubernetes models do not support removing named '
                f'units; remove_unit({app!r}) removes the highest ordinal, as '
                f'`juju remove-unit {app} --num-units 1` does, or use scale({app!r}, n)'
            )
        application = self._world.app(unit)
        if application.scale == 0:
            raise ModelError(f'{unit} has no units to remove')
        self.scale(unit, application.scale - 1)

    def refresh(self, app: str) -> None:
        """``juju refresh APP``: a new charm revision (the same charm code here).

        The charm-modified-version goes up; Juju's provisioner re-ensures the StatefulSet,
        whose pod template carries it (application.go ``Ensure``: the template's annotations
        and the charm-init container), so every pod rolls, highest ordinal first, gracefully;
        each new pod's uniter runs upgrade-charm first (resolver.go ``charmModified``).
        """
        application = self._world.app(app)
        application.charm_modified_version += 1
        self._world.trace.record(
            'operator',
            f'refresh {app} (charm-modified-version {application.charm_modified_version})',
            command='refresh',
            app=app,
        )
        self._provisioner.rewrite_statefulset(app)

    def remove_application(self, app: str, *, max_steps: int = MAX_STEPS) -> None:
        """``juju remove-application``: relations go first, then the app's Kubernetes objects.

        Its units run departed and broken for each relation; Juju then deletes the
        StatefulSet and Service, and Kubernetes' garbage collector deletes what they own
        (https://kubernetes.io/docs/concepts/architecture/garbage-collection/).
        """
        application = self._world.app(app)
        application.dying = True
        for relation in list(self.relations.values()):
            if app in relation.endpoints and relation.other_app(app) != app:
                relation.removed = True
        self._world.trace.record(
            'operator', f'remove-application {app}', command='remove-application', app=app
        )
        self.settle(max_steps=max_steps)
        for unit in application.units.values():
            self._hooks.kill(unit)
        self._provisioner.delete_objects(app)
        self._pods.process_events()
        del self.apps[app]
        for relation_id, relation in list(self.relations.items()):
            if app in relation.endpoints:
                del self.relations[relation_id]
        self.settle(max_steps=max_steps)

    def leftover_configmaps(self, app: str) -> list[str]:
        """ConfigMaps that name ``app`` (a label ledger, the upstream library's record)."""
        return sorted(
            str(cm['metadata']['name'])
            for cm in self.kube.objects('ConfigMap', self.name)
            if app in str(cm['metadata']['name'])
        )

    def units(self) -> Iterator[Unit]:
        """Every unit of every application, by name."""
        return self._world.units()

    def leader(self, app: str) -> str | None:
        """The unit holding ``app``'s leadership lease now, if any."""
        return self._leadership.leader(self._world.app(app))

    def unit_status(self, unit: str) -> UnitStatus:
        """``unit``'s agent and workload status and its last hook's outcome, read-only."""
        return self._hooks.status(self._world.unit(unit))

    def failed_hooks(self, app: str | None = None) -> list[HookFailure]:
        """Every hook that failed during the run (of ``app``'s units if given), in order.

        A unit that reached the right labels only through failed hooks and Juju's retries
        shows here, though :meth:`check` passes it. Each says what made it fail
        (:attr:`HookFailure.kind`): the charm, or Juju whatever the charm's code.
        """
        if app is not None:
            self._world.app(app)
        return [f for f in self._hooks.failures if app is None or f.unit.partition('/')[0] == app]

    def stale_writes(self, app: str) -> list[str]:
        """Every stale write of ``app``'s units so far, in order, as :meth:`check` reports it.

        A write that landed on an object after a unit elected leader later than the writer
        had written it: whether or not a check reported it.
        """
        self._world.app(app)
        return list(self._expectations.stale.get(app, []))

    def force_leader_change(
        self, app: str, *, to: str | None = None, max_steps: int = MAX_STEPS
    ) -> str:
        """Move ``app``'s leadership to another unit, as Juju does; return the new leader.

        The leader's agent stops renewing the lease (its hooks go on, acting as leader
        until ops re-asks ``is-leader``, which answers False once 30 s or less of the
        lease are left: ``Lease.answers_leader``); the model runs until the lease expires and
        another unit's claim lands: ``to``'s, or one the scheduler picks. Returns at the
        claim, before the new leader's leader-elected hook: call
        ``run_until('before-first-hook', unit=...)`` or :meth:`settle` next.

        Raises:
            ModelError: ``app`` has no leader, no other live unit, or ``to`` is not one.
        """
        application = self._world.app(app)
        old = self._leadership.force_change(application, to)
        try:
            self._scheduler.run_until(
                lambda: self._leadership.leader(application) not in (None, old),
                what=f'a new leader of {app}',
                max_steps=max_steps,
            )
        except (ModelError, LivelockError):
            self._leadership.end_forced_change(application)  # the old leader may claim again
            raise
        new = self._leadership.leader(application)
        assert new is not None  # noqa: S101 - run_until returned on it
        return new

    # -- faults --------------------------------------------------------------------------

    def delete_pod(self, unit: str, *, graceful: bool = True) -> None:
        """Delete the unit's pod; the StatefulSet controller recreates it.

        Graceful: the hook in flight may finish and ``stop`` runs, within the grace period
        (docs/design-notes.md, "Pod restarts"); otherwise the process dies at once (SIGKILL).
        """
        self._pods.delete(unit, graceful=graceful)

    def kill_at_request(
        self,
        unit: str,
        *,
        method: str | None = None,
        kind: str | None = None,
        applied: bool,
        nth: int = 1,
    ) -> FaultPlan:
        """SIGKILL ``unit`` at its ``nth`` upcoming API request matching ``method`` and ``kind``.

        ``method`` is an HTTP method (``'PATCH'``), ``kind`` a served resource kind
        (``'StatefulSet'``, ``'ConfigMap'``, ``'Pod'``, ``'Service'``); None matches any.
        Requests are counted from now, across hooks. With ``applied`` the request reaches
        the API and its response is lost; without, it never reaches it. The pod goes with
        the process, as a crashed charm container whose pod is then replaced.
        """
        return self._faults.plan_at_request(
            unit, 'kill', method=method, kind=kind, nth=nth, applied=applied
        )

    def kill_before_hook(self, unit: str, hook: str) -> FaultPlan:
        """SIGKILL ``unit`` as its next hook of kind ``hook`` (``'relation_broken'``) starts.

        Its pod is deleted at once between two hooks, as ``kubectl delete pod --force`` does:
        the hook does not start; the new pod's agent chooses its next hook again, without
        the unit's local state (StoredState). E.g. a unit being removed, between its
        relation-departed and its relation-broken.

        Raises:
            ModelError: no such unit.
            ValueError: ``hook`` is not a hook kind.
        """
        return self._faults.plan_before_hook(unit, hook)

    def stall_at_request(
        self,
        unit: str,
        seconds: float,
        *,
        method: str | None = None,
        kind: str | None = None,
        nth: int = 1,
    ) -> FaultPlan:
        """Stall ``unit``'s agent for ``seconds`` just before its ``nth`` matching request.

        Matching as :meth:`kill_at_request`. The agent stops renewing its lease and the
        request waits out the stall unapplied, then goes on as if nothing happened: the
        stale-leader case when the lease ran out meanwhile.
        """
        return self._faults.plan_at_request(
            unit, 'stall', method=method, kind=kind, nth=nth, seconds=seconds
        )

    def pending_faults(self) -> list[FaultPlan]:
        """Kill and stall plans that have neither fired nor been cancelled, oldest first."""
        return self._faults.pending()

    def run_until_faults_fired(self, app: str, *, max_steps: int = MAX_STEPS) -> None:
        """Run as :meth:`settle` does until each kill and stall armed at ``app``'s units fired.

        It stops at the decision that fired the last of them: a stalled unit holds its
        request, unapplied, and the clock has not moved past the stall, so what the caller
        does next happens while it waits.

        Raises:
            ModelError: the model settled first (a plan's request never came), or there
                was no plan to wait for.
            LivelockError: none of that within ``max_steps`` decisions.
        """
        self._world.app(app)
        plans = [p for p in self._faults.pending() if p.unit.partition('/')[0] == app]
        if not plans:
            raise ModelError(f'no kill or stall of a unit of {app} is waiting to fire')
        self._scheduler.run_until(
            lambda: not any(p.pending for p in plans),
            what=' and '.join(p.describe() for p in plans if p.pending),
            max_steps=max_steps,
        )

    def kill_at_call(self, unit: str, call: int, *, applied: bool) -> FaultPlan:
        """SIGKILL the unit's process at its ``call``-th API call of its current or next hook.

        As :meth:`kill_at_request`, but counted within a hook; it replaces an unfired
        ``kill_at_call`` of the same unit.
        """
        return self._faults.plan_at_call(unit, 'kill', call, applied=applied)

    def kill_pending(self, unit: str) -> bool:
        """Whether a kill planned for ``unit`` has not fired yet."""
        return bool(self._faults.pending(unit, 'kill'))

    def stall_at_call(self, unit: str, call: int, seconds: float) -> FaultPlan:
        """Stall the unit's agent for ``seconds`` just before its ``call``-th API call.

        As :meth:`stall_at_request`, but counted within the current or next hook; it
        replaces an unfired ``stall_at_call`` of the same unit.
        """
        return self._faults.plan_at_call(unit, 'stall', call, seconds=seconds)

    def stall_pending(self, unit: str) -> bool:
        """Whether a stall planned for ``unit`` has not fired yet."""
        return bool(self._faults.pending(unit, 'stall'))

    def stall(self, unit: str, seconds: float) -> None:
        """Stall the unit's agent: no lease renewal, no request released, no hook started.

        The hook in flight keeps acting as leader when it resumes: the stale-leader case
        (https://juju.is/docs/sdk/leader-elected-event).
        """
        self._faults.stall(unit, seconds)

    def juju_rewrite_statefulset(self, app: str, *, stall_after_get: float = 0.0) -> None:
        """Juju re-ensures the StatefulSet, as on refresh, trust or a controller restart.

        Queued for the scheduler: a GET, then a strategic-merge PATCH of Juju's annotations
        and pod template carrying the GET's resourceVersion, each a step that units'
        requests interleave with. A write in between makes the PATCH a 409; Juju's
        application worker then restarts 3 virtual seconds later and ensures again. Foreign
        label keys survive; Juju's own template keys are reset
        (caas/kubernetes/provider/resources/statefulset.go ``Apply``). ``stall_after_get``
        holds the PATCH that many virtual seconds after the GET (a slow controller).
        """
        if stall_after_get:
            stall_after_get = checked_seconds(
                f'cannot stall the rewrite of {app}', stall_after_get
            )
        self._provisioner.rewrite_statefulset(app, stall_after_get=stall_after_get)

    def write_labels(
        self,
        kind: str,
        name: str,
        labels: Mapping[str, str | None],
        *,
        caller: str = 'kubectl',
        via_kubectl: bool = False,
    ) -> None:
        """Write labels on an object as someone else; a value of None removes the key.

        ``kind`` is any served kind (``Pod``, ``Service``, ``StatefulSet`` for its own
        metadata, ``ConfigMap``, ``Namespace``) or ``StatefulSet.template`` (the pod
        template). With ``via_kubectl`` the real ``kubectl`` does it through the served
        API (``label``, or a merge ``patch`` for the template); otherwise the write goes
        in as field manager ``caller``. Either way the model records it as a foreign
        label that R4 protects.

        Raises:
            ModelError: an unknown kind, no such object, or labels the API refuses.
        """
        self._faults.write_labels(kind, name, labels, caller=caller, via_kubectl=via_kubectl)

    def leave_upstream_configmap(self, app: str, labels: Mapping[str, str]) -> str:
        """Leave ``app`` as the upstream service-mesh library left it; return the ConfigMap.

        As if the charm switched from that library: ConfigMap
        ``juju-service-mesh-<app>-labels`` (``data.labels`` the JSON object of the keys it
        applied, no ownerReference) and those labels on the pod template and the
        Service. They are the charm's own, not foreign: a consumer that takes over must
        remove them unless desired, or :meth:`check` reports them.
        """
        return self._faults.leave_upstream_configmap(app, labels)

    def inject_api_error(
        self,
        status: int,
        *,
        unit: str | None = None,
        verb: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` matching API requests with ``status``, unapplied."""
        self._faults.inject_api_error(
            status, unit=unit, verb=verb, kind=kind, name=name, count=count
        )

    def api_outage(self, seconds: float, *, status: int = 503) -> None:
        """Answer every unit's API request with ``status`` (503 or 500) for ``seconds``.

        Unapplied, for that much virtual time from now: longer than a charm's retries, its
        hook fails (:attr:`HookFailureKind.API_OUTAGE`, which no verdict counts against the
        charm) and Juju retries it after the outage. Juju's own and the test's requests go
        through.
        """
        self._faults.outage(seconds, status)

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real ``kubectl`` against the served fake API, as a cluster admin.

        kubectl sends a kubeconfig's token only over TLS (client-go ``client_config.go``),
        so it gets a TLS server of its own beside the units' plain-HTTP one.
        """
        result = self._admin.kubectl(*args)
        self._pods.process_events()
        return result

    # -- checks ---------------------------------------------------------------------------

    def desired_labels(self, app: str) -> dict[str, str] | None:
        """The labels ``app``'s provider publishes on its service-mesh relation.

        Empty with no relation; None when a consumer must refuse the data (then
        :meth:`expectation` says why, in ``blocked``).
        """
        return self._expectations.desired_labels(app)

    def expectation(self, app: str) -> LabelExpectation:
        """What R1-R4 require of ``app``'s objects now (see :mod:`jujusim.check`)."""
        return self._expectations.expectation(app)

    def check(
        self, app: str, *, hooks_must_not_fail: bool = False, stale_writes: bool = True
    ) -> list[str]:
        """Every broken invariant of ``app`` at quiescence, as readable lines; empty if none.

        R1-R4 are read through lightkube (the checker also runs on a real cluster); units
        in error or hung in a hook, an unfinished rollout and a livelock are failures
        too. When the provider's data must be refused, the leader must be Blocked and the
        labels those of the last data the consumer could accept; once the data is fixed,
        no unit may show the Blocked status the leader showed for it. While ``app`` is
        not trusted (:meth:`trust`), its labels are not judged (Juju's Role for it refuses
        what a consumer writes them with), but its leader must be Blocked naming
        ``juju trust`` (``Expectations.judge_untrusted``). With
        ``hooks_must_not_fail``, every hook of ``app`` that failed during the run is a
        problem too (see
        :meth:`failed_hooks`): right labels reached only through Juju's retries; except
        the failures Juju imposes whatever the charm's code does
        (:attr:`HookFailureKind.imposed_by_juju`: a commit refused because its unit was no
        longer leader), which no charm can avoid. Between two checks, too: a label that a
        write of ``app``'s own units took off its pod template, Service or a live Pod,
        while the data stayed as the last passing check or settle point found it (R1-R3
        between settle points: :meth:`settle`), is a problem at the next check; so is
        a write of ``app``'s units landing on an object after a unit elected later had
        written it (a stale write: see
        ``Expectations.landed``); unless ``stale_writes`` is False, when they are only
        recorded (:meth:`stale_writes`).
        """
        # Labels a write of its own took off since the last check, though its data had not
        # changed since: between two settle points (Expectations.after_write).
        problems = self._expectations.take_taken_off(app)
        stale = self._expectations.take_stale(app)  # taken either way: reported once
        if stale_writes:
            problems.extend(stale)
        for unit in self._world.app(app).units.values():
            if unit.failure is not None:
                problems.append(
                    f'{unit.name} is in error: {unit.failure.message.splitlines()[-1:]}'
                )
            if unit.hung:
                problems.append(
                    f"{unit.name} is hung in {unit.hung}: it ran past the harness's limit, "
                    'and Juju would wait for it for ever'
                )
        client = self.admin_client()
        pending = rollout_pending(client, self.name, app)
        if pending is not None:
            problems.append(f'StatefulSet {app}: {pending}')
        expectation = self.expectation(app)
        leader = self.leader(app)
        statuses: dict[str, tuple[str, str]] = {}
        for name in sorted(self._world.app(app).units):
            status = self.unit_status(name)
            statuses[name] = (status.workload, status.message)
        shown = statuses.pop(leader, None) if leader else None
        if shown is not None and shown[0] == 'blocked':
            # Blocked as its record was tampered with: right to stop writing.
            expectation = self._expectations.stopped_writing(app, expectation)
        trusted = self._world.app(app).trusted
        if trusted:
            problems.extend(
                self._expectations.judge_status(app, expectation.blocked, shown, statuses)
            )
            problems.extend(str(v) for v in check_app(client, expectation))
        else:
            leader_unit = self._world.find_unit(leader) if leader else None
            in_error = leader_unit is not None and leader_unit.failure is not None
            problems.extend(
                self._expectations.judge_untrusted(
                    app, expectation.blocked, shown, leader_in_error=in_error
                )
            )
        if hooks_must_not_fail:
            problems.extend(
                f.describe() for f in self.failed_hooks(app) if not f.kind.imposed_by_juju
            )
        if not problems and trusted:
            self._expectations.settled_right(app, expectation.desired)
        return problems

    def admin_client(self) -> lightkube.Client:
        """A lightkube client with admin rights over the in-process transport."""
        return self._admin.client()

    # -- the clock and the scheduler -------------------------------------------------------

    def advance(self, seconds: float, *, max_steps: int = MAX_STEPS) -> None:
        """Let ``seconds`` of virtual time pass, running everything due on the way."""
        seconds = checked_seconds('cannot advance', seconds, zero=True)
        self._scheduler.advance(seconds, max_steps=max_steps)

    def settle(self, *, max_steps: int = MAX_STEPS) -> int:
        """Run until quiescent: nothing running, held, startable or due; return the steps.

        Virtual time moves on only to what must happen for the model to settle: hook
        retries (Juju's backoff, for up to 600 virtual seconds from the call, so a cause
        removed before the call is retried away), lease expiry of a dead leader, the end of
        a stall, pods becoming Ready, grace periods; not to update-status.

        A settle point is judged as a passing check is, for the labels right there: each
        label the data asks for that every object of a consumer carries must stay while
        the data stays, and the next :meth:`check` reports a write of its units that
        took one off, even if a later hook put it back.

        Raises:
            LivelockError: still busy after ``max_steps`` decisions, or 600 virtual
                seconds past the retries it runs and any stall (a charm that never
                settles, e.g. one fighting the StatefulSet controller: its pods restart
                for ever).
        """
        steps = self._scheduler.settle(max_steps=max_steps)
        for app in sorted(self._world.apps):
            self._expectations.settle_point(app)
        return steps

    def step(self) -> bool:
        """Make one scheduling decision; False when there is nothing to decide."""
        return self._scheduler.step()

    def run_until(
        self,
        moment: str,
        *,
        unit: str | None = None,
        app: str | None = None,
        max_steps: int = MAX_STEPS,
    ) -> TraceEvent | None:
        """Run as :meth:`settle` does until ``moment`` comes, and stop there.

        ``moment`` is ``'before-first-hook'`` (``unit`` required): the unit's next hook
        is ready to start and has not started, e.g. a new leader's leader-elected; or any
        trace event kind (:data:`TRACE_KINDS`), the moment right after the first such
        event from now, of ``unit`` and ``app`` when given. Among them:
        ``'lease-expired'`` (a leader's lease ran out unrenewed: unit is the old
        leader; no claim has landed yet), ``'leader-elected'`` (a claim landed: unit is
        the new leader), ``'hook-start'``, ``'hook-done'``, ``'hook-failed'``,
        ``'pod-started'``, ``'request'``. Returns that event (None for
        ``before-first-hook``).

        Raises:
            ValueError: an unknown moment, or ``before-first-hook`` without a unit.
            ModelError: the model settled before the moment came.
            LivelockError: it did not come within ``max_steps`` decisions.
        """
        if moment == 'before-first-hook':
            if unit is None:
                raise ValueError("'before-first-hook' needs a unit")
            self._world.unit(unit)
            self._scheduler.run_until(
                lambda: False,
                what=f'a hook of {unit}',
                before_hook_of=unit,
                max_steps=max_steps,
            )
            return None
        if moment not in TRACE_KINDS:
            known = ', '.join(['before-first-hook', *sorted(TRACE_KINDS)])
            raise ValueError(f'unknown moment {moment!r}; known: {known}')
        if unit is not None:
            self._world.unit(unit)
        if app is not None:
            self._world.app(app)
        seen: list[TraceEvent] = []

        def watch(event: TraceEvent) -> None:
            if (
                not seen
                and event.kind == moment
                and (unit is None or event.unit == unit)
                and (
                    app is None
                    or event.fields.get('app', (event.unit or '/').partition('/')[0]) == app
                )
            ):
                seen.append(event)

        stop = self._world.trace.subscribe(watch)
        try:
            what = moment + (f' of {unit}' if unit else '') + (f' in {app}' if app else '')
            self._scheduler.run_until(lambda: bool(seen), what=what, max_steps=max_steps)
        finally:
            stop()
        return seen[0]

    # The pool and the hooks are built before the components they call back into.

    def _is_leader_now(self, unit: str) -> bool:
        return self._leadership.is_leader_now(unit)

    def _remove_pod(self, unit: Unit) -> None:
        self._pods.remove(unit)

    def _unit_dead(self, unit: Unit) -> None:
        self._provisioner.reconcile_dead_units(self._world.apps[unit.app])


def _unit_count(what: str, units: int, *, least: int) -> int:
    """``units`` if it is a unit count the model can run, or a :class:`ModelError`."""
    if (
        isinstance(units, bool)
        or not isinstance(units, int)  # pyright: ignore[reportUnnecessaryIsInstance]
        or not least <= units <= MAX_UNITS
    ):
        raise ModelError(
            f'{what}: {units!r} is not a whole number of units from {least} to {MAX_UNITS} '
            '(each unit is a process here)'
        )
    return units
