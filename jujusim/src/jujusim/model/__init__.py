"""The simulated Juju model: applications, units, leases, relation data, hooks."""

from __future__ import annotations

from ._clock import VirtualClock
from ._databags import Databag, Relation
from ._lease import Lease
from ._model import ActionOutcome, LivelockError, Model, ModelError
from ._trace import TraceEvent
from ._units import Application, Unit

__all__ = [
    'ActionOutcome',
    'Application',
    'Databag',
    'Lease',
    'LivelockError',
    'Model',
    'ModelError',
    'Relation',
    'TraceEvent',
    'Unit',
    'VirtualClock',
]
