"""A fake Kubernetes API that real clients (lightkube, kubernetes, kubectl) accept."""

from __future__ import annotations

from ._api import ADMIN, FakeKube, kind_of_path, object_of_path
from ._controller import CONTROLLER, GARBAGE_COLLECTOR, template_hash
from ._errors import ResponseLost, StatusError
from ._faults import Fault, Faults
from ._http import ApiRequest, ApiResponse
from ._kubeconfig import kubeconfig, write_kubeconfig
from ._log import LogEntry, RequestCounts, RequestLog
from ._rbac import AdminPolicy, Attributes, JujuAppPolicy, Policy
from ._relay import Relay, active_relay, relaying
from ._resources import RESOURCES, ResourceType, resource_for_kind, resource_for_path
from ._server import EarlyResponder, KubeServer, early_responder
from ._store import Event
from ._transport import FAKE_SERVER, KubeTransport, lightkube_client

__all__ = [
    'ADMIN',
    'CONTROLLER',
    'FAKE_SERVER',
    'GARBAGE_COLLECTOR',
    'RESOURCES',
    'AdminPolicy',
    'ApiRequest',
    'ApiResponse',
    'Attributes',
    'EarlyResponder',
    'Event',
    'FakeKube',
    'Fault',
    'Faults',
    'JujuAppPolicy',
    'KubeServer',
    'KubeTransport',
    'LogEntry',
    'Policy',
    'Relay',
    'RequestCounts',
    'RequestLog',
    'ResourceType',
    'ResponseLost',
    'StatusError',
    'active_relay',
    'early_responder',
    'kind_of_path',
    'kubeconfig',
    'lightkube_client',
    'object_of_path',
    'relaying',
    'resource_for_kind',
    'resource_for_path',
    'template_hash',
    'write_kubeconfig',
]
