"""Leadership: each application's lease, kept by live agents, and what ``is-leader`` answers.

The lease itself is in ``_lease``; this module is the leadership worker's side
(juju/juju ``worker/leadership/tracker.go``): renewals by a live, unstalled holder, claims
on a free lease, and the ops-side cache of ``is-leader``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ._errors import ModelError
from ._lease import LEADER_GUARANTEE, LEASE_DURATION, RENEW_WHEN_LEFT, Lease
from ._units import Application, Unit
from ._world import World

if TYPE_CHECKING:
    from ._hooks import Running

__all__ = [
    'LEADER_GUARANTEE',
    'LEASE_DURATION',
    'OPS_LEADER_CACHE',
    'RENEW_WHEN_LEFT',
    'Leadership',
    'Lease',
]

# ops re-asks Juju ``is-leader`` once its cached answer is older than this
# (ops/model.py, _ModelBackend.LEASE_RENEWAL_PERIOD).
OPS_LEADER_CACHE = 30.0


class Leadership:
    """Each application's lease: claims, renewals by live agents, and ``is-leader``.

    Args:
        world: the controller's state.
        running: the hooks in flight, by unit (what ``is-leader`` is asked from).
        stalled: whether a unit's agent is stalled now (it renews and claims nothing).
        on_elected: told ``(app, unit)`` when a claim makes ``unit`` the new holder.
    """

    def __init__(
        self,
        world: World,
        *,
        running: Mapping[str, Running],
        stalled: Callable[[str], bool],
        on_elected: Callable[[str, str], None],
    ):
        self._world = world
        self._on_elected = on_elected
        self._running = running
        self._stalled = stalled
        # A forced change, per application: the leader whose agent stops renewing, and the
        # unit whose claim is to land first (None: the scheduler's choice).
        self._forced: dict[str, tuple[str, str | None]] = {}
        self._expiry_seen: dict[str, tuple[str, float]] = {}  # the last expiry recorded

    def leader(self, app: Application) -> str | None:
        """The unit holding ``app``'s lease now, if any."""
        lease = app.lease
        now = self._world.clock.now
        return lease.holder if lease.holder and lease.held_by(lease.holder, now) else None

    def claim(self, app: Application, unit: Unit) -> None:
        """``unit``'s agent claims ``app``'s lease; a new holder runs leader-elected.

        During a forced change (:meth:`force_change`) the old leader's claim and, when a
        successor was named, every other unit's claim lose the race.
        """
        self.note_expiry(app)
        forced = self._forced.get(app.name)
        if forced is not None and not self._may_claim(forced, unit):
            return
        previous = app.lease.holder
        if app.lease.claim(unit.name, self._world.clock.now) and previous != unit.name:
            self._forced.pop(app.name, None)
            unit.leader_notified = False
            if previous is not None and previous in app.units:
                app.units[previous].leader_notified = False
                app.units[previous].settings_pending = True
            self._on_elected(app.name, unit.name)
            self._world.trace.record(
                'leader-elected',
                f'{unit.name} is leader of {app.name}',
                unit=unit.name,
                app=app.name,
                previous=previous,
            )

    def _may_claim(self, forced: tuple[str, str | None], unit: Unit) -> bool:
        old, successor = forced
        if unit.name == old:
            return False
        if successor is None or unit.name == successor:
            return True
        chosen = self._world.find_unit(successor)
        # A successor that died or stalled meanwhile cannot claim: the others may.
        return chosen is None or not chosen.alive or self._stalled(successor)

    def force_change(self, app: Application, successor: str | None) -> str:
        """The leader's agent stops renewing; once the lease runs out another unit claims it.

        Juju's leadership tracker renews the lease every 30 s while its agent runs, and
        every other unit's tracker blocks until the lease is released, then claims; the
        first claim wins (juju/juju ``internal/worker/leadership/tracker.go``,
        ``Tracker.refresh``, ``setMinion``: ``BlockUntilLeadershipReleased``). Returns
        the leader that stops renewing.

        Raises:
            ModelError: no leader now, no other unit that could claim, or a ``successor``
                that is not another live unit of ``app``.
        """
        world = self._world
        now = world.clock.now
        old = self.leader(app)
        if old is None:
            raise ModelError(f'{app.name} has no leader now: nothing to change')
        others = [u for n, u in sorted(app.units.items()) if n != old and u.alive and not u.dying]
        if successor is not None:
            if successor == old:
                raise ModelError(f'{successor} is already the leader of {app.name}')
            target = app.units.get(successor)
            if target is None:
                raise ModelError(f'{successor!r} is not a unit of {app.name}')
            if not target.alive:
                raise ModelError(f'{successor} has no running agent to claim the lease')
        elif not others:
            raise ModelError(f'{app.name} has no other live unit to take the lease over')
        app.lease.kept_by(old, now)  # its renewals until now happened
        app.lease.renewing = False
        self._forced[app.name] = (old, successor)
        world.trace.record(
            'leader-abdicates',
            f'{old} stops renewing the lease of {app.name} (expires at {app.lease.expiry:g})'
            + (f'; {successor} claims next' if successor else ''),
            unit=old,
            app=app.name,
            expiry=app.lease.expiry,
            successor=successor,
        )
        return old

    def end_forced_change(self, app: Application) -> None:
        """Give up a forced change that found no claimant: every agent claims again."""
        self._forced.pop(app.name, None)
        app.lease.renewing = True

    def note_expiry(self, app: Application) -> None:
        """Record, once, that the holder's lease of ``app`` ran out unrenewed."""
        lease = app.lease
        now = self._world.clock.now
        if lease.holder is None or not lease.free(now):
            return
        if self._expiry_seen.get(app.name) == (lease.holder, lease.expiry):
            return
        self._expiry_seen[app.name] = (lease.holder, lease.expiry)
        self._world.trace.record(
            'lease-expired',
            f'lease of {app.name} held by {lease.holder} expired',
            unit=lease.holder,
            app=app.name,
        )

    def _renewing(self, app: Application) -> Unit | None:
        """The holder of ``app``'s lease if its agent renews it: alive, not stalled."""
        holder = app.units.get(app.lease.holder or '')
        if holder is None or not holder.alive or self._stalled(holder.name):
            return None
        return holder if app.lease.renewing else None  # not during a forced change

    def claimants(self, app: Application) -> list[Unit]:
        """Units whose agents would claim ``app``'s lease now: it is free and they run."""
        if not app.lease.free(self._world.clock.now):
            return []
        forced = self._forced.get(app.name)
        return [
            u
            for _, u in sorted(app.units.items())
            # A Dying unit does not accept leadership (juju internal/worker/uniter/
            # leadership/resolver.go: canAcceptLeader is false when Dying).
            if u.alive
            and not u.dying
            and not self._stalled(u.name)
            and (forced is None or self._may_claim(forced, u))
        ]

    def claim_one(self, app: str) -> None:
        """One of the waiting agents' claims on a free lease lands first.

        Every minion's tracker waits on ``BlockUntilLeadershipReleased`` and claims when
        it returns (tracker.go ``setMinion``): which claim lands first is a race that
        the seeded choice decides.
        """
        application = self._world.apps.get(app)
        if application is None:
            return
        candidates = self.claimants(application)
        if candidates:
            self.claim(application, self._world.rng.choice(candidates))

    def answer_ahead(self, unit: str) -> bool | None:
        """What :meth:`is_leader_now` answers ``unit`` without asking Juju again, if it would.

        None when there is no running hook, or when ops' cached answer is too old, so
        that the next question asks Juju (and is recorded). The scheduler sends this to
        the worker before releasing one of its API requests: nothing it changes until the
        unit's next event (a request, the hook's end) moves the clock or the answer.
        """
        running = self._running.get(unit)
        if running is None or self._must_ask_again(running):
            return None
        return running.leader

    def _must_ask_again(self, running: Running) -> bool:
        return self._world.clock.now - running.leader_checked_at > OPS_LEADER_CACHE

    def is_leader_now(self, unit: str) -> bool:
        """What ``is-leader`` answers ``unit``'s running hook now, with ops' 30 s cache.

        The pool calls it on the scheduler's thread, while the scheduler waits for events
        and this unit's hook runs. The hook's record is in ``running`` before the worker
        hears of the hook, and the scheduler changes no lease and moves no clock until
        every running unit waits at the API or has finished, so the answer cannot depend
        on when the question arrives.
        """
        world = self._world
        running = self._running.get(unit)
        app = world.apps.get(unit.partition('/')[0])
        if running is None or app is None:
            return False
        now = world.clock.now
        if self._must_ask_again(running):
            # Once Juju has said False in a hook it says False until the hook ends: the hook
            # context remembers it is a minion (juju internal/worker/uniter/runner/context/
            # leader.go ensureLeader, isMinion).
            running.leader = not running.minion and app.lease.answers_leader(unit, now)
            running.minion = not running.leader
            running.leader_checked_at = now
            world.trace.record(
                'is-leader',
                f'{unit} is-leader asks Juju again -> {running.leader}',
                unit=unit,
                answer=running.leader,
            )
        return running.leader

    def due(self, *, include_periodic: bool) -> list[float]:
        """When leases next change: an unrenewed lease's expiry, a live one's renewal."""
        times: list[float] = []
        for app in self._world.apps.values():
            renewing = self._renewing(app) is not None
            if app.lease.holder is not None and not renewing:
                times.append(app.lease.expiry)  # a dead, stalled or abdicating leader's
            elif include_periodic and renewing:
                times.append(app.lease.next_renewal())
        return times

    def fire(self) -> None:
        """Live holders renew; a lease that ran out is recorded (claims are scheduled)."""
        world = self._world
        now = world.clock.now
        for app in world.apps.values():
            holder = self._renewing(app)
            if holder is not None:
                app.lease.kept_by(holder.name, now)
            self.note_expiry(app)
