"""Watch: every change to the store, streamed to each watcher from a resourceVersion on.

The semantics are the API server's watch cache (``staging/src/k8s.io/apiserver/pkg/storage/
cacher/cacher.go`` ``Watch`` and ``watch_cache.go`` ``getAllEventsSinceLocked``) and
https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes:

- no ``resourceVersion`` or ``"0"``: an ``ADDED`` event for every object that exists now,
  then every change;
- ``resourceVersion=N``: every change after N, replayed from a bounded history; when N is
  older than the history holds, one ``ERROR`` event carrying a 410 ``Expired`` Status (the
  cacher answers ``newErrWatcher(err)``, not an HTTP error, "to match the uncached watch
  implementation"), and the client lists again;
- a label selector sees an object that stops matching as ``DELETED`` and one that starts
  matching as ``ADDED`` (``cacheWatcher.convertToWatchEvent``).

Nothing here holds the fake API's lock while a watcher waits: events are queued under the
lock by the store's observer and read by the watcher's own thread, so a watch never delays a
request (nor the simulator's gate, which releases units' requests through the same lock).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import queue
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from . import _json, _labels, _store

DEFAULT_HISTORY = 10_000
"""Changes kept for replay (the watch cache keeps a window of events too; older: 410)."""

DEFAULT_TIMEOUT = 1800.0
"""A watch without ``timeoutSeconds`` ends after this long (the real server: 30-60 min)."""

MAX_BACKLOG = 10_000
"""Events a watcher may fall behind by before its watch is ended (the cacher's full buffer)."""

IDLE_TICK = 0.5
"""Seconds between "still there?" checks of an idle watch."""

Filter = Callable[[_json.Obj], bool]


def _labels_of(obj: _json.Obj) -> dict[str, str]:
    return _json.str_map(_json.dig(obj, 'metadata', 'labels'))


@dataclasses.dataclass(eq=False)
class _Watcher:
    kind: str
    namespace: str | None
    selector: _labels.Selector
    fields: Filter
    events: queue.SimpleQueue[tuple[str, _json.Obj] | None] = dataclasses.field(
        default_factory=queue.SimpleQueue[tuple[str, _json.Obj] | None]
    )
    backlog: int = 0

    def wants(self, event: _store.Event) -> bool:
        return event.kind == self.kind and (
            self.namespace is None or event.namespace == self.namespace
        )

    def visible(self, obj: _json.Obj) -> bool:
        return self.selector.matches(_labels_of(obj)) and self.fields(obj)


class WatchHub:
    """The store's recent history and its open watches (fed under the fake API's lock).

    Args:
        history: how many changes are kept for a watch that starts in the past.
    """

    def __init__(self, history: int = DEFAULT_HISTORY):
        self._history: collections.deque[tuple[int, _store.Event, _json.Obj | None]] = (
            collections.deque()
        )
        self._limit = history
        self._compacted = 0  # the resourceVersion of the newest change dropped from history
        self._previous: dict[tuple[str, str, str], _json.Obj] = {}
        self._watchers: set[_Watcher] = set()
        self._lock = threading.Lock()  # guards _watchers: taken briefly, never while waiting

    @property
    def open_watches(self) -> int:
        """How many watches are open now."""
        with self._lock:
            return len(self._watchers)

    def record(self, event: _store.Event) -> None:
        """The store's observer: remember the change and queue it for every watcher."""
        key = (event.kind, event.namespace, event.name)
        previous = self._previous.pop(key, None)
        if event.type != 'DELETED':
            self._previous[key] = event.object
        rv = int(str(_json.dig(event.object, 'metadata', 'resourceVersion') or 0))
        self._history.append((rv, event, previous))
        while len(self._history) > self._limit:
            self._compacted = self._history.popleft()[0]
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            if watcher.wants(event):
                self._deliver(watcher, event, previous)

    @staticmethod
    def _translate(
        watcher: _Watcher, event: _store.Event, previous: _json.Obj | None
    ) -> tuple[str, _json.Obj] | None:
        now = watcher.visible(event.object)
        before = previous is not None and watcher.visible(previous)
        if event.type == 'DELETED':
            return ('DELETED', event.object) if now else None
        if now and before:
            return ('MODIFIED', event.object)
        if now:
            return ('ADDED', event.object)
        if before:
            return ('DELETED', event.object)
        return None

    def _deliver(self, watcher: _Watcher, event: _store.Event, previous: _json.Obj | None) -> None:
        translated = self._translate(watcher, event, previous)
        if translated is None:
            return
        if watcher.backlog >= MAX_BACKLOG:
            watcher.events.put(None)  # too far behind: end the watch; the client re-lists
            return
        watcher.backlog += 1
        watcher.events.put(translated)

    def open(
        self,
        *,
        kind: str,
        namespace: str | None,
        resource_version: str | None,
        selector: _labels.Selector,
        fields: Filter,
        current: Callable[[], list[_json.Obj]],
    ) -> tuple[_Watcher, list[tuple[str, _json.Obj]]] | int:
        """Register a watcher; return it with the events to send first.

        Call under the fake API's lock, so that no change falls between the replay and the
        registration. Returns the compacted resourceVersion instead when
        ``resource_version`` is older than the history holds (410).
        """
        watcher = _Watcher(kind=kind, namespace=namespace, selector=selector, fields=fields)
        initial: list[tuple[str, _json.Obj]] = []
        if resource_version in (None, '', '0'):
            initial = [('ADDED', _json.deep_copy(o)) for o in current() if watcher.visible(o)]
        else:
            since = int(str(resource_version))
            if since < self._compacted:
                return self._compacted
            for rv, event, previous in self._history:
                if rv > since and watcher.wants(event):
                    translated = self._translate(watcher, event, previous)
                    if translated is not None:
                        initial.append(translated)
        with self._lock:
            self._watchers.add(watcher)
        return watcher, initial

    def close(self, watcher: _Watcher) -> None:
        """Forget ``watcher`` (its stream has ended)."""
        with self._lock:
            self._watchers.discard(watcher)

    def stream(
        self,
        watcher: _Watcher,
        initial: list[tuple[str, _json.Obj]],
        *,
        timeout: float,
        render: Callable[[_json.Obj], Any],
    ) -> Generator[bytes, None, None]:
        """The watch's body: one JSON event per line; ``b''`` while idle (see ApiResponse)."""
        deadline = time.monotonic() + timeout
        try:
            for type_, obj in initial:
                yield _line(type_, render(obj))
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                try:
                    item = watcher.events.get(timeout=min(IDLE_TICK, remaining))
                except queue.Empty:
                    yield b''
                    continue
                if item is None:
                    return
                watcher.backlog -= 1
                yield _line(item[0], render(item[1]))
        finally:
            self.close(watcher)


def _line(type_: str, obj: Any) -> bytes:
    # watch.Event as metav1.WatchEvent serialises it: {"type": ..., "object": ...}\n.
    return json.dumps({'type': type_, 'object': obj}).encode() + b'\n'


def expired(resource_version: str, compacted: int) -> Generator[bytes, None, None]:
    """The one-event stream of a watch from a compacted resourceVersion (410 Expired)."""
    # watch_cache.go: errors.NewResourceExpired("too old resource version: %d (%d)").
    yield _line(
        'ERROR',
        {
            'kind': 'Status',
            'apiVersion': 'v1',
            'metadata': {},
            'status': 'Failure',
            'message': f'too old resource version: {resource_version} ({compacted})',
            'reason': 'Expired',
            'code': 410,
        },
    )
