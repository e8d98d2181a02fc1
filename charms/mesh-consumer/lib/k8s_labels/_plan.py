"""Planning: from the ledger, the desired labels and the objects read, the writes to make.

Pure functions, no I/O: :class:`LabelManager` reads, calls :func:`plan`, and carries the
plan out in the order the plan's docstring gives.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence

from . import _ledger


class Kind(enum.Enum):
    """The kinds of object the library labels."""

    TEMPLATE = 'template'
    """The StatefulSet's pod template (``spec.template.metadata.labels``)."""
    SERVICE = 'service'
    """The Service (``metadata.labels``)."""
    POD = 'pod'
    """One Pod (``metadata.labels``)."""


@dataclasses.dataclass(frozen=True)
class Observed:
    """An object as read, with the resourceVersion every write to it is conditional on.

    Attributes:
        kind: what the object is.
        name: its name (the StatefulSet's name for :attr:`Kind.TEMPLATE`).
        uid: its uid.
        resource_version: its resourceVersion when read.
        labels: the labels the library manages on it (for the StatefulSet, the pod
            template's).
        fence: the owner's fence annotation on the object when read ('' if none).
    """

    kind: Kind
    name: str
    uid: str
    resource_version: str
    labels: Mapping[str, str]
    fence: str = ''


@dataclasses.dataclass(frozen=True)
class Patch:
    """One conditional write to one object.

    Attributes:
        target: the object, with the resourceVersion the write is conditional on.
        labels: label key to new value; None deletes the key.
        fence: also set the owner's fence annotation to the ledger's epoch, so that
            writes conditional on an older resourceVersion (a stale writer's) fail.
    """

    target: Observed
    labels: Mapping[str, str | None]
    fence: bool


@dataclasses.dataclass(frozen=True)
class Plan:
    """The writes of one reconcile, carried out in this order.

    1. ``before`` (if set): the ledger, written before any object. It records every
       value that may be on each object once any subset of the patches has landed,
       marks a batch open with the labels it is applying, and claims the ledger for
       this writer.
    2. ``delete_legacy`` (if set): delete the upstream library's ConfigMap, now that the
       ledger holds what it recorded.
    3. ``patches``: the object writes, each conditional on the object's resourceVersion;
       the pod template last, because changing it starts a rollout that replaces the
       pods (and their resourceVersions) under the other writes.
    4. ``after`` (if set): the compacted ledger: exactly the values now on the objects,
       entries for released keys dropped, the batch closed.

    Attributes:
        before: the write-ahead ledger, or None when no object is written.
        delete_legacy: the name of the upstream ConfigMap to delete, or None.
        patches: the object writes.
        after: the final ledger, or None when the ledger read is already final.
    """

    before: _ledger.Ledger | None
    delete_legacy: str | None
    patches: tuple[Patch, ...]
    after: _ledger.Ledger | None

    @property
    def writes(self) -> int:
        """How many API writes the plan makes."""
        return (
            (self.before is not None)
            + (self.delete_legacy is not None)
            + len(self.patches)
            + (self.after is not None)
        )


@dataclasses.dataclass(frozen=True)
class KeyPlan:
    """The plan for one label key on one object.

    Attributes:
        write: whether the object must be written for this key.
        value: the value to write (None deletes the key); meaningful if ``write``.
        before: the key's entry in the write-ahead ledger (None: no entry).
        after: the key's entry in the final ledger (None: no entry).
    """

    write: bool
    value: str | None
    before: _ledger.Entry | None
    after: _ledger.Entry | None


def plan_key(entry: _ledger.Entry | None, current: str | None, desired: str | None) -> KeyPlan:
    """Plan one key on one object.

    A value on the object is the owner's if the entry lists it; anything else (another
    value, or the key absent while an entry exists) was put there by someone else.

    Args:
        entry: the key's entry in the ledger for this object, if any.
        current: the key's value on the object, None if absent.
        desired: the desired value, None if the key is not desired.
    """
    ours = entry is not None and current is not None and current in entry.values
    if desired is not None:
        if current == desired:
            if entry is None:
                # Already right, and not ours: nothing to record, nothing to give back.
                return KeyPlan(False, None, None, None)
            # Ours, or someone else's equal value: either way the last foreign value to
            # give back is the one it would have if we had never written it.
            foreign = entry.foreign if ours else current
            kept = _ledger.Entry(frozenset({desired}), foreign)
            return KeyPlan(False, None, kept, kept)
        # Add, change or take over. Record both the value there now (if ours) and the
        # new one: a kill leaves either on the object.
        foreign = entry.foreign if ours and entry is not None else current
        values = {desired, current} if ours and current is not None else {desired}
        return KeyPlan(
            True,
            desired,
            _ledger.Entry(frozenset(values), foreign),
            _ledger.Entry(frozenset({desired}), foreign),
        )
    if entry is None or current is None or not ours or current == entry.foreign:
        # Nothing recorded; or someone else changed or removed it (it is theirs now); or
        # giving back the foreign value changes nothing: no entry, no write.
        return KeyPlan(False, None, None, None)
    # Release: give the foreign value back (or delete the key). Until the batch closes
    # the entry must still cover the value there now.
    return KeyPlan(True, entry.foreign, _ledger.Entry(frozenset({current}), entry.foreign), None)


def plan(
    ledger: _ledger.Ledger | None,
    desired: Mapping[str, str],
    objects: Sequence[Observed],
    *,
    writer: str,
    legacy: tuple[str, Mapping[str, str]] | None = None,
    app: str = '',
    key_planner: Callable[[_ledger.Entry | None, str | None, str | None], KeyPlan] = plan_key,
) -> Plan:
    """Plan a reconcile.

    Args:
        ledger: the ledger read, None if it does not exist.
        desired: the desired labels (already validated).
        objects: the objects read: exactly one :attr:`Kind.TEMPLATE`, at most one
            :attr:`Kind.SERVICE`, any number of :attr:`Kind.POD` (terminating pods
            left out).
        writer: this writer's identity.
        legacy: the upstream library's ConfigMap name and its labels, read because the
            ledger does not exist; its keys are adopted as the owner's wherever an object
            still holds the value it records.
        app: the application, recorded in the ledgers written ('' keeps the ledger's).
        key_planner: plans one key (:func:`plan_key`; tests substitute broken variants).

    Returns:
        The plan; ``Plan.writes == 0`` when nothing needs to change.
    """
    template = _one(objects, Kind.TEMPLATE)
    base = ledger if ledger is not None else _adopt(legacy, objects)
    claim = ledger is None or base.writer != writer
    # Fence every object if another writer's batch may still be in flight: the previous
    # writer's batch was open when this one claims, or an earlier claim's fence was never
    # finished (by any process, this unit's own earlier one included).
    fence = (claim and base.open) or base.fence_pending
    epoch = base.epoch + 1 if claim else base.epoch

    # Entries per object, by index into ``objects``.
    before: list[dict[str, _ledger.Entry]] = []
    after: list[dict[str, _ledger.Entry]] = []
    patches: list[Patch] = []
    for obj in objects:
        entries = _entries_for(base, obj)
        changes: dict[str, str | None] = {}
        before.append({})
        after.append({})
        for key in sorted(set(entries) | set(desired)):
            key_plan = key_planner(entries.get(key), obj.labels.get(key), desired.get(key))
            if key_plan.write:
                changes[key] = key_plan.value
            before_entry = key_plan.before
            if fence and key in entries:
                # Until this batch has fenced every object, an earlier writer may still
                # land any value the ledger listed: keep them all as the owner's.
                before_entry = _union(before_entry, entries[key])
            if before_entry is not None:
                before[-1][key] = before_entry
            if key_plan.after is not None:
                after[-1][key] = key_plan.after
        if changes or fence:
            patches.append(Patch(obj, changes, fence))
    patches.sort(key=lambda p: p.target.kind is Kind.TEMPLATE)

    template_index = objects.index(template)
    service_index = next((i for i, o in enumerate(objects) if o.kind is Kind.SERVICE), None)

    def build(entries: list[dict[str, _ledger.Entry]], *, open_: bool) -> _ledger.Ledger:
        # The write-ahead ledger of a fencing batch keeps the fence pending: the batch
        # may be cut short before every object is fenced. Only its final ledger, written
        # once every fence has landed, clears it.
        template_entries = entries[template_index]
        pods = {
            obj.name: _ledger.PodRecord(obj.uid, entries[i])
            for i, obj in enumerate(objects)
            if obj.kind is Kind.POD and entries[i] != template_entries
        }
        return _ledger.Ledger(
            writer=writer,
            epoch=epoch,
            open=open_,
            fence_pending=fence and open_,
            app=app or base.app,
            legacy=base.legacy if open_ else None,
            target=dict(desired) if open_ else None,
            template=template_entries,
            # Keep the Service's entries if it could not be read (it will be back).
            service=entries[service_index] if service_index is not None else base.service,
            pods=pods,
        )

    final = build(after, open_=False)
    if patches or base.legacy:
        return Plan(build(before, open_=True), base.legacy, tuple(patches), final)
    if ledger is not None and final == _prune(ledger, objects):
        return Plan(None, None, (), None)
    return Plan(None, None, (), final)


def _one(objects: Sequence[Observed], kind: Kind) -> Observed:
    found = [o for o in objects if o.kind is kind]
    if len(found) != 1:
        raise ValueError(f'expected exactly one {kind.value} object, got {len(found)}')
    return found[0]


def _entries_for(ledger: _ledger.Ledger, obj: Observed) -> _ledger.Entries:
    if obj.kind is Kind.TEMPLATE:
        return ledger.template
    if obj.kind is Kind.SERVICE:
        return ledger.service
    record = ledger.pods.get(obj.name)
    if record is not None and record.uid == obj.uid:
        return record.entries
    # No record, or one for an earlier pod of that name: this pod was created from the
    # template, so what may be ours on it is what may be ours on the template.
    return ledger.template


def _union(entry: _ledger.Entry | None, kept: _ledger.Entry) -> _ledger.Entry:
    """``entry`` with ``kept``'s values added (``kept`` itself when there is no entry)."""
    if entry is None:
        return kept
    return _ledger.Entry(entry.values | kept.values, entry.foreign)


def _prune(ledger: _ledger.Ledger, objects: Sequence[Observed]) -> _ledger.Ledger:
    """The ledger without records of pods that no longer exist (no write for those)."""
    live = {(o.name, o.uid) for o in objects if o.kind is Kind.POD}
    pods = {n: r for n, r in ledger.pods.items() if (n, r.uid) in live}
    return dataclasses.replace(ledger, pods=pods)


def _adopt(
    legacy: tuple[str, Mapping[str, str]] | None, objects: Sequence[Observed]
) -> _ledger.Ledger:
    """A starting ledger from the upstream library's ConfigMap, if there is one.

    The upstream library records keys and values, not what they replaced, and deletes
    a key on release: adopt each key where the template or Service still holds its
    value, with nothing to give back.
    """
    if legacy is None:
        return _ledger.Ledger()
    name, labels = legacy

    def adopt(obj: Observed) -> dict[str, _ledger.Entry]:
        return {
            key: _ledger.Entry(frozenset({value}))
            for key, value in labels.items()
            if obj.labels.get(key) == value
        }

    template = adopt(_one(objects, Kind.TEMPLATE))
    service = [adopt(o) for o in objects if o.kind is Kind.SERVICE]
    return _ledger.Ledger(legacy=name, template=template, service=service[0] if service else {})
