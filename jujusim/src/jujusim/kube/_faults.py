"""Fault hooks: fail a matching request before applying it, or apply it and lose the answer."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(kw_only=True)
class Fault:
    """One armed fault. ``None`` in a matcher field matches anything.

    Attributes:
        caller: the caller name to match.
        verb: the verb to match (get, list, create, update, patch, delete...).
        kind: the object kind to match.
        namespace: the namespace to match.
        name: the object name to match.
        status: fail with this HTTP status before applying; None to apply and lose the response.
        message: the Status message for a failure (a realistic default otherwise).
        remaining: how many more matching requests it hits (a burst of N).
        fired: how many requests it has hit so far.
    """

    caller: str | None = None
    verb: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    status: int | None = None
    message: str | None = None
    remaining: int = 1
    fired: int = 0

    @property
    def loses_response(self) -> bool:
        """Whether the request is applied and its response lost."""
        return self.status is None

    def matches(self, *, caller: str, verb: str, kind: str, namespace: str, name: str) -> bool:
        """Whether this fault applies to the request."""
        wanted = (
            (self.caller, caller),
            (self.verb, verb),
            (self.kind, kind),
            (self.namespace, namespace),
            (self.name, name),
        )
        return self.remaining > 0 and all(w is None or w == got for w, got in wanted)


class Faults:
    """The armed faults, checked in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def fail(
        self,
        status: int,
        *,
        caller: str | None = None,
        verb: str | None = None,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        count: int = 1,
        message: str | None = None,
    ) -> Fault:
        """Answer the next ``count`` matching requests with ``status``, without applying them."""
        if not 400 <= status <= 599:
            raise ValueError(f'a failure status must be 4xx or 5xx, not {status}')
        fault = Fault(
            caller=caller,
            verb=verb,
            kind=kind,
            namespace=namespace,
            name=name,
            status=status,
            message=message,
            remaining=count,
        )
        self._faults.append(fault)
        return fault

    def lose_response(
        self,
        *,
        caller: str | None = None,
        verb: str | None = None,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        count: int = 1,
    ) -> Fault:
        """Apply the next ``count`` matching requests, then drop their responses."""
        fault = Fault(
            caller=caller, verb=verb, kind=kind, namespace=namespace, name=name, remaining=count
        )
        self._faults.append(fault)
        return fault

    def take(
        self, *, caller: str, verb: str, kind: str, namespace: str, name: str
    ) -> Fault | None:
        """The first armed fault matching the request, consumed once; None if none matches."""
        for fault in self._faults:
            if fault.matches(caller=caller, verb=verb, kind=kind, namespace=namespace, name=name):
                fault.remaining -= 1
                fault.fired += 1
                return fault
        return None

    def pending(self) -> list[Fault]:
        """Faults with hits left."""
        return [f for f in self._faults if f.remaining > 0]

    def clear(self) -> None:
        """Disarm every fault."""
        self._faults.clear()
