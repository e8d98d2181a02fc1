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

# Every kind of event: when it is recorded, and the fields it carries besides time, unit
# and text. Tests and the explorer match on these; the text is for people and may change.
KINDS: Mapping[str, tuple[str, str]] = {
    'operator': (
        'a juju command',
        'command (deploy, config, trust, integrate, remove-relation, remove-application, '
        'run), app or relation, and its arguments',
    ),
    'juju': (
        "Juju's own action on the cluster",
        "action ('rewrite-get', 'rewrite-statefulset', 'rewrite-statefulset-conflict', "
        "'scale'), app, resource_version (rewrite-get), units (scale)",
    ),
    'request': (
        "a unit's API request was applied",
        "request ('METHOD path?query'), method, resource (the kind), status",
    ),
    'hook-start': ('a hook started', 'hook (e.g. relation_changed(3, remote_unit=0)), leader'),
    'hook-done': ('a hook succeeded and committed', 'hook'),
    'hook-failed': (
        'a hook or action failed (a failed hook puts the unit in error)',
        'hook, failure_kind (a HookFailureKind), message, cause, api_errors, attempt',
    ),
    'is-leader': ('ops asked Juju is-leader again, its 30 s cache expired', 'answer'),
    'leader-abdicates': (
        "a forced leader change: the leader's agent stops renewing",
        'app, expiry, successor',
    ),
    'lease-expired': ("a leader's lease ran out unrenewed; unit is the old holder", 'app'),
    'leader-elected': ('a claim on the lease landed; unit is the new leader', 'app, previous'),
    'stall': ("a unit's agent stalls", 'seconds; request, method, resource when aimed at one'),
    'sleep': (
        "a unit's hook called time.sleep: it waits that long in virtual time, its agent "
        'still renewing its lease',
        'seconds',
    ),
    'kill': (
        'a planned SIGKILL',
        'request, method, resource, applied; status when applied; hook when before one',
    ),
    'pod-delete': ("a test deletes a unit's pod", 'graceful'),
    'pod-deleted': ("a unit's pod is gone, its agent SIGKILLed", ''),
    'pod-started': ("a unit's pod started a new agent", 'incarnation'),
    'grace-over': ("a terminating pod's grace period ended: SIGKILL", ''),
    'pod-terminating': ("a unit's pod was deleted gracefully: SIGTERM to its agent", 'grace'),
    'agent-exit': ("a terminating pod's unit had not started: its agent exits, no stop", ''),
    'unit-dying': ('a unit is being removed (a scale-down): it is Dying', ''),
    'unit-dead': ("a Dying unit's agent is done: the unit is Dead", ''),
    'unit-removed': ('a Dead unit left the model', ''),
    'worker-gone': ("a unit's worker died on its own", 'signal, exit_code'),
    'foreign-write': (
        'someone else wrote labels',
        'caller, object (Kind/name, or StatefulSet.template/name), labels (None removes a key)',
    ),
    'upstream-leftover': (
        "the upstream library's ConfigMap and labels were left behind",
        'app, configmap, labels',
    ),
    'api-error': ('errors injected for upcoming requests', 'status, count, verb, resource, name'),
    'api-outage': (
        "the API server answers every unit's request with an error for a while",
        'status, seconds',
    ),
    'kubectl': ('the admin ran kubectl', 'args, returncode'),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class TraceEvent:
    """One thing that happened in the model."""

    time: float
    kind: str  # one of KINDS
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
