"""Unit agents: each unit's hooks run through ``ops.testing`` in a worker process of its own.

A zygote per charm (its own interpreter, warmed) forks one worker per unit; the parent
starts hooks without blocking and reads their outcomes from one event queue, kills a
worker with a real SIGKILL wherever it stands, and forks a fresh one in milliseconds.
"""

from __future__ import annotations

from ._private.charm_source import CharmSource, CharmSourceError
from ._private.hooks import (
    HOOK_KINDS,
    HookError,
    HookKind,
    HookResult,
    HookSpec,
    LocalState,
    juju_side,
)
from ._private.pool import (
    DEFAULT_HOOK_TIMEOUT,
    DEFAULT_JUJU_VERSION,
    AgentError,
    AgentEvent,
    AgentPool,
    HookDone,
    UnitProcess,
    WorkerGone,
)

__all__ = [
    'DEFAULT_HOOK_TIMEOUT',
    'DEFAULT_JUJU_VERSION',
    'HOOK_KINDS',
    'AgentError',
    'AgentEvent',
    'AgentPool',
    'CharmSource',
    'CharmSourceError',
    'HookDone',
    'HookError',
    'HookKind',
    'HookResult',
    'HookSpec',
    'LocalState',
    'UnitProcess',
    'WorkerGone',
    'juju_side',
]
