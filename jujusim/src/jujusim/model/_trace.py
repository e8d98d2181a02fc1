"""The model's journal: structured events, of which the text trace is one rendering.

Each event carries the virtual time, the unit it concerns (if any), a kind and the facts as
fields; :attr:`TraceEvent.text` is the line a person reads. A seed replays the journal byte
for byte, so no event holds a wall-clock figure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ._clock import VirtualClock


@dataclasses.dataclass(frozen=True, kw_only=True)
class TraceEvent:
    """One thing that happened in the model."""

    time: float
    kind: str  # e.g. 'hook-start', 'hook-done', 'request', 'pod-started', 'operator'
    unit: str | None
    text: str
    fields: Mapping[str, Any] = dataclasses.field(default_factory=dict[str, Any])

    def render(self) -> str:
        """The event as one line of the text trace: the time, then the text."""
        return f'{self.time:8.1f}  {self.text}'


class Trace:
    """Every event of a run, in order, and their text lines beside them."""

    def __init__(self, clock: VirtualClock):
        self._clock = clock
        self.events: list[TraceEvent] = []
        self.lines: list[str] = []
        self._listeners: list[Callable[[TraceEvent], None]] = []

    def record(self, kind: str, text: str, *, unit: str | None = None, **fields: Any) -> None:
        """Record an event at the current virtual time."""
        event = TraceEvent(time=self._clock.now, kind=kind, unit=unit, text=text, fields=fields)
        self.events.append(event)
        self.lines.append(event.render())
        for listener in self._listeners:
            listener(event)

    def subscribe(self, listener: Callable[[TraceEvent], None]) -> Callable[[], None]:
        """Call ``listener`` with each event from now on; return a function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
