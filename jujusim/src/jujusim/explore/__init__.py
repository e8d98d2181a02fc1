"""Exploration: random and exhaustive schedules in the scenario vocabulary, shrunk.

Schedules are :class:`jujusim.scenarios.Scenario` values, so a failing one is saved as a
scenario file that ``jujusim replay`` and ``tests/integration`` run as it is.
"""

from __future__ import annotations

from ..model import STALE_WRITE
from ._explore import Plan, Result, explore, first_failure
from ._generate import (
    LEADS,
    FaultWeights,
    Lead,
    exhaustive_schedules,
    prelude,
    random_schedule,
    switching_prelude,
)
from ._report import PROPERTIES, REQUIREMENTS, describe, explain, replay_command, timeline
from ._run import (
    FAILED_HOOK,
    REFUSED_NOT_BLOCKED,
    UPSTREAM_KEPT,
    Outcome,
    failure_class,
    run_schedule,
)
from ._shrink import Shrunk, shrink

__all__ = [
    'FAILED_HOOK',
    'LEADS',
    'PROPERTIES',
    'REFUSED_NOT_BLOCKED',
    'REQUIREMENTS',
    'STALE_WRITE',
    'UPSTREAM_KEPT',
    'FaultWeights',
    'Lead',
    'Outcome',
    'Plan',
    'Result',
    'Shrunk',
    'describe',
    'exhaustive_schedules',
    'explain',
    'explore',
    'failure_class',
    'first_failure',
    'prelude',
    'random_schedule',
    'replay_command',
    'run_schedule',
    'shrink',
    'switching_prelude',
    'timeline',
]
