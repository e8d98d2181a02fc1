"""A settled model's state as data, and putting a model back into it.

The state lives in the model's parts (the controller's world, each component's own
bookkeeping, the fake API's store, watch history, request log and injected errors, the
virtual clock, the scheduler's random state, the trace) and in each live worker's
unit-local state (StoredState, deferred events), which the agent pool mirrors. A snapshot
copies every attribute of every part, except the machinery that is not state (threads,
locks, sockets, the agent pool, the servers, listeners), which :data:`NOT_STATE` names.
References from one part to another become :class:`PartRef` placeholders, so a snapshot
is plain data and restoring it re-links them to the live parts. Any new attribute of a
part is state unless listed there: a deep copy either takes it or fails loudly on it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..agent import AgentPool, LocalState

# Per part, its attributes that are machinery, not state: kept as they are by a restore.
NOT_STATE: Mapping[str, frozenset[str]] = {
    # The infrastructure a restore keeps: processes, servers, temp dir, subscriptions.
    'model': frozenset({'_tmp', 'pool', 'server', '_admin', '_unsubscribe', '_closed'}),
    'trace': frozenset({'_listeners'}),  # who listens is the caller's business, not the run's
    'gate': frozenset({'_arrived'}),  # a queue of requests in flight: empty when settled
    'kube': frozenset({'lock', '_settler'}),
    'store': frozenset({'observers'}),  # the model's subscription (kept) and any watcher's
    'watches': frozenset({'_watchers', '_lock'}),  # open watch connections and their lock
    # A cache of the StatefulSet controller's next actions, valid while nobody else
    # writes; without it the controller reads the store afresh (kube._controller.step).
    'controller': frozenset({'_cached'}),
    # Killed workers whose end is not yet reported: processes, which a restore ends.
    'hooks': frozenset({'_killed'}),
}
# What a restore sets those of them that belong to the processes it ends to.
_FRESH: Mapping[tuple[str, str], Callable[[], Any]] = {
    ('controller', '_cached'): lambda: None,
    ('hooks', '_killed'): set[tuple[str, int]],
}
# Parts whose attributes are not copied at all: references to them stay references.
MACHINERY = frozenset({'pool', 'server', 'admin'})


@dataclasses.dataclass(frozen=True)
class PartRef:
    """Where a snapshot refers to one of the model's parts (re-linked on restore)."""

    name: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Snapshot:
    """A settled model's state, as data.

    Attributes:
        origin: the model that took it; only that model restores it (its units'
            kubeconfig files and tokens belong to its server).
        parts: per part, each attribute's value, references to parts as :class:`PartRef`.
        refs: the placeholders used in ``parts``, by part name.
        workers: per unit with a live worker, its environment and unit-local state.
    """

    origin: str
    parts: Mapping[str, Mapping[str, Any]]
    refs: Mapping[str, PartRef]
    workers: Mapping[str, tuple[Mapping[str, str], LocalState]]


def take(origin: str, parts: Mapping[str, object], pool: AgentPool) -> Snapshot:
    """Copy the state of ``parts`` and of the pool's live workers."""
    refs = {name: PartRef(name) for name in parts}
    memo: dict[int, Any] = {id(part): refs[name] for name, part in parts.items()}
    state = {
        name: {
            attr: value
            for attr, value in vars(part).items()
            if attr not in NOT_STATE.get(name, frozenset())
        }
        for name, part in parts.items()
        if name not in MACHINERY
    }
    copied = copy.deepcopy(state, memo)
    workers: dict[str, tuple[Mapping[str, str], LocalState]] = {}
    for unit in pool.units:
        process = pool.process(unit)
        assert process is not None  # noqa: S101 - pool.units lists live workers
        workers[unit] = (dict(process.env), pool.local_state(unit))
    return Snapshot(origin=origin, parts=copied, refs=refs, workers=workers)


def restore(snapshot: Snapshot, parts: Mapping[str, object]) -> None:
    """Put ``snapshot``'s state into ``parts`` (the live parts of the model that took it)."""
    memo: dict[int, Any] = {id(snapshot.refs[name]): part for name, part in parts.items()}
    state = copy.deepcopy(dict(snapshot.parts), memo)
    for name, attrs in state.items():
        part = parts[name]
        for attr, value in attrs.items():
            setattr(part, attr, value)
    for (name, attr), value in _FRESH.items():
        setattr(parts[name], attr, value())
