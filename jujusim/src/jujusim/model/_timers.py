"""Everything due on the virtual clock.

Lease changes, hook retries, update-status, the end of a stall, of a hook's sleep or of a
grace period, the StatefulSet controller's next pod, and the restart of Juju's application
worker.
"""

from __future__ import annotations

import math

from ._faults import Faults
from ._hooks import Hooks
from ._leadership import Leadership
from ._pods import Pods
from ._provisioner import Provisioner
from ._world import World

# How long settle() keeps running Juju's retry backoff on a failing unit, in virtual
# seconds from the call: long enough for two retries at the 5 min cap, so that a cause
# removed before settle() is always retried away. A modelling bound, not Juju's (Juju
# retries for ever).
SETTLE_RETRY_BOUND = 600.0

# How long past its last counted retry (and past the end of any stall or held re-ensure a
# test asked for) settle() lets the model stay busy before calling it a livelock, in
# virtual seconds. A modelling bound too: the longest settle of the
# explorer's schedules for mesh-consumer measured 100 s (a 3-pod rollout with 30 s grace
# periods is about that), so this is only reached by charms that never settle, e.g. a
# library that puts controller-revision-hash on pods and fights the StatefulSet
# controller, each pod restarted for ever (about 220 virtual seconds every 1,000 steps).
SETTLE_BUSY_BOUND = 600.0


class Timers:
    """When the clock must next move to, and what fires when it gets there."""

    def __init__(
        self,
        world: World,
        *,
        hooks: Hooks,
        leadership: Leadership,
        pods: Pods,
        faults: Faults,
        provisioner: Provisioner,
    ):
        self._world = world
        self._hooks = hooks
        self._provisioner = provisioner
        self._leadership = leadership
        self._pods = pods
        self._faults = faults

    def next_due(
        self, *, include_periodic: bool, retry_until: float | None = None
    ) -> float | None:
        """The earliest future time something is due, or None.

        Periodic work (lease renewals, update-status) counts only with
        ``include_periodic``; without it, hook retries count up to ``retry_until``.
        """
        world = self._world
        now = world.clock.now
        times = self._leadership.due(include_periodic=include_periodic)
        for unit in world.units():
            # settle() runs Juju's backoff up to its bound: a unit still failing after
            # it is stuck in error, which the checks report.
            failure = unit.failure
            if (
                failure is not None
                and unit.alive
                and failure.retry_at != math.inf
                and (include_periodic or retry_until is None or failure.retry_at <= retry_until)
            ):
                times.append(failure.retry_at)
            if include_periodic and unit.alive and unit.started:
                times.append(unit.next_update_status)
        times.extend(self._faults.due())
        times.extend(self._hooks.wakes())
        times.extend(self._pods.due())
        times.extend(self._provisioner.due())  # a restarted application worker
        future = [t for t in times if t > now]
        return min(future) if future else None

    def fire(self) -> None:
        """Act on what is due now: grace periods, stalls, then leases."""
        self._pods.fire()
        self._faults.fire()
        self._leadership.fire()
