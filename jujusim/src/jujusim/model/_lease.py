"""Juju's application leadership lease, on the virtual clock.

Sources (docs/design-notes.md, "Leadership"): the lease lasts 60 s, twice the 30 s
``LeadershipGuarantee``, and the holder's agent renews it when 30 s are left
(juju/juju ``worker/leadership/tracker.go``); ``is-leader`` true guarantees 30 s
(https://juju.is/docs/juju/leader, hook-commands/is-leader); the first claim on a free
lease wins, keyed by unit name; a stalled leader loses the lease while its hook still acts
as leader (https://juju.is/docs/sdk/leader-elected-event).
"""

from __future__ import annotations

import dataclasses

LEASE_DURATION = 60.0
RENEW_WHEN_LEFT = 30.0
LEADER_GUARANTEE = 30.0


@dataclasses.dataclass
class Lease:
    """The leadership lease of one application."""

    holder: str | None = None
    expiry: float = 0.0
    # False while the holder's agent renews no more (a forced leader change).
    renewing: bool = True

    def held_by(self, unit: str, now: float) -> bool:
        """Whether ``unit`` holds an unexpired lease at ``now``."""
        return self.holder == unit and now < self.expiry

    def answers_leader(self, unit: str, now: float) -> bool:
        """What ``is-leader`` answers ``unit`` at ``now``: True only with 30 s ahead.

        Juju's tracker answers True while more than 30 s of the lease are left; once its
        renewal is due it renews first, and answers False if that fails (juju
        ``worker/leadership/tracker.go``, ``Tracker.isLeader``: ``renewLease`` fired, then
        ``refresh``; a denied claim is ``setMinion``). A holder that renews no more
        (:attr:`renewing` False) cannot: so a True answer always holds for 30 s.
        """
        if not self.held_by(unit, now):
            return False
        return self.renewing or self.expiry - now > RENEW_WHEN_LEFT

    def free(self, now: float) -> bool:
        """Whether the lease can be claimed at ``now``."""
        return self.holder is None or now >= self.expiry

    def claim(self, unit: str, now: float) -> bool:
        """Claim a free lease for ``unit``; the first claim wins (tracker.go)."""
        if not self.free(now):
            return self.holder == unit
        self.holder = unit
        self.expiry = now + LEASE_DURATION
        self.renewing = True
        return True

    def renew(self, unit: str, now: float) -> bool:
        """Renew the lease if ``unit`` holds it and 30 s or less are left; True if renewed."""
        if not self.held_by(unit, now) or self.expiry - now > RENEW_WHEN_LEFT:
            return False
        self.expiry = now + LEASE_DURATION
        return True

    def kept_by(self, unit: str, now: float) -> None:
        """The holder's agent ran all along: it renewed every time 30 s were left.

        The model jumps its clock over renewal points; between two jumps nothing about the
        holder changes, so a holder alive and unstalled now renewed at each of them.
        """
        if self.holder != unit:
            return
        while self.expiry - now <= RENEW_WHEN_LEFT:
            self.expiry += RENEW_WHEN_LEFT

    def next_renewal(self) -> float:
        """When the holder's agent next renews (30 s before expiry)."""
        return self.expiry - RENEW_WHEN_LEFT
