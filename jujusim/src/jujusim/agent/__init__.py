"""Unit agents: each unit's hooks run through ``ops.testing`` in a worker process of its own.

A zygote per charm (its own interpreter, warmed) forks one worker per unit; the parent
starts hooks without blocking and reads their outcomes from one event queue, kills a
worker with a real SIGKILL wherever it stands, and gives the unit a fresh one (with
fresh unit-local state) in well under a millisecond from a warmed spare.

The parent owns the Juju-side state (leader flag, config, relations and their data,
secrets, containers, statuses) and sends it with every hook; each worker owns its
unit-local state (StoredState, deferred events), which dies with the process::

    with AgentPool() as pool:
        pool.add_app('counter', 'path/to/charm')
        pool.spawn('counter/0', env={'KUBECONFIG': '/path/to/unit-0.kubeconfig'})
        pool.start_hook('counter/0', HookSpec(kind='config_changed'), juju_state)
        event = pool.next_event()  # HookDone(unit, result) or WorkerGone(unit, ...)
        juju_state = juju_side(event.result.state)  # what Juju keeps of the new state
        pool.kill('counter/0')  # the hook in flight, if any, never reports
        pool.restart('counter/0')
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
