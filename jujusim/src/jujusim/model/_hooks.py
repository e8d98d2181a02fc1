"""Running a hook and committing its outcome: the only writer of a unit's state.

Juju's uniter runs one hook at a time per unit and, when it succeeds, commits its relation
settings, status and the unit's local state at once (juju/juju
``internal/worker/uniter/operation/runhook.go``, ``worker/uniter/runner/context/
context.go``); a failed hook commits nothing and leaves the unit in error until a retry
succeeds. Here the hook runs in the unit's worker process through ``ops.testing``; this
module builds the state it starts from, sends it, and takes the result back.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import ops.testing

from ..agent import AgentPool, HookDone, HookResult, HookSpec, WorkerGone
from ._gate import HeldRequest
from ._relations import Relations
from ._resolver import next_hook
from ._units import (
    RETRY_FIRST,
    RETRY_JITTER,
    RETRY_MAX,
    UPDATE_STATUS_INTERVAL,
    UPDATE_STATUS_SPREAD,
    Failure,
    HookFailure,
    HookFailureKind,
    Unit,
    UnitRelation,
    UnitStatus,
)
from ._world import World


@dataclasses.dataclass(frozen=True, kw_only=True)
class ActionOutcome:
    """How an action ended."""

    unit: str
    action: str
    params: Mapping[str, Any]
    results: Mapping[str, Any] | None
    failure: str | None  # the message the charm passed to event.fail
    error: str | None  # the charm raised


@dataclasses.dataclass
class Running:
    """A hook in flight on one unit."""

    spec: HookSpec
    hook_id: int
    calls: int = 0  # API requests the hook has made so far
    seen: dict[str, int] = dataclasses.field(default_factory=dict[str, int])
    config_version: int = 0
    started_at: float = 0.0
    leader: bool = False  # what ops last learnt from is-leader in this hook
    leader_checked_at: float = 0.0
    shutdown: bool = False  # the stop hook of a terminating pod's agent
    minion: bool = False  # Juju answered is-leader False in this hook: False from now on
    # The application databags the hook was given, by relation id: what it wrote differs.
    app_data_in: dict[int, dict[str, str]] = dataclasses.field(
        default_factory=dict[int, dict[str, str]]
    )
    api_errors: list[str] = dataclasses.field(default_factory=list[str])  # 'METHOD path -> N'
    # Whether an API outage (Faults.outage) answered the hook's latest request.
    outage_answered: bool = False


# What the worker's HookError kinds mean for the unit (agent HookError.kind).
_KIND_OF_ERROR = {
    'charm': HookFailureKind.CHARM_RAISED,
    'timeout': HookFailureKind.TIMED_OUT,
    'inconsistent': HookFailureKind.INCONSISTENT,
    'internal': HookFailureKind.WORKER_ERROR,
}


class Hooks:
    """The units' agents: which hook runs, with what state, and what its result commits.

    Args:
        world: the controller's state.
        pool: the worker processes.
        relations: the relation lifecycle (a relation goes once every unit ran broken).
        remove_pod: deletes a unit's pod (after ``stop``, or when its worker died).
        on_app_data: told of each committed application databag, for the checker.
    """

    def __init__(
        self,
        world: World,
        *,
        pool: AgentPool,
        relations: Relations,
        remove_pod: Callable[[Unit], None],
        on_app_data: Callable[[str, str, Mapping[str, str], int], None],
        on_dead: Callable[[Unit], None],
    ):
        self._world = world
        self._pool = pool
        self._relations = relations
        self._remove_pod = remove_pod
        self._on_app_data = on_app_data
        self._on_dead = on_dead
        self.running: dict[str, Running] = {}
        self.held: dict[str, HeldRequest] = {}  # each running hook's request at the gate
        self._killed: set[tuple[str, int]] = set()  # (unit, pid) killed, not yet reported
        self.actions: list[ActionOutcome] = []
        self.failures: list[HookFailure] = []  # every failed hook, in order

    def wakes(self) -> list[float]:
        """When the hooks sleeping now (their ``time.sleep``, held at the gate) wake."""
        return [held.wake_at for held in self.held.values() if held.wake_at is not None]

    # -- choosing and starting ---------------------------------------------------------

    def next_hook(self, unit: Unit) -> HookSpec | None:
        """The hook ``unit``'s uniter would run next, or None."""
        world = self._world
        app = world.apps[unit.app]
        relations = world.relations_of(unit.app)
        remote = {r.id: world.remote_units(r, unit.app) for r in relations}
        return next_hook(unit, app, relations, remote, world.clock.now)

    def juju_state(self, unit: Unit) -> tuple[ops.testing.State, dict[str, int]]:
        """The Juju-side state a hook starts from, and the databag versions it sees."""
        world = self._world
        app = world.apps[unit.app]
        seen: dict[str, int] = {}
        relations: list[ops.testing.RelationBase] = []
        for relation in world.relations_of(unit.app):
            view = unit.relations.setdefault(relation.id, UnitRelation())
            if relation.removed and (view.broken or not view.created):
                continue
            if view.broken:
                continue
            endpoint = relation.endpoints[unit.app]
            other = relation.other_app(unit.app)
            remote = [n for n in world.remote_units(relation, unit.app) if n in view.joined]
            if other == unit.app:
                relations.append(
                    ops.testing.PeerRelation(
                        endpoint=endpoint,
                        interface=relation.interface,
                        id=relation.id,
                        local_app_data=dict(relation.bag(app.name).data),
                        local_unit_data=dict(relation.bag(unit.name).data),
                        peers_data={
                            int(n.rsplit('/', 1)[1]): dict(relation.bag(n).data)
                            for n in remote
                            if n != unit.name
                        },
                    )
                )
            else:
                relations.append(
                    ops.testing.Relation(
                        endpoint=endpoint,
                        interface=relation.interface,
                        id=relation.id,
                        remote_app_name=other,
                        local_app_data=dict(relation.bag(app.name).data),
                        local_unit_data=dict(relation.bag(unit.name).data),
                        remote_app_data=dict(relation.bag(other).data),
                        remote_units_data={
                            int(n.rsplit('/', 1)[1]): dict(relation.bag(n).data) for n in remote
                        },
                    )
                )
            seen.update(relation.versions([other, *remote]))
        containers = unit.containers or [
            ops.testing.Container(name=c, can_connect=True) for c in app.charm.containers
        ]
        state = ops.testing.State(
            leader=app.lease.answers_leader(unit.name, world.clock.now),
            config=dict(app.config),
            relations=relations,
            containers=containers,
            model=ops.testing.Model(name=world.name),
            unit_status=unit.unit_status,
            app_status=app.app_status,
            planned_units=app.planned_units,
        )
        return state, seen

    def start_hook(self, unit: Unit) -> None:
        """Start the hook the uniter chooses for ``unit``."""
        spec = self.next_hook(unit)
        if spec is None:  # pragma: no cover - the scheduler checked it
            return
        world = self._world
        now = world.clock.now
        state, seen = self.juju_state(unit)
        app = world.apps[unit.app]
        running = Running(
            spec=spec,
            hook_id=-1,
            seen=seen,
            config_version=app.config_version,
            started_at=now,
            leader=state.leader,
            leader_checked_at=now,
            app_data_in={r.id: dict(r.local_app_data) for r in state.relations},
        )
        self._send(unit, running, state, trusted=app.trusted)
        world.trace.record(
            'hook-start',
            f'{unit.name} runs {spec.describe()}' + (' (leader)' if state.leader else ''),
            unit=unit.name,
            hook=spec.describe(),
            leader=state.leader,
        )

    def start_stop(self, unit: Unit) -> None:
        """The stop hook of a pod being deleted; its outcome does not matter: the pod goes."""
        world = self._world
        now = world.clock.now
        state, seen = self.juju_state(unit)
        running = Running(
            spec=HookSpec(kind='stop'),
            hook_id=-1,
            seen=seen,
            started_at=now,
            leader=state.leader,
            leader_checked_at=now,
            shutdown=True,
        )
        # Trust is the application's, for every hook it runs (`juju trust`).
        self._send(unit, running, state, trusted=world.apps[unit.app].trusted)
        world.trace.record(
            'hook-start',
            f'{unit.name} runs stop (pod {unit.pod} terminating)',
            unit=unit.name,
            hook='stop()',
            leader=state.leader,
        )

    def _send(
        self, unit: Unit, running: Running, state: ops.testing.State, *, trusted: bool
    ) -> None:
        # Registered before the worker hears of the hook: its is-leader questions are
        # answered from this record (Leadership.is_leader_now) whenever the pool next reads.
        self.running[unit.name] = running
        try:
            running.hook_id = self._pool.start_hook(
                unit.name, running.spec, state, trusted=trusted
            )
        except BaseException:
            del self.running[unit.name]
            raise

    def status(self, unit: Unit) -> UnitStatus:
        """``unit`` as ``juju status`` shows it now."""
        if unit.name in self.running:
            agent = 'executing'
        elif not unit.alive:
            agent = 'lost' if unit.incarnation else 'allocating'
        elif unit.failure is not None:
            agent = 'error'
        else:
            agent = 'idle'
        app = self._world.apps[unit.app]
        failure = unit.last_failure
        return UnitStatus(
            unit=unit.name,
            agent=agent,
            workload=unit.unit_status.name,
            message=unit.unit_status.message,
            leader=app.lease.held_by(unit.name, self._world.clock.now),
            last_hook=unit.last_hook,
            last_outcome=None if unit.last_hook is None else 'failed' if failure else 'ok',
            failure=failure,
        )

    # -- killing -------------------------------------------------------------------------

    def kill(self, unit: Unit) -> None:
        """SIGKILL the unit's worker; its hook in flight and its held request are lost."""
        if unit.alive:
            # An idle worker's process may serve the unit's next pod (AgentPool.set_aside):
            # the same to the model, one fork fewer. It reports nothing more.
            if not self._pool.set_aside(unit.name):
                # The pool reports nothing else of it, and holds the unit's next worker's
                # events until it has gone, so nothing waits here for it to be reaped.
                self._ignore_end_of_worker(unit)
                if unit.name in self._pool.units:  # a hung unit's worker is gone already
                    self._pool.kill(unit.name)
            unit.alive = False
            # Its hook dies with it, uncommitted: the next agent finds it due again, as
            # any hook killed mid-run.
            unit.hung = ''
            self._interrupted(unit, self.running.pop(unit.name, None))
            held = self.held.pop(unit.name, None)
            if held is not None:
                held.release('drop')

    def _ignore_end_of_worker(self, unit: Unit) -> None:
        """The unit's current worker's WorkerGone, when it comes, is ignored (on_agent_event)."""
        process = self._pool.process(unit.name)
        if process is not None:
            self._killed.add((unit.name, process.pid))

    def _interrupted(self, unit: Unit, running: Running | None) -> None:
        """An action whose agent died while it ran is failed, and never runs again.

        The uniter's local state still says it was running that action, which is still
        the next one pending, so on the agent's next start the actions resolver fails it
        ("action terminated") rather than run it again: rerunning an arbitrary command may
        be hazardous (juju internal/worker/uniter/actions/resolver.go ``NextOp``, case
        ``RunAction``; operation/failaction.go ``Execute``). That fail-action runs no
        charm code and comes before anything else the new agent runs, so it is recorded
        here, when the agent dies.
        """
        if running is None or running.spec.kind != 'action':
            return
        if not unit.actions or unit.actions[0] is not running.spec:
            return
        unit.actions.pop(0)
        spec = running.spec
        self.actions.append(
            ActionOutcome(
                unit=unit.name,
                action=spec.action or '',
                params=dict(spec.params),
                results=None,
                failure=None,
                error='action terminated',
            )
        )
        self._world.trace.record(
            'hook-failed',
            f'{unit.name} {spec.describe()} FAILED ({HookFailureKind.AGENT_DIED.value}): '
            'action terminated',
            unit=unit.name,
            hook=spec.describe(),
            failure_kind=HookFailureKind.AGENT_DIED,
            message='action terminated',
            cause='the agent died while the action ran',
            api_errors=list(running.api_errors),
            attempt=1,
        )

    def die(self, unit: Unit) -> None:
        """A Dying unit with nothing left to run is Dead: its agent stops."""
        unit.removed = True
        self._world.trace.record('unit-dead', f'{unit.name} is dead', unit=unit.name)
        self.kill(unit)
        self._pool.retire_kept(unit.name)  # no pod of it comes back
        self._on_dead(unit)

    # -- results ---------------------------------------------------------------------------

    def on_agent_event(self, event: HookDone | WorkerGone) -> None:
        """A hook finished, or a worker died."""
        if isinstance(event, WorkerGone) and (event.unit, event.pid) in self._killed:
            self._killed.discard((event.unit, event.pid))
            return  # the model killed it and has dealt with it (kill)
        world = self._world
        unit = world.find_unit(event.unit)
        if unit is None:
            return
        if isinstance(event, WorkerGone):
            # The worker died without us killing it (its zygote died, or a hook timed out).
            self._interrupted(unit, self.running.pop(unit.name, None))
            unit.alive = False
            world.trace.record(
                'worker-gone',
                f'{unit.name} worker gone ({event.signal or event.exit_code})',
                unit=unit.name,
                signal=event.signal,
                exit_code=event.exit_code,
            )
            self._remove_pod(unit)
            return
        running = self.running.pop(unit.name, None)
        if running is None:
            return
        self._finish(unit, running, event.result)

    def _finish(self, unit: Unit, running: Running, result: HookResult) -> None:
        world = self._world
        app = world.apps[unit.app]
        spec = running.spec
        unit.unit_status = result.unit_status  # status-set is not rolled back
        if app.lease.held_by(unit.name, world.clock.now):
            app.app_status = result.app_status
        unit.last_hook = spec.describe()
        unit.last_failure = None
        if running.shutdown:
            world.trace.record(
                'hook-done',
                f'{unit.name} stop done; pod {unit.pod} goes',
                unit=unit.name,
                hook='stop()',
            )
            self.kill(unit)
            self._remove_pod(unit)
            return
        if spec.kind == 'action':
            unit.actions.pop(0)
            self.actions.append(
                ActionOutcome(
                    unit=unit.name,
                    action=spec.action or '',
                    params=dict(spec.params),
                    results=result.action_results,
                    failure=result.action_failure,
                    error=None if result.error is None else result.error.message,
                )
            )
        if result.error is not None or result.state is None:
            message = result.error.message if result.error else 'no state'
            error = result.error
            kind = _KIND_OF_ERROR[error.kind] if error else HookFailureKind.WORKER_ERROR
            if kind is HookFailureKind.CHARM_RAISED and running.outage_answered:
                kind = HookFailureKind.API_OUTAGE
            self._failed(
                unit,
                running,
                message,
                kind=kind,
                cause=f'{error.type_name}: {error.message}' if error else 'no state returned',
                traceback=error.traceback if error else '',
            )
            return
        refused = self._commit_refused(unit, running, result.state)
        if refused is not None:
            kind = HookFailureKind.NOT_LEADER_AT_COMMIT
            self._failed(unit, running, refused, kind=kind, cause=refused)
            return
        if spec.kind != 'action':
            # An action that runs while the unit is in error leaves it in error: only the
            # failed hook's own success clears it (actions/resolver.go runs actions in a
            # hook error state; the uniter stays in it).
            unit.failure = None
        unit.hooks_run += 1
        self._commit(unit, running, result.state)
        # No wall-clock figures in the trace: a seed must replay it byte for byte.
        world.trace.record(
            'hook-done',
            f'{unit.name} {spec.describe()} done',
            unit=unit.name,
            hook=spec.describe(),
        )
        if spec.kind == 'remove':
            self.die(unit)

    def _failed(
        self,
        unit: Unit,
        running: Running,
        message: str,
        *,
        kind: HookFailureKind,
        cause: str,
        traceback: str = '',
    ) -> None:
        """Record a failed hook: the unit goes into error and a retry is timed.

        Past the harness's time limit, the unit is hung in it instead (:attr:`Unit.hung`).
        """
        world = self._world
        spec = running.spec
        attempts = unit.failure.attempts + 1 if unit.failure else 1
        failure = HookFailure(
            unit=unit.name,
            hook=spec.describe(),
            time=world.clock.now,
            attempt=attempts,
            kind=kind,
            cause=cause,
            api_errors=tuple(running.api_errors),
            traceback=traceback,
        )
        unit.last_failure = failure
        if spec.kind != 'action':  # a failed action is no failed hook
            self.failures.append(failure)
        if kind is HookFailureKind.TIMED_OUT:
            # Not in error, not retried: for Juju it is still running that hook (Unit.hung),
            # its pod up. The pool killed the worker only to stop waiting: its WorkerGone
            # is no death of the agent's.
            unit.hung = spec.describe()
            self._ignore_end_of_worker(unit)
        elif spec.kind != 'action':  # a failed action leaves the unit out of error
            if unit.failure is None:
                delay = RETRY_FIRST
            else:
                jitter = 1 + RETRY_JITTER * (2 * world.rng.random() - 1)
                delay = min(unit.failure.delay * 2 * jitter, RETRY_MAX)
            # With automatically-retry-hooks off the unit waits in error for `juju
            # resolve` (resolver.go nextOpHookError starts no retry timer).
            retry_at = world.clock.now + delay if world.automatically_retry_hooks else math.inf
            unit.failure = Failure(
                spec=spec,
                attempts=attempts,
                retry_at=retry_at,
                message=message,
                hook_name=self._hook_name(unit, spec),
                delay=delay,
            )
        world.trace.record(
            'hook-failed',
            f'{unit.name} {spec.describe()} FAILED ({kind.value}): {message.splitlines()[-1:]}',
            unit=unit.name,
            hook=spec.describe(),
            failure_kind=kind,
            message=message,
            cause=cause,
            api_errors=list(failure.api_errors),
            attempt=attempts,
        )

    def _commit_refused(
        self, unit: Unit, running: Running, state: ops.testing.State
    ) -> str | None:
        """Why the controller refuses the hook's commit, if it does.

        Application settings are written under a leadership token checked when the hook
        commits, in the same transaction as everything else: a unit that is no longer
        leader then fails the whole commit, and the hook errors (juju apiserver/facades/
        agent/uniter/uniter.go ``commitHookChangesForOneUnit``,
        ``updateUnitAndApplicationSettingsOp``; one ``ApplyOperation``).
        """
        world = self._world
        app = world.apps[unit.app]
        if app.lease.held_by(unit.name, world.clock.now):
            return None
        for rel_state in state.relations:
            given = running.app_data_in.get(rel_state.id)
            if given is not None and dict(rel_state.local_app_data) != given:
                return (
                    f'committing hook: prerequisites failed: {unit.name!r} is not leader '
                    f'of {app.name!r} (application settings of relation {rel_state.id})'
                )
        return None

    def _update_status_due(self) -> float:
        world = self._world
        low, high = UPDATE_STATUS_SPREAD
        spread = low + (high - low) * world.rng.random()
        return world.clock.now + UPDATE_STATUS_INTERVAL * spread

    def _hook_name(self, unit: Unit, spec: HookSpec) -> str:
        # Juju's hook names: dashes, relation hooks prefixed with the endpoint
        # (``db-relation-changed``), pebble-ready with the container.
        name = spec.kind.replace('_', '-')
        if spec.relation_id is not None:
            relation = self._world.relations.get(spec.relation_id)
            if relation is not None:
                name = f'{relation.endpoints[unit.app]}-{name}'
        elif spec.container is not None:
            name = f'{spec.container}-{name}'
        return name

    def _commit(self, unit: Unit, running: Running, state: ops.testing.State) -> None:
        """A successful hook's writes land, all at once (docs/design-notes.md, "Relation data")."""
        world = self._world
        app = world.apps[unit.app]
        spec = running.spec
        # _commit_refused let it through: a changed application databag means leader now.
        leader = app.lease.held_by(unit.name, world.clock.now)
        for rel_state in state.relations:
            relation = world.relations.get(rel_state.id)
            if relation is None:
                continue
            if leader and relation.bag(app.name).commit(rel_state.local_app_data):
                view = unit.relations.setdefault(relation.id, UnitRelation())
                view.seen[app.name] = relation.bag(app.name).version  # not our own change
                self._on_app_data(
                    relation.interface,
                    relation.other_app(app.name),
                    relation.bag(app.name).data,
                    relation.id,
                )
            relation.bag(unit.name).commit(rel_state.local_unit_data)
        unit.containers = list(state.containers)
        view = unit.relations.get(spec.relation_id) if spec.relation_id is not None else None
        kind = spec.kind
        if kind == 'install':
            unit.installed = True
        elif kind == 'upgrade_charm':
            unit.upgrade_pending = False
        elif kind == 'start':
            unit.started = True
            # The update-status timer runs from the agent's start (uniter's update-status
            # timer; update-status-hook-interval, 5m by default).
            unit.next_update_status = self._update_status_due()
        elif kind == 'pebble_ready' and spec.container in unit.pebble_pending:
            unit.pebble_pending.remove(spec.container)
        elif kind == 'leader_elected':
            unit.leader_notified = True
        elif kind == 'leader_settings_changed':
            unit.settings_pending = False
        elif kind == 'config_changed':
            unit.seen_config = running.config_version
        elif kind == 'stop':
            unit.stopped = True
        elif kind == 'update_status':
            unit.next_update_status = self._update_status_due()
        elif view is not None and spec.relation_id is not None:
            relation = world.relations[spec.relation_id]
            other = relation.other_app(unit.app)
            if kind == 'relation_created':
                view.created = True
            elif kind == 'relation_joined' and spec.remote_unit is not None:
                view.joined.add(f'{other}/{spec.remote_unit}')
                view.changed_pending = f'{other}/{spec.remote_unit}'
            elif kind == 'relation_changed':
                owner = other if spec.remote_unit is None else f'{other}/{spec.remote_unit}'
                view.seen[owner] = running.seen.get(owner, relation.bag(owner).version)
                if view.changed_pending == owner:
                    view.changed_pending = None
            elif kind == 'relation_departed' and spec.remote_unit is not None:
                # The departed unit is no longer a known member (relation/statetracker.go).
                name = f'{other}/{spec.remote_unit}'
                view.departed.add(name)
                view.joined.discard(name)
                view.seen.pop(name, None)
            elif kind == 'relation_broken':
                view.broken = True
                self._relations.forget_if_broken(relation)
