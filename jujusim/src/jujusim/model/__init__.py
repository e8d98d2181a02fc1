"""The simulated Juju model: applications, units, leases, relation data, hooks."""

from __future__ import annotations

from ._clock import VirtualClock
from ._leadership import Lease
from ._relations import Databag, Relation

__all__ = ['Databag', 'Lease', 'Relation', 'VirtualClock']
