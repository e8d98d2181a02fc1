"""A fake Kubernetes API that real clients (lightkube, kubernetes, kubectl) accept."""

from __future__ import annotations

from ._http import ApiRequest, ApiResponse
from ._resources import RESOURCES, ResourceType, resource_for_kind, resource_for_path

__all__ = [
    'RESOURCES',
    'ApiRequest',
    'ApiResponse',
    'ResourceType',
    'resource_for_kind',
    'resource_for_path',
]
