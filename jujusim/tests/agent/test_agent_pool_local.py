"""A worker given a unit's local state goes on from it; forgetting units ends them all."""

from __future__ import annotations

import agent_helpers
import pytest

from jujusim import agent


def run(pool: agent.AgentPool, unit: str, kind: agent.HookKind) -> None:
    result = pool.run_hook(unit, agent.HookSpec(kind=kind), agent_helpers.counter_state())
    assert result.ok, result.error


def kinds(pool: agent.AgentPool, unit: str) -> object:
    spec = agent.HookSpec(kind='action', action='count')
    result = pool.run_hook(unit, spec, agent_helpers.counter_state())
    assert result.ok and result.action_results is not None, result.error
    return result.action_results['kinds']


def test_a_new_worker_given_a_units_local_state_goes_on_from_it():
    with agent.AgentPool() as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        pool.spawn('counter/0')
        run(pool, 'counter/0', 'install')
        run(pool, 'counter/0', 'config_changed')
        local = pool.local_state('counter/0')  # as the worker keeps it: its StoredState
        assert local != agent.LocalState()

        pool.forget_units()
        assert pool.units == []
        with pytest.raises(agent.AgentError, match='nothing to wait for'):
            pool.next_event()  # the killed worker's end is never reported

        given = pool.spawn('counter/0', local=local)
        assert kinds(pool, 'counter/0') == 'install,config_changed'
        pool.forget_units()
        fresh = pool.spawn('counter/0')
        assert fresh.pid != given.pid
        assert kinds(pool, 'counter/0') == ''  # a fresh worker: nothing carried over


def test_local_state_of_a_unit_without_a_live_worker_is_an_error():
    with agent.AgentPool() as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        with pytest.raises(agent.AgentError, match='no live worker'):
            pool.local_state('counter/0')
