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

from . import _errors, _json, _validation

DATA_KEY = 'ledger.json'
"""The ConfigMap data key that holds the ledger."""

FORMAT = 1
"""The ledger's format version; a ledger of another version is refused as corrupt.

Fields added since (``app``, ``fence_pending``, ``target``) are optional when read: a
ledger written before them has none, and reads as no app recorded, no fence pending and
no target.
"""

MAX_BYTES = 1024 * 1024
"""The most a ConfigMap's data can hold: the API server refuses more with 422.

kubernetes/kubernetes ``pkg/apis/core/validation/validation.go``, ``ValidateConfigMap``:
the byte lengths of every ``data`` and ``binaryData`` value summed, against
``core.MaxSecretSize`` (``pkg/apis/core/types.go``, ``1 * 1024 * 1024``).
"""


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
        writer: the writer (the unit) that last claimed the ledger.
        epoch: incremented by each claim; written as the fence annotation's value.
        open: a write batch by ``writer`` may be in flight: its object writes may still
            land, so a new writer must fence the objects before trusting what it reads.
        fence_pending: a writer claimed the ledger from another whose batch was open, and
            not every object has been fenced at ``epoch`` since: an earlier writer's
            object writes may still land. Until a batch that fences every object
            completes, any writer (the claimer's own next process too) fences every
            object, and the entries keep every value listed when the claim was made.
        app: the application whose objects the ledger describes ('' in a ledger written
            before this was recorded); a ledger of another application is refused.
        legacy: the upstream library's ConfigMap, adopted but not yet deleted.
        target: the labels the open batch is applying (None once it is closed): a writer
            that finds the batch cut short can finish it even when the data it is asked
            for now cannot be applied.
        template: entries for the StatefulSet's pod template.
        service: entries for the Service.
        pods: pod name to record, for pods whose entries differ from the template's
            (a pod without a record inherits the template's entries: it was created
            from the template).
    """

    writer: str = ''
    epoch: int = 0
    open: bool = False
    fence_pending: bool = False
    app: str = ''
    legacy: str | None = None
    target: Mapping[str, str] | None = None
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
        'app': ledger.app,
        'writer': ledger.writer,
        'epoch': ledger.epoch,
        'open': ledger.open,
        'fence_pending': ledger.fence_pending,
        'legacy': ledger.legacy,
        'target': None if ledger.target is None else dict(sorted(ledger.target.items())),
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
    doc = reader.json(text, f'data[{DATA_KEY!r}]')
    root = reader.mapping(doc, 'ledger')
    found = root.get('format')
    if found != FORMAT:
        raise reader.error(f'field "format" is {_errors.shown(found)}, expected {FORMAT}')
    epoch = root.get('epoch')
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise reader.error(
            f'field "epoch" must be a non-negative integer, not {_errors.shown(epoch)}'
        )
    legacy = root.get('legacy')
    if legacy is not None and not isinstance(legacy, str):
        raise reader.error(f'field "legacy" must be a string or null, not {_errors.shown(legacy)}')
    open_ = reader.boolean(root.get('open'), 'open')
    fence_pending = reader.boolean(root.get('fence_pending', False), 'fence_pending')
    target = root.get('target')
    pods: dict[str, PodRecord] = {}
    for name, raw in reader.mapping(root.get('pods'), 'pods').items():
        where = f'pods[{_errors.shown(name)}]'
        record = reader.mapping(raw, where)
        uid = record.get('uid')
        if not isinstance(uid, str):
            raise reader.error(f'field "{where}.uid" must be a string')
        pods[name] = PodRecord(uid, reader.entries(record.get('labels'), f'{where}.labels'))
    return Ledger(
        writer=reader.string(root.get('writer'), 'writer'),
        epoch=epoch,
        open=open_,
        fence_pending=fence_pending,
        app=reader.string(root.get('app', ''), 'app'),
        legacy=legacy,
        target=None if target is None else reader.labels(target, 'target', where='"target"'),
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
    doc = reader.json(text, 'data["labels"]')
    return reader.labels(doc, 'labels', where='data["labels"]')


def _label_problem(key: str, value: str) -> str | None:
    return (
        _validation.key_problem(key)
        or _validation.reserved_problem(key)
        or _validation.value_problem(value)
    )


class _Reader:
    """Field checks that raise :class:`LedgerCorruptError` naming the ConfigMap."""

    def __init__(self, configmap: str):
        self.configmap = configmap

    def error(self, message: str) -> _errors.LedgerCorruptError:
        return _errors.LedgerCorruptError(
            self.configmap,
            f'ConfigMap {self.configmap} is corrupt: {message}; fix or delete it',
        )

    def json(self, text: str, field: str) -> object:
        try:
            return _json.loads(text)
        except _json.TooDeepError as e:
            raise self.error(f'{field} is {e}') from None
        except ValueError:
            raise self.error(f'{field} is not valid JSON') from None

    def boolean(self, value: object, field: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(f'field "{field}" must be a boolean, not {_errors.shown(value)}')
        return value

    def mapping(self, value: object, field: str) -> dict[str, object]:
        if not isinstance(value, dict):
            raise self.error(f'field "{field}" must be a JSON object')
        return typing.cast('dict[str, object]', value)

    def string(self, value: object, field: str) -> str:
        if not isinstance(value, str):
            raise self.error(f'field "{field}" must be a string')
        return value

    def labels(self, value: object, field: str, *, where: str) -> dict[str, str]:
        """Labels the library would write: as strict as relation data."""
        result: dict[str, str] = {}
        for key, item in self.mapping(value, field).items():
            if not isinstance(item, str) or _label_problem(key, item):
                raise self.error(
                    f'label {_errors.shown(key)} in {where} is not a valid label, or is reserved'
                )
            result[key] = item
        return result

    def entries(self, value: object, field: str) -> dict[str, Entry]:
        result: dict[str, Entry] = {}
        for key, raw in self.mapping(value, field).items():
            where = f'{field}[{_errors.shown(key)}]'
            # As strict as relation data: an entry for a reserved key would have the
            # library delete or restore Juju's selector label.
            problem = _validation.key_problem(key) or _validation.reserved_problem(key)
            if problem:
                raise self.error(f'{where}: label key {problem}')
            entry = self.mapping(raw, where)
            values = entry.get('values')
            if not isinstance(values, list) or not values:
                raise self.error(f'{where}.values must be a non-empty list of label values')
            checked: set[str] = set()
            for item in typing.cast('list[object]', values):
                if not isinstance(item, str) or _validation.value_problem(item):
                    raise self.error(
                        f'{where}.values holds {_errors.shown(item)}, not a label value'
                    )
                checked.add(item)
            foreign = entry.get('foreign')
            if foreign is not None and (
                not isinstance(foreign, str) or _validation.value_problem(foreign)
            ):
                raise self.error(f'{where}.foreign must be a label value or null')
            result[key] = Entry(frozenset(checked), foreign)
        return result
