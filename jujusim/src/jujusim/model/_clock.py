"""The virtual clock that drives leases, retries and update-status; nothing sleeps."""

from __future__ import annotations

from ._errors import ModelError

# The longest span a caller may ask the model to run: virtual time runs every timer due
# on the way (update-status every 5 minutes), so an absurd span would run for ever.
MAX_VIRTUAL_SECONDS = 86400.0  # a virtual day: past every lease, retry and grace period


def checked_seconds(what: str, seconds: float, *, zero: bool = False) -> float:
    """``seconds`` if the model can run that span, else a :class:`ModelError` about ``what``.

    A span is above 0 (or 0, with ``zero``) and at most :data:`MAX_VIRTUAL_SECONDS`.
    """
    number = not isinstance(seconds, bool) and isinstance(seconds, int | float)  # pyright: ignore[reportUnnecessaryIsInstance]
    low_ok = number and (seconds >= 0 if zero else seconds > 0)
    if not (low_ok and seconds <= MAX_VIRTUAL_SECONDS):
        low = '0' if zero else 'above 0'
        raise ModelError(
            f'{what}: {seconds!r} is not a number of seconds from {low} to '
            f'{MAX_VIRTUAL_SECONDS:.0f}'
        )
    return float(seconds)


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
