from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable
from typing import Any, cast

import agent_helpers
import ops.testing
import pytest

from jujusim import agent
from jujusim.agent._private.worker import ASK_LEADER_ENV

PATIENCE = agent_helpers.PATIENCE


def hook(kind: str, **fields: Any) -> agent.HookSpec:
    return agent.HookSpec(kind=cast('agent.HookKind', kind), **fields)


def process(pool: agent.AgentPool, unit: str) -> agent.UnitProcess:
    found = pool.process(unit)
    assert found is not None
    return found


def count(pool: agent.AgentPool, unit: str, state: ops.testing.State) -> dict[str, object]:
    result = pool.run_hook(unit, hook('action', action='count'), state)
    assert result.ok and result.action_results is not None
    return dict(result.action_results)


def next_event(pool: agent.AgentPool) -> agent.AgentEvent:
    event = pool.next_event(PATIENCE)
    assert event is not None, 'no event within the test patience'
    return event


def test_local_state_carried_across_hooks_in_one_worker(units: agent_helpers.Units):
    pool = units.pool
    unit = units.new()
    state = agent_helpers.counter_state()
    pid = process(pool, unit).pid

    for kind in ('install', 'config_changed', 'start'):
        result = pool.run_hook(unit, hook(kind), state)
        assert result.ok, result.error
        assert result.state is not None
        state = agent.juju_side(result.state)

    assert result.unit_status == ops.testing.ActiveStatus('3 hooks, last start')
    logged = [line.message for line in result.juju_log]
    assert 'hook 3: start' in logged
    # The worker keeps HTTP clients' debug lines out of juju-log (ops sets root to DEBUG).
    assert 'http chatter' not in logged
    assert count(pool, unit, state)['kinds'] == 'install,config_changed,start'
    assert process(pool, unit).pid == pid


def test_deferred_event_survives_between_hooks_in_the_worker(units: agent_helpers.Units):
    pool = units.pool
    unit = units.new()
    deferring = agent_helpers.counter_state(**{'defer-on': 'update_status'})
    result = pool.run_hook(unit, hook('update_status'), deferring)
    assert result.state is not None and len(result.state.deferred) == 1

    result = pool.run_hook(unit, hook('config_changed'), agent_helpers.counter_state())
    assert result.ok
    assert count(pool, unit, agent_helpers.counter_state())['kinds'] == (
        'update_status,config_changed'
    )


def test_sigkill_mid_hook_then_fresh_worker_with_juju_side_state(
    units: agent_helpers.Units, gate: agent_helpers.Gate
):
    pool = units.pool
    unit = units.new()
    state = agent_helpers.counter_state(greeting='kept')
    for _ in range(3):
        result = pool.run_hook(unit, hook('update_status'), state)
        assert result.state is not None
        state = agent.juju_side(result.state)
    assert agent_helpers.db_relation(state).local_unit_data['count'] == '3'
    old_pid = process(pool, unit).pid

    gated = dataclasses.replace(state, config={**state.config, 'gate': gate.path})
    spec = hook('config_changed')
    pool.start_hook(unit, spec, gated)
    conn, who = gate.arrive()
    assert who == f'{unit} config_changed'  # the worker stands mid-hook
    pool.kill(unit)

    gone = next_event(pool)
    assert gone == agent.WorkerGone(unit, old_pid, signal.SIGKILL, None, spec, killed=True)
    conn.close()
    # The killed hook never reports: nothing is pending any more.
    with pytest.raises(agent.AgentError, match='nothing to wait for'):
        pool.next_event()

    pool.restart(unit)
    assert process(pool, unit).pid != old_pid
    result = pool.run_hook(unit, hook('upgrade_charm'), state)
    assert result.ok and result.state is not None
    # Fresh local state: the count starts again...
    assert result.unit_status == ops.testing.ActiveStatus('1 hooks, last upgrade_charm')
    # ...while what Juju keeps reached the new worker: leader flag, config, relation data.
    relation = agent_helpers.db_relation(result.state)
    assert relation.local_app_data['leader-count'] == '1'
    assert relation.remote_app_data == {'peer-says': 'hi'}
    assert result.state.config['greeting'] == 'kept'


def test_restarted_units_events_follow_the_old_workers_end(units: agent_helpers.Units):
    pool = units.pool
    unit = units.new()
    old_pid = process(pool, unit).pid
    pool.restart(unit)
    hook_id = pool.start_hook(unit, hook('start'), agent_helpers.counter_state())

    first, second = next_event(pool), next_event(pool)
    assert isinstance(first, agent.WorkerGone) and first.pid == old_pid
    assert first.hook is None and first.signal == signal.SIGKILL
    assert isinstance(second, agent.HookDone) and second.result.hook_id == hook_id


def test_charm_exception_is_an_error_result_with_its_traceback(units: agent_helpers.Units):
    pool = units.pool
    unit = units.new()
    good = agent_helpers.counter_state()
    assert pool.run_hook(unit, hook('start'), good).ok

    failing = agent_helpers.counter_state(**{'fail-on': 'config_changed'})
    event_id = pool.start_hook(unit, hook('config_changed'), failing)
    done = next_event(pool)
    assert isinstance(done, agent.HookDone) and done.unit == unit
    result = done.result
    assert result.hook_id == event_id and not result.ok and result.state is None
    assert result.error is not None
    assert (result.error.kind, result.error.type_name) == ('charm', 'RuntimeError')
    assert result.error.message == 'counter told to fail in config_changed'
    tb = result.error.traceback
    assert 'counter/src/charm.py' in tb and 'in _on_hook' in tb
    assert tb.rstrip().endswith('RuntimeError: counter told to fail in config_changed')
    assert result.unit_status == ops.testing.MaintenanceStatus('running config_changed')

    # The worker lives on with the local state of the last good hook.
    assert count(pool, unit, good)['hooks'] == 1


def test_two_units_in_flight_complete_in_release_order(
    units: agent_helpers.Units, gate: agent_helpers.Gate
):
    pool = units.pool
    first, second = units.new(), units.new()
    gated = agent_helpers.counter_state(gate=gate.path)

    for release_order in ([second, first], [first, second]):
        ids = {
            unit: pool.start_hook(unit, hook('update_status'), gated) for unit in (first, second)
        }
        waiting = gate.arrivals(2)
        assert set(waiting) == {first, second}  # both blocked mid-hook at once
        for unit in release_order:
            gate.release(waiting[unit])
            done = next_event(pool)
            assert isinstance(done, agent.HookDone)
            assert (done.unit, done.result.hook_id) == (unit, ids[unit])
            assert done.result.ok


def test_gate_can_make_a_blocked_hook_fail(units: agent_helpers.Units, gate: agent_helpers.Gate):
    pool = units.pool
    unit = units.new()
    pool.start_hook(unit, hook('update_status'), agent_helpers.counter_state(gate=gate.path))
    conn, _ = gate.arrive()
    gate.release(conn, 'raise')
    done = next_event(pool)
    assert isinstance(done, agent.HookDone) and done.result.error is not None
    assert 'told to fail at the gate' in done.result.error.message


def test_each_worker_has_its_own_environment_and_temp_dir(units: agent_helpers.Units):
    pool = units.pool
    a = units.new(env={'KUBECONFIG': '/kube/a.yaml'})
    b = units.new(env={'KUBECONFIG': '/kube/b.yaml'})
    state = agent_helpers.counter_state()

    seen = {unit: count(pool, unit, state) for unit in (a, b)}
    assert seen[a]['kubeconfig'] == '/kube/a.yaml' and seen[b]['kubeconfig'] == '/kube/b.yaml'
    assert seen[a]['unit'] == a and seen[b]['unit'] == b
    for unit in (a, b):
        assert seen[unit]['tmpdir'] == str(process(pool, unit).tmpdir)
    assert seen[a]['tmpdir'] != seen[b]['tmpdir']
    # The parent's own environment is untouched.
    assert os.environ.get('KUBECONFIG') not in ('/kube/a.yaml', '/kube/b.yaml')

    # A restart keeps the unit's environment unless told otherwise.
    pool.restart(a)
    assert count(pool, a, state)['kubeconfig'] == '/kube/a.yaml'
    pool.restart(a, env={'KUBECONFIG': '/kube/a2.yaml'})
    assert count(pool, a, state)['kubeconfig'] == '/kube/a2.yaml'


def test_hung_hook_times_out_as_an_error(units: agent_helpers.Units, gate: agent_helpers.Gate):
    pool = units.pool
    unit = units.new()
    pid = process(pool, unit).pid
    pool.hook_timeout = 0.5
    try:
        spec = hook('update_status')
        hook_id = pool.start_hook(unit, spec, agent_helpers.counter_state(gate=gate.path))
        conn, _ = gate.arrive()  # and never released
        done = next_event(pool)
    finally:
        pool.hook_timeout = agent.DEFAULT_HOOK_TIMEOUT
    assert isinstance(done, agent.HookDone) and done.result.hook_id == hook_id
    assert done.result.error is not None and done.result.error.kind == 'timeout'
    assert 'ran over 0.5 s' in done.result.error.message
    gone = next_event(pool)
    assert gone == agent.WorkerGone(unit, pid, signal.SIGKILL, None, None, killed=True)
    conn.close()
    assert unit not in pool.units


def test_misuse_is_a_clear_error(units: agent_helpers.Units, gate: agent_helpers.Gate):
    pool = units.pool
    unit = units.new()
    state = agent_helpers.counter_state()
    relation_id = agent_helpers.db_relation(state).id

    with pytest.raises(agent.AgentError, match='counter/999 has no live worker'):
        pool.start_hook('counter/999', hook('start'), state)
    with pytest.raises(agent.AgentError, match="application 'nope' has not been added"):
        pool.spawn('nope/0')
    with pytest.raises(ValueError, match='bad unit name'):
        pool.spawn('counter')
    with pytest.raises(agent.AgentError, match='already has a live worker'):
        pool.spawn(unit)
    with pytest.raises(ValueError, match=r'no relation with id 12345 in the state \(ids: \['):
        pool.start_hook(unit, hook('relation_changed', relation_id=12345), state)
    with pytest.raises(ValueError, match="no container 'nope'"):
        pool.start_hook(unit, hook('pebble_ready', container='nope'), state)
    with pytest.raises(ValueError, match="declares no action 'fly'"):
        pool.start_hook(unit, hook('action', action='fly'), state)
    polluted = dataclasses.replace(
        state, stored_states={ops.testing.StoredState(owner_path='X', content={})}
    )
    with pytest.raises(ValueError, match=r'unit-local .* pass juju_side\(state\)'):
        pool.start_hook(unit, hook('start'), polluted)

    # Juju runs one hook at a time per unit.
    pool.start_hook(unit, hook('update_status'), agent_helpers.counter_state(gate=gate.path))
    conn, _ = gate.arrive()
    with pytest.raises(agent.AgentError, match='already running update_status'):
        pool.start_hook(unit, hook('start'), state)
    gate.release(conn)
    done = next_event(pool)
    assert isinstance(done, agent.HookDone) and done.result.ok
    # Nothing was lost by the refusals: the unit still runs hooks normally.
    assert pool.run_hook(unit, hook('relation_changed', relation_id=relation_id), state).ok
    with pytest.raises(agent.AgentError, match='nothing to wait for'):
        pool.next_event()


def test_kill_discards_an_outcome_already_on_its_way(units: agent_helpers.Units):
    pool = units.pool
    unit = units.new()
    pid = process(pool, unit).pid
    pool.start_hook(unit, hook('start'), agent_helpers.counter_state())
    # White box: pump until the hook's HookDone sits in the pool's queue, undelivered.
    while not pool._events:
        pool._pump(PATIENCE)
    pool.kill(unit)

    event = next_event(pool)
    assert event == agent.WorkerGone(unit, pid, signal.SIGKILL, None, None, killed=True)
    with pytest.raises(agent.AgentError, match='nothing to wait for'):
        pool.next_event()


def _leads(result: agent.HookResult) -> bool:
    """Whether the counter charm saw itself as leader (it then writes the app databag)."""
    assert result.ok and result.state is not None, result.error
    return 'leader-count' in agent_helpers.db_relation(result.state).local_app_data


def test_is_leader_is_asked_of_the_pools_callback_once_per_hook():
    asked: list[str] = []
    lease = {'counter/0': False, 'counter/1': True}

    def is_leader(unit: str) -> bool:
        asked.append(unit)
        return lease[unit]

    state = agent_helpers.counter_state()  # the State says leader: the callback overrides it
    with agent.AgentPool(is_leader=is_leader) as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        for unit in lease:
            pool.spawn(unit, env={ASK_LEADER_ENV: '1'})
        assert [_leads(pool.run_hook(u, hook('config_changed'), state)) for u in lease] == [
            False,
            True,
        ]
        # ops asks again for collect-status; the worker kept the answer within the hook.
        assert asked == ['counter/0', 'counter/1']
        lease['counter/0'] = True  # a new hook asks again
        assert _leads(pool.run_hook('counter/0', hook('update_status'), state))
        assert asked[-1] == 'counter/0'
        # Without the variable (as in a spare's warm-up), the State answers.
        pool.spawn('counter/2')
        assert _leads(pool.run_hook('counter/2', hook('config_changed'), state))
        assert asked.count('counter/2') == 0


def test_is_leader_without_a_callback_is_the_states(units: agent_helpers.Units):
    unit = units.new(env={ASK_LEADER_ENV: '1'})
    state = agent_helpers.counter_state()
    assert _leads(units.pool.run_hook(unit, hook('config_changed'), state))
    follower = dataclasses.replace(state, leader=False)
    assert not _leads(units.pool.run_hook(unit, hook('config_changed'), follower))


def _pump_until(pool: agent.AgentPool, done: Callable[[], bool], seconds: float) -> bool:
    """Let the pool read its sockets for up to ``seconds``; whether ``done`` came true."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        assert pool.next_event(timeout=0.02) is None
    return done()


def test_a_taken_spare_is_replaced_once_its_unit_has_run_a_hook_or_died():
    with agent.AgentPool(spares=1) as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        pool.wait_for_spares()
        assert len(pool.pids) == 2  # the zygote and its spare
        pool.spawn('counter/0')  # takes the spare
        # No new spare warms beside the unit's first hook...
        assert not _pump_until(pool, lambda: len(pool.pids) > 2, 0.3)
        assert pool.run_hook('counter/0', hook('start'), agent_helpers.counter_state()).ok
        # ...and one comes after it.
        assert _pump_until(pool, lambda: len(pool.pids) == 3, PATIENCE)
        pool.wait_for_spares()
        pool.spawn('counter/1')  # takes the new spare, then dies before any hook
        pool.kill('counter/1')
        assert isinstance(pool.next_event(PATIENCE), agent.WorkerGone)
        # The zygote, counter/0 and the spare that replaces the one counter/1 took.
        assert _pump_until(pool, lambda: len(pool.pids) == 3, PATIENCE)


def test_wait_for_spares_replaces_a_taken_spare_at_once():
    with agent.AgentPool(spares=1) as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        pool.spawn('counter/0')
        pool.wait_for_spares()
        assert len(pool.pids) == 3  # the zygote, counter/0 and a new spare
