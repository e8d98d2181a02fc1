"""Callers and what each may do: bearer tokens mapped to RBAC-like policies."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from . import _resources

READ_VERBS = frozenset({'get', 'list', 'watch'})
WRITE_VERBS = frozenset({'create', 'update', 'patch', 'delete', 'deletecollection'})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Attributes:
    """What a request asks to do, as the authorizer sees it (``authorizer.Attributes``)."""

    verb: str
    resource: _resources.ResourceType
    namespace: str  # '' for cluster-scoped requests
    name: str  # '' for collections
    subresource: str = ''


class Policy(Protocol):
    """Decides whether a caller may make a request."""

    @property
    def user(self) -> str:
        """The user name Kubernetes would report (in 403 messages)."""
        ...

    def allows(self, attributes: Attributes) -> bool:
        """Whether the request is allowed."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdminPolicy:
    """Everything allowed (a cluster admin)."""

    user: str = 'kubernetes-admin'

    def allows(self, attributes: Attributes) -> bool:
        """Always True."""
        return True


@dataclasses.dataclass(kw_only=True)
class JujuAppPolicy:
    """The Role Juju gives an application's service account, trusted or not.

    juju/juju ``caas/kubernetes/provider/application/trust.go``
    (``getDefaultApplicationNamespaceRules``, ``fullAccessApplicationNamespaceRules``):
    untrusted, the app may get/list/patch pods and services and get/list its own namespace;
    ``juju trust APP --scope=cluster`` grants ``*/*/*``. ``trusted`` is mutable: a simulator
    flips it when the model runs ``juju trust``.

    Args:
        namespace: the model's namespace.
        app: the application name (its service account).
        trusted: whether ``juju trust`` has been granted.
        untrusted_configmaps: also let the untrusted app manage ConfigMaps in its namespace.
            Juju's Role does not include them (so the default is False); a test may opt in.
    """

    namespace: str
    app: str
    trusted: bool = False
    untrusted_configmaps: bool = False

    @property
    def user(self) -> str:
        """``system:serviceaccount:NS:APP`` (the 403 messages name it)."""
        return f'system:serviceaccount:{self.namespace}:{self.app}'

    def allows(self, attributes: Attributes) -> bool:
        """Whether Juju's Role (and ClusterRole) for this app allows the request."""
        if self.trusted:
            return True
        kind = attributes.resource.kind
        if kind == 'Namespace':
            # The ClusterRole lets every app get/list namespaces.
            return attributes.verb in ('get', 'list')
        if attributes.namespace != self.namespace or attributes.subresource:
            return False
        if kind in ('Pod', 'Service'):
            return attributes.verb in ('get', 'list', 'patch')
        if kind == 'ConfigMap' and self.untrusted_configmaps:
            return attributes.verb in READ_VERBS | WRITE_VERBS
        return False
