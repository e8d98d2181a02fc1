"""Hooks as serialisable data, their outcomes, and the split of a unit's state."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, get_args

import ops.testing
import scenario.state

HookKind = Literal[
    'install',
    'start',
    'stop',
    'remove',
    'config_changed',
    'upgrade_charm',
    'leader_elected',
    'leader_settings_changed',
    'update_status',
    'pebble_ready',
    'relation_created',
    'relation_joined',
    'relation_changed',
    'relation_departed',
    'relation_broken',
    'action',
]
HOOK_KINDS: frozenset[str] = frozenset(get_args(HookKind))
_RELATION_KINDS = frozenset(
    {
        'relation_created',
        'relation_joined',
        'relation_changed',
        'relation_departed',
        'relation_broken',
    }
)
# Juju sets JUJU_REMOTE_UNIT for joined, changed and departed, not for created or broken.
# https://documentation.ubuntu.com/juju/latest/reference/hook/
_REMOTE_UNIT_KINDS = frozenset({'relation_joined', 'relation_changed', 'relation_departed'})
_NO_REMOTE_UNIT = 0  # the placeholder remote unit of an application relation-changed


@dataclasses.dataclass(frozen=True, kw_only=True)
class HookSpec:
    """One hook (or action) for a unit to run, described by plain data.

    Attributes:
        kind: what runs; relation hooks name their relation by ``relation_id``.
        relation_id: the relation of a ``relation_*`` hook.
        remote_unit: the remote unit's number, for joined, changed and departed.
        departing_unit: the departing unit's number, for departed.
        departing_local: for departed, the departing unit is the local unit (it, or its
            application, is going away), not the remote one.
        container: the container of a ``pebble_ready`` hook.
        action: the action's name, for ``kind='action'``.
        params: the action's parameters.
        action_id: the action's id; one is made up when not given.
    """

    kind: HookKind
    relation_id: int | None = None
    remote_unit: int | None = None
    departing_unit: int | None = None
    departing_local: bool = False
    container: str | None = None
    action: str | None = None
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict[str, Any])
    action_id: str | None = None

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError(f'bad HookSpec {self!r}: ' + '; '.join(problems))

    def _problems(self) -> list[str]:
        if self.kind not in HOOK_KINDS:
            return [f'kind must be one of {sorted(HOOK_KINDS)}']
        problems: list[str] = []
        relation = self.kind in _RELATION_KINDS
        if relation and self.relation_id is None:
            problems.append(f'{self.kind} needs relation_id')
        if not relation and self.relation_id is not None:
            problems.append(f'{self.kind} takes no relation_id')
        if self.remote_unit is not None and self.kind not in _REMOTE_UNIT_KINDS:
            problems.append(f'{self.kind} takes no remote_unit')
        if (
            self.departing_unit is not None or self.departing_local
        ) and self.kind != 'relation_departed':
            problems.append(f'{self.kind} takes no departing_unit or departing_local')
        if (self.kind == 'pebble_ready') != (self.container is not None):
            problems.append('container goes with pebble_ready, and only with it')
        if (self.kind == 'action') != (self.action is not None):
            problems.append('action goes with kind="action", and only with it')
        if self.kind != 'action' and (self.params or self.action_id is not None):
            problems.append(f'{self.kind} takes no params or action_id')
        return problems

    def describe(self) -> str:
        """A short, readable name, e.g. ``relation_changed(3, remote_unit=0)``."""
        args: list[str] = []
        if self.relation_id is not None:
            args.append(str(self.relation_id))
        if self.container is not None:
            args.append(repr(self.container))
        if self.action is not None:
            args.append(repr(self.action))
        for name in ('remote_unit', 'departing_unit'):
            value = getattr(self, name)
            if value is not None:
                args.append(f'{name}={value}')
        if self.departing_local:
            args.append('departing_local=True')
        if self.params:
            args.append(f'params={dict(self.params)!r}')
        return f'{self.kind}({", ".join(args)})'


@dataclasses.dataclass(frozen=True, kw_only=True)
class HookError:
    """Why a hook produced no new state.

    Attributes:
        kind: ``charm`` (the charm raised), ``inconsistent`` (ops.testing refused the
            state or event), ``timeout`` (the parent gave up and killed the worker), or
            ``internal`` (a fault of the worker itself).
        type_name: the exception's class name (``TimeoutError`` for a timeout).
        message: the exception's message.
        traceback: the formatted traceback: for ``charm``, the charm's own.
    """

    kind: Literal['charm', 'inconsistent', 'timeout', 'internal']
    type_name: str
    message: str
    traceback: str = ''


@dataclasses.dataclass(frozen=True, kw_only=True)
class HookResult:
    """What one hook in a worker came to.

    Attributes:
        unit: the unit, ``app/N``.
        hook_id: the id ``AgentPool.start_hook`` returned.
        spec: the hook that ran.
        state: the output state (Juju-side and unit-local parts) when the hook
            succeeded; ``None`` when it failed, as Juju then commits none of its
            relation data (docs/design-notes.md, "Hook failure").
        error: why it failed, or ``None``.
        unit_status: the unit's status when the hook ended; kept even when it failed,
            since ``status-set`` is not rolled back.
        app_status: likewise for the application.
        juju_log: what the charm logged to juju-log during the hook.
        action_results: the results an action set, if any.
        action_failure: the message an action passed to ``event.fail``, if any.
        action_logs: the messages an action passed to ``event.log``.
        elapsed: seconds the worker spent on the hook.
    """

    unit: str
    hook_id: int
    spec: HookSpec
    state: ops.testing.State | None
    error: HookError | None = None
    unit_status: ops.StatusBase = dataclasses.field(default_factory=ops.UnknownStatus)
    app_status: ops.StatusBase = dataclasses.field(default_factory=ops.UnknownStatus)
    juju_log: tuple[ops.testing.JujuLogLine, ...] = ()
    action_results: Mapping[str, Any] | None = None
    action_failure: str | None = None
    action_logs: tuple[str, ...] = ()
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the hook succeeded (an action that called ``fail`` still succeeded)."""
        return self.error is None


def juju_side(state: ops.testing.State) -> ops.testing.State:
    """The parts of ``state`` that Juju keeps: everything but StoredState and deferrals.

    A pod's charm directory and ``.unit-state.db`` die with the pod, taking StoredState
    and deferred events with them; leader flag, relation data, config, secrets and
    status live in the controller (docs/design-notes.md, "Pod restarts").
    """
    return dataclasses.replace(state, stored_states=frozenset(), deferred=[])


@dataclasses.dataclass(frozen=True, kw_only=True)
class LocalState:
    """The unit-local parts of a unit's state: what a worker carries from hook to hook."""

    stored_states: frozenset[ops.testing.StoredState] = frozenset()
    deferred: tuple[ops.testing.DeferredEvent, ...] = ()

    @classmethod
    def of(cls, state: ops.testing.State) -> LocalState:
        """The unit-local parts of ``state``."""
        return cls(stored_states=state.stored_states, deferred=tuple(state.deferred))

    def merged_into(self, juju_state: ops.testing.State) -> ops.testing.State:
        """``juju_state`` with this unit-local state in it."""
        return dataclasses.replace(
            juju_state, stored_states=self.stored_states, deferred=list(self.deferred)
        )


def check_against(spec: HookSpec, juju_state: ops.testing.State) -> list[str]:
    """What in ``juju_state`` makes ``spec`` impossible to run; empty when it fits."""
    problems: list[str] = []
    if juju_state.stored_states or juju_state.deferred:
        problems.append(
            'the Juju-side state carries stored_states or deferred events: those are '
            'unit-local and belong to the worker; pass juju_side(state) instead'
        )
    if spec.relation_id is not None and _relation(juju_state, spec.relation_id) is None:
        ids = sorted(r.id for r in juju_state.relations)
        problems.append(f'no relation with id {spec.relation_id} in the state (ids: {ids})')
    if spec.container is not None and _container(juju_state, spec.container) is None:
        names = sorted(c.name for c in juju_state.containers)
        problems.append(f'no container {spec.container!r} in the state (names: {names})')
    return problems


def to_event(
    ctx: ops.testing.Context[Any], spec: HookSpec, state: ops.testing.State
) -> scenario.state._Event:
    """The ``ops.testing`` event that runs ``spec`` against ``state``."""
    on = ctx.on
    kind = spec.kind
    if kind in _RELATION_KINDS:
        assert spec.relation_id is not None  # noqa: S101 - HookSpec checked it
        relation = _relation(state, spec.relation_id)
        if relation is None:
            raise LookupError(f'no relation with id {spec.relation_id}')
        if kind == 'relation_created':
            return on.relation_created(relation)
        if kind == 'relation_joined':
            return on.relation_joined(relation, remote_unit=spec.remote_unit)
        if kind == 'relation_changed':
            # An application databag change has no remote unit, which ops.testing refuses
            # when no remote unit is in scope: any number satisfies it, and the worker
            # dispatches the hook with JUJU_REMOTE_UNIT empty (worker._as_juju_dispatches).
            remote = spec.remote_unit if spec.remote_unit is not None else _NO_REMOTE_UNIT
            return on.relation_changed(relation, remote_unit=remote)
        if kind == 'relation_departed':
            return on.relation_departed(
                relation, remote_unit=spec.remote_unit, departing_unit=spec.departing_unit
            )
        return on.relation_broken(relation)
    if kind == 'pebble_ready':
        assert spec.container is not None  # noqa: S101 - HookSpec checked it
        container = _container(state, spec.container)
        if container is None:
            raise LookupError(f'no container {spec.container!r}')
        return on.pebble_ready(container)
    if kind == 'action':
        assert spec.action is not None  # noqa: S101 - HookSpec checked it
        return on.action(spec.action, params=dict(spec.params), id=spec.action_id)
    if kind == 'leader_settings_changed':
        # Juju 3.x still sends it to non-leaders (worker/uniter/leadership/resolver.go),
        # but ops.testing has no factory for it (scenario/context.py): build it directly.
        return scenario.state._Event('leader_settings_changed')
    simple = {
        'install': on.install,
        'start': on.start,
        'stop': on.stop,
        'remove': on.remove,
        'config_changed': on.config_changed,
        'upgrade_charm': on.upgrade_charm,
        'leader_elected': on.leader_elected,
        'update_status': on.update_status,
    }
    return simple[kind]()


def _relation(state: ops.testing.State, relation_id: int) -> ops.testing.RelationBase | None:
    return next((r for r in state.relations if r.id == relation_id), None)


def _container(state: ops.testing.State, name: str) -> ops.testing.Container | None:
    return next((c for c in state.containers if c.name == name), None)
