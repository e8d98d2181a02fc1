"""A worker given a unit's local state goes on from it; forgetting units ends them all,
but for idle workers kept aside for their units."""

from __future__ import annotations

import pathlib
import time

import agent_helpers
import ops.testing
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


def ended(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` is gone (its zygote reaps it) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pathlib.Path(f'/proc/{pid}').exists():
            return True
        time.sleep(0.01)
    return False


def test_an_idle_worker_kept_aside_serves_its_unit_again_with_the_state_given():
    with agent.AgentPool() as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        first = pool.spawn('counter/0', env={'X': '1'})
        run(pool, 'counter/0', 'install')
        local = pool.local_state('counter/0')
        pool.forget_units(keep_idle=True)
        assert pool.units == []

        again = pool.spawn('counter/0', env={'X': '1'})
        assert again.pid == first.pid
        assert kinds(pool, 'counter/0') == ''  # no local state given: none kept
        pool.forget_units(keep_idle=True)
        assert pool.spawn('counter/0', env={'X': '1'}, local=local).pid == first.pid
        assert kinds(pool, 'counter/0') == 'install'


def test_a_kept_worker_of_another_environment_or_not_taken_back_is_ended():
    with agent.AgentPool() as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        first = pool.spawn('counter/0', env={'X': '1'})
        pool.forget_units(keep_idle=True)
        other = pool.spawn('counter/0', env={'X': '2'})
        assert other.pid != first.pid
        assert ended(first.pid)

        pool.forget_units(keep_idle=True)
        pool.retire_kept()
        assert ended(other.pid)
        assert pool.spawn('counter/0', env={'X': '2'}).pid != other.pid


def test_a_worker_running_a_hook_is_not_kept():
    with agent.AgentPool() as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        busy = pool.spawn('counter/0')
        pool.start_hook('counter/0', agent.HookSpec(kind='install'), agent_helpers.counter_state())
        pool.forget_units(keep_idle=True)
        assert pool.spawn('counter/0').pid != busy.pid
        assert ended(busy.pid)
        with pytest.raises(agent.AgentError, match='nothing to wait for'):
            pool.next_event()  # neither the killed worker's hook nor its end is reported


REMEMBERING = agent_helpers.COUNTER.parent / 'remembering'


def recall(pool: agent.AgentPool, unit: str) -> str:
    spec = agent.HookSpec(kind='action', action='recall')
    result = pool.run_hook(unit, spec, ops.testing.State())
    assert result.ok and result.action_results is not None, result.error
    return result.action_results['seen']


def test_a_worker_whose_charm_keeps_something_in_memory_is_not_kept():
    # A module global changed by a hook would reach the unit's next hook in a kept
    # process, where a new process (as under Juju) has none of it.
    with agent.AgentPool() as pool:
        pool.add_app('remembering', REMEMBERING)
        first = pool.spawn('remembering/0')
        before = recall(pool, 'remembering/0')  # reading changes nothing: kept
        pool.forget_units(keep_idle=True)
        assert pool.spawn('remembering/0').pid == first.pid

        install = agent.HookSpec(kind='install')
        result = pool.run_hook('remembering/0', install, ops.testing.State())
        assert result.ok, result.error
        assert recall(pool, 'remembering/0') == ','.join(filter(None, [before, 'install']))
        pool.forget_units(keep_idle=True)
        assert pool.spawn('remembering/0').pid != first.pid
        assert 'install' not in recall(pool, 'remembering/0')
        assert ended(first.pid)


def test_set_aside_keeps_an_idle_workers_process_for_the_units_next_start():
    with agent.AgentPool() as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        first = pool.spawn('counter/0', env={'X': '1'})
        run(pool, 'counter/0', 'install')
        assert pool.set_aside('counter/0')
        assert pool.units == []
        with pytest.raises(agent.AgentError, match='nothing to wait for'):
            pool.next_event()  # it reports nothing, as a killed worker reports no hook

        again = pool.restart('counter/0', env={'X': '1'})
        assert again.pid == first.pid
        assert kinds(pool, 'counter/0') == ''  # a new pod's: no local state
        assert pool.set_aside('counter/0')
        pool.retire_kept('counter/0')
        assert ended(first.pid)
        assert pool.restart('counter/0', env={'X': '1'}).pid != first.pid


def test_set_aside_refuses_a_busy_worker_and_one_whose_charm_kept_memory():
    with agent.AgentPool() as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        pool.add_app('remembering', REMEMBERING)
        busy = pool.spawn('counter/0')
        pool.start_hook('counter/0', agent.HookSpec(kind='install'), agent_helpers.counter_state())
        assert not pool.set_aside('counter/0')
        process = pool.process('counter/0')
        assert process is not None and process.pid == busy.pid and process.alive

        pool.spawn('remembering/0')
        install = agent.HookSpec(kind='install')
        assert pool.run_hook('remembering/0', install, ops.testing.State()).ok
        assert not pool.set_aside('remembering/0')
        assert pool.units == ['counter/0', 'remembering/0']


def test_set_aside_refuses_a_worker_that_a_hook_left_a_thread_running_in():
    with agent.AgentPool() as pool:
        pool.add_app('remembering', REMEMBERING)
        pool.spawn('remembering/0')
        recall(pool, 'remembering/0')
        linger = agent.HookSpec(kind='action', action='linger')
        assert pool.run_hook('remembering/0', linger, ops.testing.State()).ok
        assert not pool.set_aside('remembering/0')


def test_set_aside_refuses_a_worker_whose_hook_outcome_is_not_yet_taken():
    # Its hook has ended in the worker, but the caller has not had its HookDone: for the
    # caller the hook still runs.
    with agent.AgentPool() as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        pool.spawn('counter/0')
        pool.spawn('counter/1')
        pool.start_hook('counter/0', agent.HookSpec(kind='install'), agent_helpers.counter_state())
        # run_hook of another unit reads every worker's output; counter/0's stays queued.
        deadline = time.monotonic() + agent_helpers.PATIENCE
        while (process := pool.process('counter/0')) is not None and process.hook is not None:
            assert time.monotonic() < deadline
            run(pool, 'counter/1', 'update_status')
        assert not pool.set_aside('counter/0')
        event = pool.next_event()
        assert isinstance(event, agent.HookDone) and event.unit == 'counter/0'
        assert pool.set_aside('counter/0')
