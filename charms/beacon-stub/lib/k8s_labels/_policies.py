"""Mesh policies: what a consumer lets its related applications reach, in upstream's format.

The consumer of charmlibs-interfaces-service-mesh 1.0.2 publishes, in its
``service_mesh`` application databag, a ``policies`` field: a JSON list of ``MeshPolicy``
objects, one per policy and related application, which istio-beacon-k8s turns into
authorization policies (``ServiceMeshProvider.mesh_info`` parses it). This module takes the
same ``AppPolicy`` / ``UnitPolicy`` / ``Endpoint`` arguments and writes the same JSON, field
for field and in the same order (``MeshPolicy.model_dump()``: every field, ``null`` for
unset ones), without pydantic: the library's runtime stays ops + lightkube.

Source: charmlibs-interfaces-service-mesh 1.0.2,
``charmlibs/interfaces/service_mesh/_service_mesh.py``: ``Endpoint``, ``AppPolicy``,
``UnitPolicy``, ``MeshPolicy``, ``CMRData``, ``build_mesh_policies``,
``get_data_from_cmr_relation``; ``canonical_service_mesh/enums.py``: ``Method``,
``PolicyTargetType``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import typing
from collections.abc import Iterable, Mapping, Sequence

import ops

from . import _errors, _json

logger = logging.getLogger(__name__)


class Method(enum.StrEnum):
    """An HTTP method an :class:`Endpoint` allows (the same values as upstream's ``Method``)."""

    connect = 'CONNECT'
    delete = 'DELETE'
    get = 'GET'
    head = 'HEAD'
    options = 'OPTIONS'
    patch = 'PATCH'
    post = 'POST'
    put = 'PUT'
    trace = 'TRACE'


def _optional_list(value: object, name: str, item: type) -> list[typing.Any] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f'Endpoint {name} must be a list, not {value!r}')
    items = list(typing.cast('Iterable[object]', value))
    for element in items:
        if not isinstance(element, item) or isinstance(element, bool):
            raise TypeError(f'Endpoint {name} must hold {item.__name__}s, not {element!r}')
    return items


@dataclasses.dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where a related application may connect: hosts, ports, HTTP methods and paths.

    Every field left ``None`` means "any", as upstream.

    Raises:
        TypeError: a field is not a list of the right type.
        ValueError: a port is outside 1-65535, or a method is not an HTTP method.
    """

    hosts: Sequence[str] | None = None
    ports: Sequence[int] | None = None
    methods: Sequence[Method | str] | None = None
    paths: Sequence[str] | None = None

    def __post_init__(self):
        hosts = _optional_list(self.hosts, 'hosts', str)
        ports = _optional_list(self.ports, 'ports', int)
        for port in ports or ():
            if not 1 <= port <= 65535:
                raise ValueError(f'Endpoint ports: {port} is not a port (1-65535)')
        methods = _optional_list(self.methods, 'methods', str)
        if methods is not None:
            try:
                methods = [Method(str(getattr(m, 'value', m)).upper()) for m in methods]
            except ValueError as e:
                raise ValueError(f'Endpoint methods: {e}') from None
        paths = _optional_list(self.paths, 'paths', str)
        object.__setattr__(self, 'hosts', hosts)
        object.__setattr__(self, 'ports', ports)
        object.__setattr__(self, 'methods', methods)
        object.__setattr__(self, 'paths', paths)

    def to_wire(self) -> dict[str, object]:
        """Upstream's ``Endpoint.model_dump()``, JSON-ready."""
        methods = None if self.methods is None else [str(m) for m in self.methods]
        return {
            'hosts': None if self.hosts is None else list(self.hosts),
            'ports': None if self.ports is None else list(self.ports),
            'methods': methods,
            'paths': None if self.paths is None else list(self.paths),
        }


def _relation_name(value: object, kind: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f'{kind} relation must be an endpoint name, not {value!r}')
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class AppPolicy:
    """Let the applications related on ``relation`` reach this application's ``endpoints``.

    Args:
        relation: an endpoint of this charm (``charmcraft.yaml``); one policy per
            application related on it.
        endpoints: what they may reach.
        service: the Kubernetes Service they reach it through; default: the application.
    """

    relation: str
    endpoints: Sequence[Endpoint]
    service: str | None = None

    def __post_init__(self):
        _relation_name(self.relation, 'AppPolicy')
        # Checked at run time too: a charm's typo should fail at its __init__, by name.
        endpoints: list[object] = list(self.endpoints)
        for endpoint in endpoints:
            if not isinstance(endpoint, Endpoint):
                raise TypeError(f'AppPolicy endpoints must be Endpoints, not {endpoint!r}')
        service = typing.cast('object', self.service)
        if service is not None and not isinstance(service, str):
            raise TypeError(f'AppPolicy service must be a string, not {service!r}')
        object.__setattr__(self, 'endpoints', endpoints)


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnitPolicy:
    """Let the applications related on ``relation`` reach each unit (pod) directly.

    Args:
        relation: an endpoint of this charm (``charmcraft.yaml``).
        ports: the ports they may reach; ``None``: any.
    """

    relation: str
    ports: Sequence[int] | None = None

    def __post_init__(self):
        _relation_name(self.relation, 'UnitPolicy')
        object.__setattr__(self, 'ports', Endpoint(ports=self.ports).ports)


Policy = AppPolicy | UnitPolicy


def coerce_policy(policy: object) -> Policy:
    """Return ``policy`` as this library's type.

    Upstream's pydantic ``AppPolicy``, ``UnitPolicy`` and deprecated ``Policy`` objects are
    accepted too (by their fields), so a charm that switches libraries can keep them.

    Raises:
        TypeError: ``policy`` is neither kind.
    """
    if isinstance(policy, AppPolicy | UnitPolicy):
        return policy
    relation = getattr(policy, 'relation', None)
    if hasattr(policy, 'endpoints'):
        endpoints = [
            e
            if isinstance(e, Endpoint)
            else Endpoint(
                hosts=getattr(e, 'hosts', None),
                ports=getattr(e, 'ports', None),
                methods=getattr(e, 'methods', None),
                paths=getattr(e, 'paths', None),
            )
            for e in typing.cast('Iterable[object]', getattr(policy, 'endpoints', None) or [])
        ]
        service = getattr(policy, 'service', None)
        return AppPolicy(
            relation=typing.cast('str', relation), endpoints=endpoints, service=service
        )
    if hasattr(policy, 'ports') and relation is not None:
        return UnitPolicy(
            relation=typing.cast('str', relation), ports=getattr(policy, 'ports', None)
        )
    raise TypeError(f'a policy must be an AppPolicy or a UnitPolicy, not {policy!r}')


@dataclasses.dataclass(frozen=True)
class CrossModelSource:
    """Who a cross-model related application really is (upstream's ``CMRData``)."""

    app_name: str
    juju_model_name: str

    def to_wire(self) -> str:
        """The ``cmr_data`` field's value, as upstream writes it."""
        return json.dumps({'app_name': self.app_name, 'juju_model_name': self.juju_model_name})


def cross_model_sources(relations: Iterable[ops.Relation]) -> dict[str, CrossModelSource]:
    """Read ``cmr_data`` from each related application; skip (and log) what is invalid."""
    sources: dict[str, CrossModelSource] = {}
    for relation in relations:
        if 'cmr_data' not in relation.data[relation.app]:
            continue
        raw = relation.data[relation.app]['cmr_data']
        try:
            # Bounded depth: remote data nested 100,000 deep must not raise RecursionError.
            decoded = _json.loads(raw)
        except ValueError:
            decoded = None
        fields: Mapping[str, object] = (
            typing.cast('dict[str, object]', decoded) if isinstance(decoded, dict) else {}
        )
        app_name, model_name = fields.get('app_name'), fields.get('juju_model_name')
        if not isinstance(app_name, str) or not isinstance(model_name, str):
            logger.error('invalid cmr_data from %s: %s', relation.app.name, _errors.shown(raw))
            continue
        sources[relation.app.name] = CrossModelSource(app_name, model_name)
    return sources


def mesh_policies(
    policies: Sequence[Policy],
    relations: ops.RelationMapping,
    *,
    app: str,
    namespace: str,
    cross_model: Mapping[str, CrossModelSource],
) -> list[dict[str, object]]:
    """One ``MeshPolicy`` (as a JSON-ready dict) per policy and application related on it.

    In upstream's order (policies in the given order, relations as Juju lists them) and
    field order (``MeshPolicy.model_dump()``).
    """
    wire: list[dict[str, object]] = []
    for policy in policies:
        for relation in relations[policy.relation]:
            source = cross_model.get(relation.app.name)
            if source is None:
                source = CrossModelSource(relation.app.name, namespace)
            if isinstance(policy, UnitPolicy):
                target_type = 'unit'
                service = None
                endpoints = [Endpoint(ports=policy.ports)] if policy.ports else []
            else:
                target_type = 'app'
                service = policy.service
                endpoints = list(policy.endpoints)
            wire.append(
                {
                    'source_namespace': source.juju_model_name,
                    'source_app_name': source.app_name,
                    'target_namespace': namespace,
                    'target_app_name': app,
                    'target_selector_labels': None,
                    'target_service': service,
                    'target_type': target_type,
                    'endpoints': [e.to_wire() for e in endpoints],
                }
            )
    return wire
