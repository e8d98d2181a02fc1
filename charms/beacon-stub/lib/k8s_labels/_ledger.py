"""The ledger: what an owner may have written on each object, kept in a ConfigMap.

The ledger is the library's only memory. It lives in the ConfigMap
``{app}-k8s-labels-{owner}`` under the data key ``ledger.json`` and records, per object
and label key, an :class:`Entry`: every value the owner may have written that may still
be on the object, and the value the key had before the owner took it over.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping

from . import _errors, _validation

DATA_KEY = 'ledger.json'
"""The ConfigMap data key that holds the ledger."""

FORMAT = 1
"""The ledger's format version; a ledger of another version is refused as corrupt."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """What the owner knows about one label key on one object.

    Attributes:
        values: every value the owner may have written to the key that may still be on
            the object. Several while a write batch is in flight (old and new); one once
            the batch is closed. A value in this set is treated as the owner's.
        foreign: the value the key had before the owner took it over, to give back on
            release; None if the key was absent (release deletes it).
    """

    values: frozenset[str]
    foreign: str | None = None


Entries = Mapping[str, Entry]
"""Label key to entry, for one object."""


@dataclasses.dataclass(frozen=True)
class PodRecord:
    """Entries for one pod, kept only where they differ from the template's.

    Attributes:
        uid: the pod's uid; a pod recreated under the same name has a new uid, and its
            labels come from the template again, so the record no longer applies.
        entries: label key to entry.
    """

    uid: str
    entries: Entries


@dataclasses.dataclass(frozen=True)
class Ledger:
    """One owner's ledger.

    Attributes:
        writer: the writer (unit and pod incarnation) that last claimed the ledger.
        epoch: incremented by each claim; written as the fence annotation's value.
        open: a write batch by ``writer`` may be in flight: its object writes may still
            land, so a new writer must fence the objects before trusting what it reads.
        legacy: the upstream library's ConfigMap, adopted but not yet deleted.
        template: entries for the StatefulSet's pod template.
        service: entries for the Service.
        pods: pod name to record, for pods whose entries differ from the template's
            (a pod without a record inherits the template's entries: it was created
            from the template).
    """

    writer: str = ''
    epoch: int = 0
    open: bool = False
    legacy: str | None = None
    template: Entries = dataclasses.field(default_factory=dict[str, Entry])
    service: Entries = dataclasses.field(default_factory=dict[str, Entry])
    pods: Mapping[str, PodRecord] = dataclasses.field(default_factory=dict[str, PodRecord])

    @property
    def empty(self) -> bool:
        """True if the ledger records no label on any object."""
        return not (self.template or self.service or self.pods)


def dumps(ledger: Ledger) -> str:
    """Serialise a ledger to the JSON text stored in the ConfigMap."""
    doc = {
        'format': FORMAT,
        'writer': ledger.writer,
        'epoch': ledger.epoch,
        'open': ledger.open,
        'legacy': ledger.legacy,
        'template': _dump_entries(ledger.template),
        'service': _dump_entries(ledger.service),
        'pods': {
            name: {'uid': record.uid, 'labels': _dump_entries(record.entries)}
            for name, record in sorted(ledger.pods.items())
        },
    }
    return json.dumps(doc, sort_keys=True, separators=(',', ':'))


def _dump_entries(entries: Entries) -> dict[str, object]:
    return {
        key: {'values': sorted(entry.values), 'foreign': entry.foreign}
        for key, entry in sorted(entries.items())
    }


def loads(text: str, *, configmap: str) -> Ledger:
    """Parse the ledger's JSON text, checking every field.

    Args:
        text: the ConfigMap's ``ledger.json``.
        configmap: ``namespace/name``, for error messages.

    Raises:
        LedgerCorruptError: naming the field at fault.
    """
    reader = _Reader(configmap)
    try:
        doc = json.loads(text)
    except ValueError:
        raise reader.error(f'data[{DATA_KEY!r}] is not valid JSON') from None
    root = reader.mapping(doc, 'ledger')
    if root.get('format') != FORMAT:
        raise reader.error(f'field "format" is {root.get("format")!r}, expected {FORMAT}')
    epoch = root.get('epoch')
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise reader.error(f'field "epoch" must be a non-negative integer, not {epoch!r}')
    legacy = root.get('legacy')
    if legacy is not None and not isinstance(legacy, str):
        raise reader.error(f'field "legacy" must be a string or null, not {legacy!r}')
    open_ = root.get('open')
    if not isinstance(open_, bool):
        raise reader.error(f'field "open" must be a boolean, not {open_!r}')
    pods: dict[str, PodRecord] = {}
    for name, raw in reader.mapping(root.get('pods'), 'pods').items():
        record = reader.mapping(raw, f'pods.{name}')
        uid = record.get('uid')
        if not isinstance(uid, str):
            raise reader.error(f'field "pods.{name}.uid" must be a string')
        pods[name] = PodRecord(uid, reader.entries(record.get('labels'), f'pods.{name}.labels'))
    return Ledger(
        writer=reader.string(root.get('writer'), 'writer'),
        epoch=epoch,
        open=open_,
        legacy=legacy,
        template=reader.entries(root.get('template'), 'template'),
        service=reader.entries(root.get('service'), 'service'),
        pods=pods,
    )


def loads_legacy(text: str | None, *, configmap: str) -> dict[str, str]:
    """Parse the upstream library's ConfigMap ``data.labels`` (a JSON object of strings).

    Raises:
        LedgerCorruptError: naming the field at fault.
    """
    reader = _Reader(configmap)
    if text is None:
        raise reader.error('has no data field "labels"')
    try:
        doc = json.loads(text)
    except ValueError:
        raise reader.error('data["labels"] is not valid JSON') from None
    labels = reader.mapping(doc, 'labels')
    result: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(value, str) or _label_problem(key, value):
            raise reader.error(f'label {key!r} in data["labels"] is not a valid label')
        result[key] = value
    return result


def _label_problem(key: str, value: str) -> str | None:
    return _validation.key_problem(key) or _validation.value_problem(value)


class _Reader:
    """Field checks that raise :class:`LedgerCorruptError` naming the ConfigMap."""

    def __init__(self, configmap: str):
        self.configmap = configmap

    def error(self, message: str) -> _errors.LedgerCorruptError:
        return _errors.LedgerCorruptError(
            self.configmap,
            f'ConfigMap {self.configmap} is corrupt: {message}; fix or delete it',
        )

    def mapping(self, value: object, field: str) -> dict[str, object]:
        if not isinstance(value, dict):
            raise self.error(f'field "{field}" must be a JSON object')
        return typing.cast('dict[str, object]', value)

    def string(self, value: object, field: str) -> str:
        if not isinstance(value, str):
            raise self.error(f'field "{field}" must be a string')
        return value

    def entries(self, value: object, field: str) -> dict[str, Entry]:
        result: dict[str, Entry] = {}
        for key, raw in self.mapping(value, field).items():
            where = f'{field}[{key!r}]'
            if _validation.key_problem(key):
                raise self.error(f'{where}: {key!r} is not a valid label key')
            entry = self.mapping(raw, where)
            values = entry.get('values')
            if not isinstance(values, list) or not values:
                raise self.error(f'{where}.values must be a non-empty list of label values')
            checked: set[str] = set()
            for item in typing.cast('list[object]', values):
                if not isinstance(item, str) or _validation.value_problem(item):
                    raise self.error(f'{where}.values holds {item!r}, not a label value')
                checked.add(item)
            foreign = entry.get('foreign')
            if foreign is not None and (
                not isinstance(foreign, str) or _validation.value_problem(foreign)
            ):
                raise self.error(f'{where}.foreign must be a label value or null')
            result[key] = Entry(frozenset(checked), foreign)
        return result
