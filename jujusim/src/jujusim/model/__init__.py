"""The simulated Juju model: applications, units, leases, relation data, hooks."""

from __future__ import annotations

from ._clock import VirtualClock
from ._leadership import Lease
from ._model import ActionOutcome, LivelockError, Model, ModelError
from ._relations import Databag, Relation
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
    'Unit',
    'VirtualClock',
]
