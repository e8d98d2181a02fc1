"""The uniter's choice of next hook: pure, from the controller's state and the unit's.

Juju's uniter does not queue events: it compares the controller's state with what the unit
last saw and picks the next hook from the difference (juju/juju
``internal/worker/uniter/resolver.go``, ``worker/uniter/remotestate/snapshot.go``). That is
why several changes reach a unit as one hook. :func:`next_hook` does the same.
"""

from __future__ import annotations

from ..agent import HookSpec
from ._databags import Relation
from ._units import Application, Unit, UnitRelation


def next_hook(
    unit: Unit,
    app: Application,
    relations: list[Relation],
    remote_units: dict[int, list[str]],
    now: float,
) -> HookSpec | None:
    """The hook the uniter would run next on an idle ``unit``, or None.

    ``remote_units`` gives, per relation id, the units at the other end that are in scope.
    The order is the uniter's (juju internal/worker/uniter/resolver.go ``NextOp``): a
    queued hook first (install; upgrade-charm, then the config-changed and start it queues,
    operation/runhook.go ``Commit``); then, once idle, relation-created, leadership,
    pebble-ready, actions, config-changed on a changed config or trust hash, relation
    hooks, update-status. A unit in error runs its actions and the retry of its hook.
    """
    if unit.hung:
        return None  # still in its hung hook, for Juju
    if unit.failure is not None:
        # A unit in error runs actions (actions/resolver.go: "We can still run actions if
        # the unit is in a hook error state"), then, when due, the retry of its hook.
        if unit.actions:
            return unit.actions[0]
        return unit.failure.spec if now >= unit.failure.retry_at else None
    if unit.dying:
        return _dying_hook(unit, app, relations)
    queued = _queued_hook(unit)
    if queued is not None:
        return queued
    # Idle (operation.Continue) from here on.
    for relation in relations:
        seen = unit.relations.setdefault(relation.id, UnitRelation())
        if not seen.created and not relation.removed:
            return HookSpec(kind='relation_created', relation_id=relation.id)
    leader = app.lease.held_by(unit.name, now)
    if leader and not unit.leader_notified:
        return HookSpec(kind='leader_elected')
    # leadership/resolver.go: leader-settings-changed on a non-leader, only when idle.
    if unit.settings_pending and not leader:
        return HookSpec(kind='leader_settings_changed')
    # container/workload.go: pebble-ready runs whenever the uniter is idle.
    if unit.pebble_pending:
        return HookSpec(kind='pebble_ready', container=unit.pebble_pending[0])
    if unit.actions:
        return unit.actions[0]
    if unit.seen_config < app.config_version:
        return HookSpec(kind='config_changed')
    for relation in relations:
        spec = _relation_hook(unit, app, relation, remote_units.get(relation.id, []))
        if spec is not None:
            return spec
    if now >= unit.next_update_status:
        return HookSpec(kind='update_status')
    return None


def _queued_hook(unit: Unit) -> HookSpec | None:
    # What the uniter's operation state holds as a queued hook, which runs before any
    # resolver that needs the uniter idle: install first (the deploy operation queues
    # it); upgrade-charm (a new pod of a known unit, resolver.go charmModified) queues
    # config-changed, and a config-changed before the unit started queues start
    # (operation/runhook.go Commit).
    if not unit.installed:
        return HookSpec(kind='install')
    if unit.upgrade_pending:
        return HookSpec(kind='upgrade_charm')
    restarting = unit.incarnation > 1 and not unit.started
    if restarting and unit.seen_config < 0:
        return HookSpec(kind='config_changed')
    if not unit.started and unit.seen_config >= 0:
        return HookSpec(kind='start')
    return None


def _dying_hook(unit: Unit, app: Application, relations: list[Relation]) -> HookSpec | None:
    # A Dying unit: its relations are broken first, then stop (if it started), then remove
    # (juju internal/worker/uniter/resolver.go nextOp, life.Dying).
    for relation in relations:
        spec = _relation_hook(unit, app, relation, [], dying=True)
        if spec is not None:
            return spec
    if unit.started and not unit.stopped:
        return HookSpec(kind='stop')
    if unit.installed and not unit.removed:
        return HookSpec(kind='remove')
    return None


def _relation_hook(
    unit: Unit, app: Application, relation: Relation, remote: list[str], *, dying: bool = False
) -> HookSpec | None:
    seen = unit.relations.setdefault(relation.id, UnitRelation())
    if seen.broken or not seen.created:
        return None
    peer = relation.other_app(app.name) == app.name
    if relation.removed or dying:
        remote = []
    # The order is the uniter's (juju internal/worker/uniter/relation/resolver.go
    # nextHookForRelation): relation-changed right after each relation-joined
    # (ChangedPending); members no longer in scope depart; a relation going away is
    # broken (never a peer relation); then the remote application's databag; then new
    # members join; then members whose databag moved.
    pending = seen.changed_pending
    if pending is not None and pending in seen.joined and not (relation.removed or dying):
        return HookSpec(
            kind='relation_changed', relation_id=relation.id, remote_unit=_unit_number(pending)
        )
    for name in sorted(seen.joined - set(remote)):
        if name == unit.name:
            continue
        number = _unit_number(name)
        # The departee is the local unit when it, or its application, is going away.
        local = dying or app.dying
        return HookSpec(
            kind='relation_departed',
            relation_id=relation.id,
            remote_unit=number,
            departing_unit=None if local else number,
            departing_local=local,
        )
    if relation.removed or dying:
        if peer:
            return None
        return HookSpec(kind='relation_broken', relation_id=relation.id)
    other = relation.other_app(app.name)
    # One relation-changed per databag that moved, however often it moved. A change of
    # the remote application's databag comes with no remote unit (the worker dispatches
    # it with JUJU_REMOTE_UNIT empty). A databag never written (version 0) has not
    # changed. ops.testing cannot run a peer relation-changed with no peer in scope.
    app_bag = relation.bag(other).version
    if app_bag > max(seen.seen.get(other, 0), 0) and (not peer or seen.joined):
        return HookSpec(kind='relation_changed', relation_id=relation.id)
    for name in sorted(remote):
        if name == unit.name and peer:
            continue
        if name not in seen.joined:
            return HookSpec(
                kind='relation_joined', relation_id=relation.id, remote_unit=_unit_number(name)
            )
    for name in sorted(seen.joined):
        if relation.bag(name).version > seen.seen.get(name, -1):
            return HookSpec(
                kind='relation_changed', relation_id=relation.id, remote_unit=_unit_number(name)
            )
    return None


def _unit_number(name: str) -> int:
    return int(name.rsplit('/', 1)[1])
