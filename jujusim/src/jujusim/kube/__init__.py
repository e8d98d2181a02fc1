"""A fake Kubernetes API that real clients (lightkube, kubernetes, kubectl) accept."""

from __future__ import annotations

from ._http import ApiRequest, ApiResponse
from ._kubeconfig import kubeconfig, write_kubeconfig
from ._resources import RESOURCES, ResourceType, resource_for_kind, resource_for_path
from ._server import KubeServer

__all__ = [
    'RESOURCES',
    'ApiRequest',
    'ApiResponse',
    'KubeServer',
    'ResourceType',
    'kubeconfig',
    'resource_for_kind',
    'resource_for_path',
    'write_kubeconfig',
]
