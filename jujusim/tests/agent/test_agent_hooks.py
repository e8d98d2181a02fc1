from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import agent_helpers
import ops.testing
import pytest

from jujusim import agent
from jujusim.agent._private import worker as worker_module


@pytest.fixture(scope='module')
def counter_class() -> type[ops.CharmBase]:
    return agent.CharmSource.load(agent_helpers.COUNTER).load_charm_class()


def make_worker(counter_class: type[ops.CharmBase], unit: str = 'counter/3') -> Any:
    source = agent.CharmSource.load(agent_helpers.COUNTER)
    return worker_module.Worker(counter_class, source, unit=unit, juju_version='3.6.14')


def stored(result: agent.HookResult) -> dict[str, Any]:
    assert result.state is not None
    (sst,) = (s for s in result.state.stored_states if s.owner_path == 'CounterCharm')
    return dict(sst.content)


@pytest.mark.parametrize(
    ('fields', 'problem'),
    [
        ({'kind': 'bogus'}, 'kind must be one of'),
        ({'kind': 'relation_changed'}, 'relation_changed needs relation_id'),
        ({'kind': 'start', 'relation_id': 1}, 'start takes no relation_id'),
        ({'kind': 'relation_broken', 'relation_id': 1, 'remote_unit': 0}, 'takes no remote_unit'),
        ({'kind': 'relation_changed', 'relation_id': 1, 'departing_unit': 0}, 'no departing_unit'),
        ({'kind': 'pebble_ready'}, 'container goes with pebble_ready'),
        ({'kind': 'start', 'container': 'c'}, 'container goes with pebble_ready'),
        ({'kind': 'action'}, 'action goes with kind="action"'),
        ({'kind': 'start', 'params': {'a': 1}}, 'start takes no params'),
    ],
)
def test_hook_spec_refuses_bad_combinations(fields: dict[str, Any], problem: str):
    with pytest.raises(ValueError, match=problem):
        agent.HookSpec(**fields)


def test_hook_spec_describe_and_pickle():
    spec = agent.HookSpec(kind='relation_departed', relation_id=4, remote_unit=1, departing_unit=1)
    assert spec.describe() == 'relation_departed(4, remote_unit=1, departing_unit=1)'
    assert pickle.loads(pickle.dumps(spec)) == spec  # noqa: S301 - our own bytes
    action = agent.HookSpec(kind='action', action='count', params={'n': 2})
    assert action.describe() == "action('count', params={'n': 2})"


def test_juju_side_and_local_state_split_a_state():
    sst = ops.testing.StoredState(owner_path='CounterCharm', content={'hooks': 4})
    deferred = ops.testing.DeferredEvent('CounterCharm/on/update_status[1]', 'CounterCharm', '_on')
    full = agent_helpers.counter_state()
    full = dataclasses.replace(full, stored_states={sst}, deferred=[deferred])

    juju = agent.juju_side(full)
    local = agent.LocalState.of(full)

    assert juju.stored_states == frozenset() and list(juju.deferred) == []
    assert juju.relations == full.relations and juju.leader and juju.config == full.config
    assert local.merged_into(juju) == full


def test_state_carried_across_hooks_and_dropped_on_failure(counter_class: type[ops.CharmBase]):
    worker = make_worker(counter_class)
    state = agent_helpers.counter_state()
    for n in (1, 2):
        result = worker.run_hook(n, agent.HookSpec(kind='config_changed'), state)
        assert result.ok and stored(result)['hooks'] == n

    failing = agent_helpers.counter_state(**{'fail-on': 'update_status'})
    result = worker.run_hook(3, agent.HookSpec(kind='update_status'), failing)
    assert not result.ok and result.state is None
    assert result.error is not None and result.error.kind == 'charm'
    assert result.error.type_name == 'RuntimeError'
    assert 'counter told to fail in update_status' in result.error.traceback
    # status-set is not rolled back by a failing hook.
    assert result.unit_status == ops.testing.MaintenanceStatus('running update_status')

    # ops commits nothing of a failed hook: the count resumes from 2.
    result = worker.run_hook(4, agent.HookSpec(kind='start'), state)
    assert stored(result)['hooks'] == 3
    assert stored(result)['kinds'] == ['config_changed', 'config_changed', 'start']


def test_deferred_events_carried_to_the_next_hook(counter_class: type[ops.CharmBase]):
    worker = make_worker(counter_class)
    deferring = agent_helpers.counter_state(**{'defer-on': 'update_status'})
    result = worker.run_hook(1, agent.HookSpec(kind='update_status'), deferring)
    assert result.state is not None and len(result.state.deferred) == 1
    assert stored(result)['hooks'] == 0

    # The next hook re-emits the deferred update_status first, then runs its own.
    result = worker.run_hook(2, agent.HookSpec(kind='start'), agent_helpers.counter_state())
    assert stored(result)['kinds'] == ['update_status', 'start']
    assert result.state is not None and list(result.state.deferred) == []


@pytest.mark.parametrize('kind', sorted(agent.HOOK_KINDS - {'action'}))
def test_every_hook_kind_reaches_the_charm_as_that_event(
    counter_class: type[ops.CharmBase], kind: str
):
    state = agent_helpers.counter_state()
    relation = agent_helpers.db_relation(state)
    fields: dict[str, Any] = {'kind': kind}
    if kind.startswith('relation_'):
        fields['relation_id'] = relation.id
        if kind in ('relation_joined', 'relation_changed', 'relation_departed'):
            fields['remote_unit'] = 0
    if kind == 'pebble_ready':
        fields['container'] = 'workload'
    if kind == 'leader_settings_changed':
        state = dataclasses.replace(state, leader=False)
    result = make_worker(counter_class).run_hook(1, agent.HookSpec(**fields), state)
    assert result.error is None, result.error
    assert stored(result)['kinds'] == [kind]


def test_relation_data_written_by_the_hook_is_in_the_result(counter_class: type[ops.CharmBase]):
    state = agent_helpers.counter_state()
    result = make_worker(counter_class, 'counter/7').run_hook(
        1, agent.HookSpec(kind='start'), state
    )
    assert result.state is not None
    relation = agent_helpers.db_relation(result.state)
    assert relation.local_unit_data['count'] == '1'
    assert relation.local_unit_data['unit'] == 'counter/7'
    assert relation.local_app_data['leader-count'] == '1'
    logged = [line.message for line in result.juju_log]
    assert 'hook 1: start' in logged
    # Without the worker process's quieting, ops's DEBUG root logger lets it through.
    assert 'http chatter' in logged


def test_actions_results_failure_and_exception(counter_class: type[ops.CharmBase]):
    worker = make_worker(counter_class)
    state = agent_helpers.counter_state()
    result = worker.run_hook(1, agent.HookSpec(kind='action', action='count'), state)
    assert result.ok and result.action_results is not None
    assert result.action_results['hooks'] == 0 and result.action_results['unit'] == 'counter/3'
    assert result.action_logs == ('counting',)

    result = worker.run_hook(2, agent.HookSpec(kind='action', action='refuse'), state)
    assert result.ok and result.action_failure == 'refused' and result.state is not None

    spec = agent.HookSpec(kind='action', action='explode', params={'message': 'kaboom'})
    result = worker.run_hook(3, spec, state)
    assert result.error is not None
    assert (result.error.kind, result.error.type_name, result.error.message) == (
        'charm',
        'ValueError',
        'kaboom',
    )
    assert 'in _on_explode' in result.error.traceback


def test_inconsistent_requests_are_reported_not_raised(counter_class: type[ops.CharmBase]):
    worker = make_worker(counter_class)
    state = agent_helpers.counter_state()
    result = worker.run_hook(1, agent.HookSpec(kind='relation_changed', relation_id=999), state)
    assert result.error is not None and result.error.kind == 'inconsistent'
    assert 'no relation with id 999' in result.error.message

    stray = dataclasses.replace(state, relations={ops.testing.Relation('not-an-endpoint')})
    result = worker.run_hook(2, agent.HookSpec(kind='start'), stray)
    assert result.error is not None and result.error.kind == 'inconsistent'
    assert 'not-an-endpoint' in result.error.message
