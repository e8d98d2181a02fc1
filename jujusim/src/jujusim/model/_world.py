"""The controller's state that every component reads: applications, units, relations.

Juju's controller holds one database that its workers watch; here one :class:`World` holds
the applications, their units and the relations, with the virtual clock, the seeded
decider, the fake Kubernetes API and the trace that every component shares.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator

from ..kube import FakeKube
from ._clock import VirtualClock
from ._databags import Relation
from ._errors import ModelError
from ._trace import Trace
from ._units import Application, Unit

JUJU = 'juju'  # the caller name of the controller's own Kubernetes writes


@dataclasses.dataclass(eq=False, kw_only=True)
class World:
    """Shared state; each component keeps its own state beside it."""

    name: str  # the model's name, which is also its namespace
    clock: VirtualClock
    rng: random.Random  # the scheduler's one seeded decider: every choice draws from it
    kube: FakeKube
    trace: Trace
    apps: dict[str, Application] = dataclasses.field(default_factory=dict[str, Application])
    relations: dict[int, Relation] = dataclasses.field(default_factory=dict[int, Relation])
    # Model config automatically-retry-hooks (default true; concierge's CI presets set it
    # false): whether a failed hook is retried with backoff or waits in error.
    automatically_retry_hooks: bool = True

    def app(self, app: str) -> Application:
        """The application named ``app``, or a :class:`ModelError`."""
        application = self.apps.get(app)
        if application is None:
            raise ModelError(f'no application {app!r}')
        return application

    def find_unit(self, name: str) -> Unit | None:
        """The unit named ``name``, if it exists."""
        app = self.apps.get(name.partition('/')[0])
        return None if app is None else app.units.get(name)

    def unit(self, unit: str) -> Unit:
        """The unit named ``unit``, or a :class:`ModelError`."""
        target = self.find_unit(unit)
        if target is None:
            raise ModelError(f'no unit {unit!r}')
        return target

    def units(self) -> Iterator[Unit]:
        """Every unit of every application, by name."""
        for app in sorted(self.apps):
            yield from (self.apps[app].units[u] for u in sorted(self.apps[app].units))

    def relations_of(self, app: str) -> list[Relation]:
        """The relations ``app`` takes part in, by id."""
        return [r for _, r in sorted(self.relations.items()) if app in r.endpoints]

    def remote_units(self, relation: Relation, app: str) -> list[str]:
        """The units at the other end of ``relation`` from ``app`` that are in scope."""
        other = self.apps[relation.other_app(app)]
        # A remote unit is in scope once its agent has started (it joins the relation), and
        # until, dying, it has departed every unit there and broken the relation (juju
        # internal/worker/uniter/relation/resolver.go: a dying unit's relation snapshot is
        # empty, so it departs all members, then runs broken, and leaves scope).
        return sorted(
            u.name for u in other.units.values() if u.installed and not _left(u, relation)
        )


def _left(unit: Unit, relation: Relation) -> bool:
    if unit.removed:
        return True
    if not unit.dying:
        return False
    view = unit.relations.get(relation.id)
    if view is None or not view.created:
        return True
    peer = relation.other_app(unit.app) == unit.app
    return not view.joined and (view.broken or peer)
