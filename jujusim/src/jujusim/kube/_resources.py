"""The kinds the fake API serves, and where each lives in the REST path space."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResourceType:
    """One served kind, as discovery documents describe it."""

    kind: str
    group: str  # '' for the core group
    version: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    has_spec: bool = True  # generation tracks spec changes only for kinds with a spec
    verbs: tuple[str, ...] = (
        'create',
        'delete',
        'deletecollection',
        'get',
        'list',
        'patch',
        'update',
        'watch',
    )

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` field of objects of this kind."""
        return f'{self.group}/{self.version}' if self.group else self.version

    @property
    def list_kind(self) -> str:
        """The ``kind`` of a list of these objects."""
        return f'{self.kind}List'


# Kinds and plurals as the real API serves them (kubectl api-resources on v1.32).
RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        kind='Namespace',
        group='',
        version='v1',
        plural='namespaces',
        namespaced=False,
        short_names=('ns',),
    ),
    ResourceType(
        kind='ConfigMap',
        group='',
        version='v1',
        plural='configmaps',
        namespaced=True,
        short_names=('cm',),
        has_spec=False,
    ),
    ResourceType(
        kind='Service',
        group='',
        version='v1',
        plural='services',
        namespaced=True,
        short_names=('svc',),
    ),
    ResourceType(
        kind='Pod', group='', version='v1', plural='pods', namespaced=True, short_names=('po',)
    ),
    ResourceType(
        kind='StatefulSet',
        group='apps',
        version='v1',
        plural='statefulsets',
        namespaced=True,
        short_names=('sts',),
    ),
    ResourceType(
        kind='Event',
        group='',
        version='v1',
        plural='events',
        namespaced=True,
        short_names=('ev',),
        has_spec=False,
    ),
    ResourceType(
        kind='ControllerRevision',
        group='apps',
        version='v1',
        plural='controllerrevisions',
        namespaced=True,
        has_spec=False,
    ),
)


def resource_for_path(group: str, version: str, plural: str) -> ResourceType | None:
    """The served kind at ``/api[s]/{group}/{version}/.../{plural}``, if any."""
    for resource in RESOURCES:
        if (resource.group, resource.version, resource.plural) == (group, version, plural):
            return resource
    return None


def resource_for_kind(kind: str) -> ResourceType:
    """The served kind named ``kind``; raises ``KeyError`` for an unknown one."""
    for resource in RESOURCES:
        if resource.kind == kind:
            return resource
    raise KeyError(kind)
