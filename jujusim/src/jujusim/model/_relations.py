"""Relation settings on the controller: integrate, remove, and forget a relation once broken.

The databags and their versions are in ``_databags``.
"""

from __future__ import annotations

from typing import Any

from ..agent import CharmSource
from ._databags import Databag, Relation
from ._errors import ModelError
from ._world import World

__all__ = ['Databag', 'Relation', 'Relations', 'interface_of']


def interface_of(source: CharmSource, endpoint: str) -> str:
    """The interface of ``source``'s ``endpoint``, from its metadata."""
    for role in ('requires', 'provides', 'peers'):
        endpoints: dict[str, dict[str, Any]] = source.meta.get(role) or {}
        if endpoint in endpoints:
            return str(endpoints[endpoint]['interface'])
    raise ModelError(f'{source.name} has no endpoint {endpoint!r}')


class Relations:
    """The controller's relation lifecycle: integrate, remove, forget once broken."""

    def __init__(self, world: World):
        self._world = world
        self._next_id = 0

    def add(self, endpoints: dict[str, str], interface: str) -> Relation:
        """A new relation between ``endpoints`` (application -> endpoint)."""
        relation = Relation(id=self._next_id, endpoints=endpoints, interface=interface)
        self._next_id += 1
        self._world.relations[relation.id] = relation
        return relation

    def add_peers(self, app: str, source: CharmSource) -> None:
        """The peer relations of a newly deployed application."""
        for endpoint, role in source.endpoints.items():
            if role == 'peers':
                self.add({app: endpoint}, interface_of(source, endpoint))

    def integrate(self, one: str, other: str) -> int:
        """Relate ``app[:endpoint]`` to ``app[:endpoint]``; return the relation id."""
        world = self._world
        (app_a, ep_a), (app_b, ep_b) = self._endpoint(one, other), self._endpoint(other, one)
        interface = interface_of(world.apps[app_a].charm, ep_a)
        if interface_of(world.apps[app_b].charm, ep_b) != interface:
            raise ModelError(f'{one} and {other} have different interfaces')
        relation = self.add({app_a: ep_a, app_b: ep_b}, interface)
        world.trace.record(
            'operator',
            f'integrate {app_a}:{ep_a} {app_b}:{ep_b} (relation {relation.id})',
            command='integrate',
            relation=relation.id,
            endpoints=[f'{app_a}:{ep_a}', f'{app_b}:{ep_b}'],
        )
        return relation.id

    def _endpoint(self, spec: str, other: str) -> tuple[str, str]:
        apps = self._world.apps
        app, _, endpoint = spec.partition(':')
        if app not in apps:
            raise ModelError(f'no application {app!r}')
        if endpoint:
            return app, endpoint
        other_app = other.partition(':')[0]
        if other_app not in apps:
            raise ModelError(f'no application {other_app!r}')
        other_source = apps[other_app].charm
        wanted = {
            interface_of(other_source, e)
            for e, role in other_source.endpoints.items()
            if role != 'peers'
        }
        candidates = [
            e
            for e, role in apps[app].charm.endpoints.items()
            if role != 'peers' and interface_of(apps[app].charm, e) in wanted
        ]
        if len(candidates) != 1:
            raise ModelError(f'cannot tell which endpoint of {app} to use: {candidates}')
        return app, candidates[0]

    def get(self, relation_id: int) -> Relation:
        """The relation with ``relation_id``, or a :class:`ModelError`."""
        relation = self._world.relations.get(relation_id)
        if relation is None:
            raise ModelError(f'no relation {relation_id}')
        return relation

    def remove(self, relation_id: int) -> None:
        """Mark a relation removed: each unit runs departed per remote unit, then broken."""
        relation = self.get(relation_id)
        relation.removed = True
        self._world.trace.record(
            'operator',
            f'remove-relation {relation_id}',
            command='remove-relation',
            relation=relation_id,
        )

    def forget_if_broken(self, relation: Relation) -> None:
        """A removed relation is gone once every unit at both ends has run broken."""
        world = self._world
        for app in relation.endpoints:
            for unit in world.apps[app].units.values():
                view = unit.relations.get(relation.id)
                if view is not None and view.created and not view.broken:
                    return
        del world.relations[relation.id]
