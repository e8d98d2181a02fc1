"""Leadership: each application's lease, kept by live agents, and what ``is-leader`` answers.

The lease itself is in ``_lease``; this module is the leadership worker's side
(juju/juju ``worker/leadership/tracker.go``): renewals by a live, unstalled holder, claims
on a free lease, and the ops-side cache of ``is-leader``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

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
    """

    def __init__(
        self,
        world: World,
        *,
        running: Mapping[str, Running],
        stalled: Callable[[str], bool],
    ):
        self._world = world
        self._running = running
        self._stalled = stalled

    def leader(self, app: Application) -> str | None:
        """The unit holding ``app``'s lease now, if any."""
        lease = app.lease
        now = self._world.clock.now
        return lease.holder if lease.holder and lease.held_by(lease.holder, now) else None

    def claim(self, app: Application, unit: Unit) -> None:
        """``unit``'s agent claims ``app``'s lease; a new holder runs leader-elected."""
        previous = app.lease.holder
        if app.lease.claim(unit.name, self._world.clock.now) and previous != unit.name:
            unit.leader_notified = False
            if previous is not None and previous in app.units:
                app.units[previous].leader_notified = False
                app.units[previous].settings_pending = True
            self._world.trace.record(
                'leader', f'{unit.name} is leader of {app.name}', unit=unit.name, app=app.name
            )

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
        if now - running.leader_checked_at > OPS_LEADER_CACHE:
            # Once Juju has said False in a hook it says False until the hook ends: the hook
            # context remembers it is a minion (juju internal/worker/uniter/runner/context/
            # leader.go ensureLeader, isMinion).
            running.leader = not running.minion and app.lease.held_by(unit, now)
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
        """When leases next change: a dead or stalled leader's expiry, a live one's renewal."""
        times: list[float] = []
        for app in self._world.apps.values():
            holder = app.units.get(app.lease.holder or '')
            renewing = holder is not None and holder.alive and not self._stalled(holder.name)
            if app.lease.holder is not None and not renewing:
                times.append(app.lease.expiry)  # a dead or stalled leader's lease runs out
            elif include_periodic and renewing:
                times.append(app.lease.next_renewal())
        return times

    def fire(self) -> None:
        """Live holders renew; a free lease goes to one of the live agents that claim it."""
        world = self._world
        now = world.clock.now
        for app in world.apps.values():
            holder = app.units.get(app.lease.holder or '')
            if holder is not None and holder.alive and not self._stalled(holder.name):
                app.lease.kept_by(holder.name, now)
            if app.lease.free(now):
                # Every live agent tries to claim; which claim lands first is a race
                # (worker/leadership/tracker.go): the seeded choice decides.
                # A Dying unit does not accept leadership (juju internal/worker/uniter/
                # leadership/resolver.go: canAcceptLeader is false when Dying).
                candidates = [
                    u
                    for _, u in sorted(app.units.items())
                    if u.alive and not u.dying and not self._stalled(u.name)
                ]
                if candidates:
                    self.claim(app, world.rng.choice(candidates))
