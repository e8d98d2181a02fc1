"""The virtual clock that drives leases, retries and update-status; nothing sleeps."""

from __future__ import annotations


class VirtualClock:
    """Seconds since the model started; moves only when the simulator moves it."""

    def __init__(self, start: float = 0.0):
        self._now = start

    @property
    def now(self) -> float:
        """The current virtual time in seconds."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (never back) and return the new time."""
        if seconds < 0:
            raise ValueError(f'the clock cannot go back ({seconds} s)')
        self._now += seconds
        return self._now

    def advance_to(self, when: float) -> float:
        """Move the clock forward to ``when`` if that is later than now."""
        self._now = max(self._now, when)
        return self._now
