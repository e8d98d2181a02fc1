"""Everything due on the virtual clock.

Lease changes, hook retries, update-status, the end of a stall or of a grace period, and
the StatefulSet controller's next pod.
"""

from __future__ import annotations

from ._faults import Faults
from ._leadership import Leadership
from ._pods import Pods
from ._world import World

SETTLE_RETRIES = 4  # retries of a failing hook settle() waits for (5+10+20+40 s)


class Timers:
    """When the clock must next move to, and what fires when it gets there."""

    def __init__(self, world: World, *, leadership: Leadership, pods: Pods, faults: Faults):
        self._world = world
        self._leadership = leadership
        self._pods = pods
        self._faults = faults

    def next_due(self, *, include_periodic: bool) -> float | None:
        """The earliest future time something is due, or None.

        Periodic work (lease renewals, update-status, retries past :data:`SETTLE_RETRIES`)
        counts only with ``include_periodic``.
        """
        world = self._world
        now = world.clock.now
        times = self._leadership.due(include_periodic=include_periodic)
        for unit in world.units():
            # settle() waits for a few retries only: a unit still failing after them
            # is stuck in error, which the checks report.
            failure = unit.failure
            if (
                failure is not None
                and unit.alive
                and (include_periodic or failure.attempts < SETTLE_RETRIES)
            ):
                times.append(failure.retry_at)
            if include_periodic and unit.alive and unit.started:
                times.append(unit.next_update_status)
        times.extend(self._faults.due())
        times.extend(self._pods.due())
        future = [t for t in times if t > now]
        return min(future) if future else None

    def fire(self) -> None:
        """Act on what is due now: grace periods, stalls, then leases."""
        self._pods.fire()
        self._faults.fire()
        self._leadership.fire()
