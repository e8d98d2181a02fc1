"""The request log: every request with its caller, and read/write counts per caller."""

from __future__ import annotations

import dataclasses

from . import _rbac


@dataclasses.dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One request, as answered (or lost).

    Attributes:
        seq: position in the log, from 0.
        caller: the caller's name (``anonymous`` without a known token).
        verb: get, list, create, update, patch, delete, deletecollection.
        kind: the object kind ('' for an unknown path).
        namespace: the namespace ('' for cluster scope).
        name: the object name ('' for collections).
        status: the HTTP status sent (or that would have been sent, if lost).
        applied: whether a write changed the store (False for reads and no-op writes).
        lost: whether the response was dropped after applying (a fault).
        fault: whether an injected fault decided the answer.
    """

    seq: int
    caller: str
    verb: str
    kind: str
    namespace: str
    name: str
    status: int
    applied: bool = False
    lost: bool = False
    fault: bool = False

    @property
    def is_write(self) -> bool:
        """Whether the verb writes."""
        return self.verb in _rbac.WRITE_VERBS


@dataclasses.dataclass(frozen=True)
class RequestCounts:
    """How many reads and writes a caller sent (whatever their answer)."""

    reads: int = 0
    writes: int = 0


class RequestLog:
    """Every request the API answered, in order."""

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []

    def add(
        self,
        *,
        caller: str,
        verb: str,
        kind: str,
        namespace: str,
        name: str,
        status: int,
        applied: bool = False,
        lost: bool = False,
        fault: bool = False,
    ) -> LogEntry:
        """Append an entry and return it."""
        entry = LogEntry(
            seq=len(self._entries),
            caller=caller,
            verb=verb,
            kind=kind,
            namespace=namespace,
            name=name,
            status=status,
            applied=applied,
            lost=lost,
            fault=fault,
        )
        self._entries.append(entry)
        return entry

    def entries(self, caller: str | None = None) -> list[LogEntry]:
        """The entries, all or of one caller."""
        if caller is None:
            return list(self._entries)
        return [e for e in self._entries if e.caller == caller]

    def counts(self, caller: str) -> RequestCounts:
        """Reads and writes sent by ``caller``."""
        mine = self.entries(caller)
        writes = sum(1 for e in mine if e.is_write)
        return RequestCounts(reads=len(mine) - writes, writes=writes)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
