"""Keep Kubernetes labels on a charm's pods in step with relation data.

A charm that joins a service mesh builds a :class:`ServiceMeshConsumer` in its
``__init__``; a charm library with labels of its own uses :class:`LabelManager`.
"""

from __future__ import annotations

import importlib.resources

from ._errors import (
    ApiRefusedError,
    ClusterUnreachableError,
    InvalidLabelsError,
    InvalidRelationDataError,
    LabelError,
    LedgerCorruptError,
    PermissionDeniedError,
    TransientError,
)
from ._manager import LabelManager, Outcome, ReconcileResult
from ._policies import AppPolicy, Endpoint, Method, UnitPolicy
from ._service_mesh import (
    ServiceMeshConsumer,
    ServiceMeshProvider,
    parse_provider_data,
    trust_message,
)
from ._validation import RESERVED_KEYS, RESERVED_PREFIXES, validate_labels

__version__ = importlib.resources.files(__name__).joinpath('_version.txt').read_text().strip()

__all__ = [
    'RESERVED_KEYS',
    'RESERVED_PREFIXES',
    'ApiRefusedError',
    'AppPolicy',
    'ClusterUnreachableError',
    'Endpoint',
    'InvalidLabelsError',
    'InvalidRelationDataError',
    'LabelError',
    'LabelManager',
    'LedgerCorruptError',
    'Method',
    'Outcome',
    'PermissionDeniedError',
    'ReconcileResult',
    'ServiceMeshConsumer',
    'ServiceMeshProvider',
    'TransientError',
    'UnitPolicy',
    '__version__',
    'parse_provider_data',
    'trust_message',
    'validate_labels',
]
