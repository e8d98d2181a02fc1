"""Relation data as Juju keeps it: committed databags with per-databag versions.

Sources (docs/design-notes.md, "Relation data"): Juju tracks a change version per databag
(juju/juju ``worker/uniter/remotestate/snapshot.go``, ``worker/uniter/relation/state.go``);
each remote unit gets one ``relation-changed`` for however many changes it missed, so
writes between two dispatches coalesce; a hook's writes are committed only if the hook
succeeds, all at once (``worker/uniter/runner/context/context.go``); reads are live.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass
class Databag:
    """One databag: an application's or a unit's side of one relation."""

    data: dict[str, str] = dataclasses.field(default_factory=dict[str, str])
    version: int = 0

    def commit(self, new: Mapping[str, str]) -> bool:
        """Replace the contents if they differ; True (and a new version) if they did."""
        if dict(new) == self.data:
            return False  # a write that changes nothing is no change to watchers
        self.data = dict(new)
        self.version += 1
        return True


@dataclasses.dataclass
class Relation:
    """One relation between two applications, with a databag per app and per unit."""

    id: int
    endpoints: dict[str, str]  # application name -> its endpoint name
    interface: str
    bags: dict[str, Databag] = dataclasses.field(default_factory=dict[str, Databag])
    removed: bool = False

    def bag(self, owner: str) -> Databag:
        """The databag of ``owner`` (an application or unit name), created empty if new."""
        return self.bags.setdefault(owner, Databag())

    def other_app(self, app: str) -> str:
        """The application at the other end from ``app``."""
        others = [name for name in self.endpoints if name != app]
        return others[0] if others else app  # a peer relation has one application

    def versions(self, owners: list[str]) -> dict[str, int]:
        """The current version of each named databag."""
        return {owner: self.bag(owner).version for owner in owners}
