"""The simulated Juju model: applications, units, leases, relation data, hooks."""

from __future__ import annotations

from ._clock import MAX_VIRTUAL_SECONDS, VirtualClock
from ._databags import Databag, Relation
from ._expectations import STALE_WRITE, STILL_BLOCKED
from ._faults import FaultPlan
from ._lease import Lease
from ._model import (
    DEFAULT_NAME,
    MAX_UNITS,
    ActionOutcome,
    LivelockError,
    Model,
    ModelError,
    Snapshot,
)
from ._trace import KINDS as TRACE_KINDS
from ._trace import TraceEvent
from ._units import Application, HookFailure, HookFailureKind, Unit, UnitStatus

__all__ = [
    'DEFAULT_NAME',
    'MAX_UNITS',
    'MAX_VIRTUAL_SECONDS',
    'STALE_WRITE',
    'STILL_BLOCKED',
    'TRACE_KINDS',
    'ActionOutcome',
    'Application',
    'Databag',
    'FaultPlan',
    'HookFailure',
    'HookFailureKind',
    'Lease',
    'LivelockError',
    'Model',
    'ModelError',
    'Relation',
    'Snapshot',
    'TraceEvent',
    'Unit',
    'UnitStatus',
    'VirtualClock',
]
