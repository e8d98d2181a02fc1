"""The operations a test drives: aimed faults, leader changes, moments, statuses, writes."""

import json
import re

import pytest
from model_helpers import BEACON_STUB, MESH_CONSUMER

from jujusim.model import TRACE_KINDS, HookFailureKind, Model, ModelError, TraceEvent

APP = 'consumer'


def deploy(model: Model, *, units: int = 3, labels: dict[str, str] | None = None) -> str:
    model.deploy(MESH_CONSUMER, app=APP, units=units, trust=True)
    model.deploy(BEACON_STUB, app='beacon', units=1)
    model.integrate(APP, 'beacon')
    if labels is not None:
        model.config('beacon', labels=json.dumps(labels))
    model.settle()
    leader = model.leader(APP)
    assert leader is not None
    return leader


def requests_of(model: Model, unit: str, since: int = 0) -> list[TraceEvent]:
    return [e for e in model.events[since:] if e.kind == 'request' and e.unit == unit]


# -- faults aimed by what they hit -------------------------------------------------------


@pytest.mark.parametrize('applied', [False, True], ids=['before', 'after'])
def test_kill_at_request_hits_the_matching_request(model: Model, applied: bool):
    leader = deploy(model, labels={'foo': 'bar'})
    start = len(model.events)
    plan = model.kill_at_request(leader, method='PATCH', kind='StatefulSet', applied=applied)
    assert model.pending_faults() == [plan]
    model.config('beacon', labels=json.dumps({'foo': 'baz'}))
    model.settle()

    assert plan.fired
    assert model.pending_faults() == []
    [kill] = [e for e in model.events[start:] if e.kind == 'kill']
    assert kill.unit == leader
    assert kill.fields['applied'] is applied
    assert (kill.fields['method'], kill.fields['resource']) == ('PATCH', 'StatefulSet')
    assert kill.fields['request'].partition('?')[0].endswith('/statefulsets/consumer')
    # No PATCH of the StatefulSet by that unit went through before the kill.
    before_kill = model.events[start : model.events.index(kill)]
    assert not any(
        (e.unit, e.kind, e.fields.get('method'), e.fields.get('resource'))
        == (leader, 'request', 'PATCH', 'StatefulSet')
        for e in before_kill
    )
    assert model.check(APP) == []  # the library recovers from it


def test_kill_at_request_counts_matching_requests_from_now(model: Model):
    leader = deploy(model, labels={'foo': 'bar'})
    start = len(model.events)
    plan = model.kill_at_request(leader, method='PATCH', kind='ConfigMap', applied=True, nth=2)
    model.config('beacon', labels=json.dumps({'foo': 'baz'}))
    model.settle()
    assert plan.fired
    kill_at = next(i for i, e in enumerate(model.events) if e.kind == 'kill' and i >= start)
    earlier = [
        e
        for e in requests_of(model, leader, start)
        if model.events.index(e) < kill_at
        and (e.fields['method'], e.fields['resource']) == ('PATCH', 'ConfigMap')
    ]
    assert len(earlier) == 1  # the kill took the second
    assert model.check(APP) == []


def test_a_plan_that_cannot_fire_stays_pending_until_cancelled(model: Model):
    leader = deploy(model, labels={'foo': 'bar'})
    plan = model.kill_at_request(leader, method='DELETE', kind='Namespace', applied=False)
    model.config('beacon', labels=json.dumps({'foo': 'baz'}))
    model.settle()
    assert not plan.fired
    assert model.pending_faults() == [plan]
    assert model.kill_pending(leader)
    assert plan.cancel() is True
    assert model.pending_faults() == []
    assert not model.kill_pending(leader)
    assert plan.cancel() is False  # already withdrawn
    assert plan.cancelled and not plan.fired


def test_stall_at_request_loses_the_lease_to_another_unit(model: Model):
    leader = deploy(model, labels={'foo': 'bar'})
    plan = model.stall_at_request(leader, 120, method='PATCH', kind='Service')
    model.config('beacon', labels=json.dumps({'foo': 'baz'}))
    model.settle()
    assert plan.fired
    [stall] = [e for e in model.events if e.kind == 'stall']
    assert stall.unit == leader and stall.fields['seconds'] == 120
    assert '/services/consumer' in stall.fields['request']
    assert model.leader(APP) not in (None, leader)
    assert model.check(APP) == []


def test_a_request_held_by_a_stall_is_counted_once(model: Model):
    # Stalled at its first pod write, the leader sends that write again when the stall ends:
    # a kill aimed at its second pod write must take the next one, not that one again.
    leader = deploy(model, labels={'foo': 'bar'})
    start = len(model.events)
    stall = model.stall_at_request(leader, 20, method='PATCH', kind='Pod')
    kill = model.kill_at_request(leader, method='PATCH', kind='Pod', nth=2, applied=False)
    model.config('beacon', labels=json.dumps({'foo': 'baz'}))
    model.settle()
    assert stall.fired and kill.fired
    events = model.events[start:]
    [stalled] = [e for e in events if e.kind == 'stall']
    [kill_at] = [i for i, e in enumerate(events) if e.kind == 'kill']
    killed = events[kill_at]
    assert killed.fields['resource'] == 'Pod'
    assert killed.fields['request'] != stalled.fields['request']  # the next pod's write
    pod_writes = [
        e.fields['request']
        for e in events[:kill_at]
        if (e.unit, e.kind, e.fields.get('method'), e.fields.get('resource'))
        == (leader, 'request', 'PATCH', 'Pod')
    ]
    assert pod_writes == [stalled.fields['request']]  # the stalled write, once
    assert model.check(APP) == []


@pytest.mark.parametrize('kind', ['Pod', 'Service'])
def test_a_kill_armed_during_a_stall_takes_the_held_request_if_it_matches(model: Model, kind: str):
    # The held request is still the unit's next one: a kill aimed at its kind, armed once
    # the stall began, fires as the stall ends; one aimed at another kind waits for it.
    leader = deploy(model, labels={'foo': 'bar'})
    stall = model.stall_at_request(leader, 5, method='PATCH', kind='Pod')
    model.config('beacon', labels=json.dumps({'foo': 'baz'}))
    model.run_until_faults_fired(APP)
    [stalled] = [e for e in model.events if e.kind == 'stall']
    kill = model.kill_at_request(leader, method='PATCH', kind=kind, applied=False)
    start = len(model.events)
    model.settle()
    assert stall.fired
    events = model.events[start:]
    if kind == 'Pod':
        assert kill.fired
        [killed] = [e for e in events if e.kind == 'kill']
        assert killed.unit == leader
        assert killed.fields['request'] == stalled.fields['request']  # not the next pod's
        assert model.check(APP) == []  # the hook runs again and finishes the batch
    else:
        # The batch writes the Service before any Pod: no later Service write comes.
        assert not kill.fired and not [e for e in events if e.kind == 'kill']


def test_a_kill_due_at_a_stalled_request_dies_with_the_pod(model: Model):
    # The stall and the kill aim at the same request; the pod goes while the request is
    # held: the kill never fires, and the model can still be snapshotted (nothing of the
    # dead agent's request is kept).
    leader = deploy(model, labels={'foo': 'bar'})
    stall = model.stall_at_request(leader, 90, method='PATCH', kind='Pod')
    kill = model.kill_at_request(leader, method='PATCH', kind='Pod', applied=False)
    model.config('beacon', labels=json.dumps({'foo': 'baz'}))
    model.run_until('stall', unit=leader)
    model.delete_pod(leader, graceful=False)
    model.settle()
    assert stall.fired and not kill.fired
    assert model.pending_faults() == [kill]
    model.restore(model.snapshot())
    assert model.check(APP) == []


def test_kill_at_call_is_a_plan_too(model: Model):
    leader = deploy(model, labels={'foo': 'bar'})
    plan = model.kill_at_call(leader, 1, applied=False)
    again = model.kill_at_call(leader, 2, applied=False)  # replaces the first
    assert plan.cancelled and model.pending_faults() == [again]
    model.config('beacon', labels=json.dumps({'foo': 'baz'}))
    model.settle()
    assert again.fired and not model.kill_pending(leader)


@pytest.mark.parametrize(
    ('kwargs', 'error'),
    [
        ({'method': 'FETCH'}, r"method 'FETCH' is not one of"),
        ({'kind': 'Deployment'}, r"kind 'Deployment' is not a kind the API serves"),
        ({'nth': 0}, r'nth counts matching requests from 1'),
    ],
)
def test_bad_plans_are_refused_and_plan_nothing(
    model: Model, kwargs: dict[str, object], error: str
):
    deploy(model, units=1)
    with pytest.raises(ValueError, match=error):
        model.kill_at_request(f'{APP}/0', applied=False, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="no unit 'consumer/7'"):
        model.stall_at_request(f'{APP}/7', 10)
    with pytest.raises(ModelError, match='is not a number of seconds'):
        model.stall_at_request(f'{APP}/0', 0)
    for hook in ('action', 'relation-broken'):
        with pytest.raises(ValueError, match=f'hook {hook!r} is not a hook kind'):
            model.kill_before_hook(f'{APP}/0', hook)
    with pytest.raises(ModelError, match="no unit 'consumer/7'"):
        model.kill_before_hook(f'{APP}/7', 'stop')
    assert model.pending_faults() == []


def test_a_kill_before_a_hook_fires_between_hooks_and_the_new_pod_runs_it(model: Model):
    deploy(model, units=1)
    plan = model.kill_before_hook(f'{APP}/0', 'update_status')
    mark = len(model.events)
    model.settle()
    assert not plan.fired  # no update-status within a settle
    model.advance(400)  # past the next update-status
    assert plan.fired and model.pending_faults() == []
    mine = [e for e in model.events[mark:] if e.unit == f'{APP}/0']
    [kill] = [i for i, e in enumerate(mine) if e.kind == 'kill']
    assert mine[kill].fields['hook'] == 'update_status()'
    assert not any(
        e.kind == 'hook-start' and e.fields['hook'] == 'update_status()' for e in mine[:kill]
    )
    assert any(e.kind == 'pod-started' for e in mine[kill:])


# -- leadership and moments ----------------------------------------------------------------


def test_force_leader_change_to_a_named_unit(model: Model):
    old = deploy(model, labels={'foo': 'bar'})
    to = next(u.name for u in model.units() if u.app == APP and u.name != old)
    start = len(model.events)

    assert model.force_leader_change(APP, to=to) == to
    assert model.leader(APP) == to
    kinds = [(e.kind, e.unit) for e in model.events[start:] if e.kind in TRACE_KINDS]
    assert ('leader-abdicates', old) in kinds
    assert kinds.index(('lease-expired', old)) < kinds.index(('leader-elected', to))
    assert not any(e.kind == 'stall' for e in model.events[start:])  # nobody was stalled
    [elected] = [e for e in model.events[start:] if e.kind == 'leader-elected']
    assert elected.fields == {'app': APP, 'previous': old}

    # The new leader has not run a hook as leader yet; its next hook is leader-elected.
    model.run_until('before-first-hook', unit=to)
    assert model.unit_status(to).agent == 'idle'
    hook = model.run_until('hook-start', unit=to)
    assert hook is not None and hook.fields['hook'] == 'leader_elected()'
    model.settle()
    assert model.check(APP) == []


def test_force_leader_change_lets_the_scheduler_choose(model: Model):
    old = deploy(model, units=2)
    new = model.force_leader_change(APP)
    assert new == (f'{APP}/1' if old == f'{APP}/0' else f'{APP}/0')
    assert model.leader(APP) == new


def test_force_leader_change_refuses_what_juju_could_not_do(model: Model):
    old = deploy(model, units=2)
    with pytest.raises(ModelError, match='already the leader'):
        model.force_leader_change(APP, to=old)
    with pytest.raises(ModelError, match="'consumer/9' is not a unit of consumer"):
        model.force_leader_change(APP, to=f'{APP}/9')
    with pytest.raises(ModelError, match='no application'):
        model.force_leader_change('nope')
    assert model.leader(APP) == old
    with Model(seed=3) as alone:
        deploy(alone, units=1)
        with pytest.raises(ModelError, match='no other live unit'):
            alone.force_leader_change(APP)


def test_run_until_stops_between_expiry_and_claim(model: Model):
    old = deploy(model)
    model.stall(old, 300)
    expired = model.run_until('lease-expired', unit=old)
    assert expired is not None and expired.fields['app'] == APP
    assert model.leader(APP) is None  # nobody has claimed yet
    elected = model.run_until('leader-elected', app=APP)
    assert elected is not None and elected.unit not in (None, old)
    assert model.leader(APP) == elected.unit


def test_run_until_refuses_unknown_moments_and_reports_ones_that_never_come(model: Model):
    deploy(model, units=1)
    with pytest.raises(ValueError, match="unknown moment 'elected'"):
        model.run_until('elected')
    with pytest.raises(ValueError, match='needs a unit'):
        model.run_until('before-first-hook')
    with pytest.raises(ModelError, match='lease-expired did not happen: the model settled'):
        model.run_until('lease-expired')


# -- statuses and failed hooks ---------------------------------------------------------------


def test_unit_status_and_failed_hooks_name_the_cause(model: Model):
    leader = deploy(model, units=1, labels={'foo': 'bar'})
    status = model.unit_status(leader)
    assert (status.agent, status.last_outcome, status.leader) == ('idle', 'ok', True)
    assert status.workload == 'active'
    # The API answers 500 to every StatefulSet patch for a while: the reconcile fails.
    model.inject_api_error(500, unit=leader, verb='patch', kind='StatefulSet', count=6)
    model.config('beacon', labels=json.dumps({'foo': 'baz'}))
    model.run_until('hook-failed', unit=leader)

    status = model.unit_status(leader)
    assert (status.agent, status.last_outcome) == ('error', 'failed')
    assert status.failure is not None
    assert status.last_hook == status.failure.hook
    assert status.failure.kind is HookFailureKind.CHARM_RAISED
    assert not status.failure.kind.imposed_by_juju
    assert any(e.endswith('-> 500') and 'statefulsets' in e for e in status.failure.api_errors)
    with pytest.raises(Exception):  # noqa: B017 - frozen: read-only
        status.agent = 'idle'  # type: ignore[misc]

    model.settle()  # Juju retries; the faults run out; the labels get there
    failures = model.failed_hooks(APP)
    assert failures and all(f.unit == leader for f in failures)
    assert model.failed_hooks('beacon') == []
    assert model.check(APP) == []  # the right labels in the end ...
    strict = model.check(APP, hooks_must_not_fail=True)  # ... but not without failing
    assert strict == [f.describe() for f in failures]
    assert all('-> 500' in line and '(attempt ' in line for line in strict)
    assert model.unit_status(leader).last_outcome == 'ok'


# -- writes by others --------------------------------------------------------------------------


def test_foreign_labels_on_any_kind_are_kept_by_r4(model: Model):
    deploy(model, units=2, labels={'foo': 'bar'})
    [ledger] = [n for n in model.leftover_configmaps(APP) if 'k8s-labels' in n]
    model.write_labels('ConfigMap', ledger, {'team': 'a'})
    model.write_labels('StatefulSet', APP, {'owner': 'ops'}, via_kubectl=True)
    model.config('beacon', labels=json.dumps({'foo': 'baz', 'tier': 'web'}))
    model.settle()
    assert model.check(APP) == []  # the library rewrote its ledger and kept 'team'
    assert model.expectation(APP).other_foreign[f'ConfigMap/{ledger}'] == {'team': 'a'}

    # The checker reads those objects: someone removing the label is caught.
    model.kube.patch('StatefulSet', model.name, APP, {'metadata': {'labels': {'owner': None}}})
    [problem] = model.check(APP)
    assert problem == "R4: StatefulSet/consumer label 'owner' is absent, expected 'ops'"


def test_bad_foreign_writes_are_refused_and_record_nothing(model: Model):
    deploy(model, units=1)
    with pytest.raises(ModelError, match="'Deployment' is neither a served kind"):
        model.write_labels('Deployment', APP, {'a': 'b'})
    with pytest.raises(ModelError, match='ConfigMap/missing: no such object'):
        model.write_labels('ConfigMap', 'missing', {'a': 'b'})
    with pytest.raises(ModelError, match='cannot write labels on Service/consumer'):
        model.write_labels('Service', APP, {'bad key': 'b'})
    assert set(model.expectation(APP).other_foreign) == {
        'StatefulSet/consumer',
        'StatefulSet/beacon',
    }
    assert not any(e.kind == 'foreign-write' for e in model.events)


def test_leave_upstream_configmap_as_the_upstream_library_does(model: Model):
    model.deploy(MESH_CONSUMER, app=APP, units=1, trust=True)
    name = model.leave_upstream_configmap(APP, {'istio.io/dataplane-mode': 'ambient'})
    assert name == f'juju-service-mesh-{APP}-labels'
    cm = model.kube.get('ConfigMap', model.name, name)
    assert cm is not None
    assert json.loads(cm['data']['labels']) == {'istio.io/dataplane-mode': 'ambient'}
    assert 'ownerReferences' not in cm['metadata']
    sts = model.kube.get('StatefulSet', model.name, APP)
    assert sts is not None
    assert sts['spec']['template']['metadata']['labels']['istio.io/dataplane-mode'] == 'ambient'
    [event] = [e for e in model.events if e.kind == 'upstream-leftover']
    assert event.fields['configmap'] == name
    with pytest.raises(ModelError, match='already exists'):
        model.leave_upstream_configmap(APP, {})
    with pytest.raises(ModelError, match='reserved for Juju or Kubernetes'):
        model.leave_upstream_configmap(APP, {'app.kubernetes.io/name': 'x'})


def test_spans_and_counts_the_model_cannot_run_are_refused(model: Model):
    # Each would run for ever (every timer due on the way) or never make sense.
    deploy(model, units=1)
    unit = f'{APP}/0'
    for bad in (-1, 0, float('nan'), float('inf'), 1e30, True):
        with pytest.raises(ModelError, match='is not a number of seconds'):
            model.stall(unit, bad)
        with pytest.raises(ModelError, match='is not a number of seconds'):
            model.stall_at_call(unit, 1, bad)
        with pytest.raises(ModelError, match='is not a number of seconds'):
            model.api_outage(bad)
    for bad in (-5, float('nan'), 1e30):
        with pytest.raises(ModelError, match='cannot advance'):
            model.advance(bad)
    for bad in (-1, 21, 100000, 2.5):
        with pytest.raises(ModelError, match='is not a whole number of units'):
            model.scale(APP, bad)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ModelError, match='is not a whole number of units'):
        model.deploy(BEACON_STUB, app='more', units=0)
    assert model.pending_faults() == []
    model.advance(0)
    model.scale(APP, 2)
    model.settle()
    assert model.check(APP) == []


def test_upstream_leftovers_stay_while_the_first_data_is_refused(model: Model):
    # A charm switching from the upstream library whose provider's first data is refused
    # changes nothing: upstream's labels stay, as the last data any library accepted put
    # them there. Once valid data comes, the keys it does not ask for must go.
    model.deploy(BEACON_STUB, app='beacon', units=1)
    model.settle()
    raw = json.dumps({'labels': 'not json', 'mesh_type': '"istio"'})
    assert model.run_action_to_end('beacon/0', 'publish-raw', {'data': raw}).error is None
    model.deploy(MESH_CONSUMER, app=APP, units=2, trust=True)
    model.leave_upstream_configmap(APP, {'istio.io/dataplane-mode': 'ambient', 'old': 'gone'})
    model.integrate(APP, 'beacon')
    model.settle()
    expectation = model.expectation(APP)
    assert expectation.blocked is not None
    assert expectation.desired == {'istio.io/dataplane-mode': 'ambient', 'old': 'gone'}
    assert model.check(APP) == []
    model.config('beacon', labels=json.dumps({'istio.io/dataplane-mode': 'ambient'}))
    model.settle()
    assert model.expectation(APP).released == {'old'}
    assert model.check(APP) == []
    assert model.kube.get('ConfigMap', model.name, f'juju-service-mesh-{APP}-labels') is None


# -- the trace -----------------------------------------------------------------------------------


def test_every_event_kind_is_documented(model: Model):
    leader = deploy(model, labels={'foo': 'bar'})
    model.force_leader_change(APP)
    model.kill_at_request(leader, applied=True)
    model.write_labels('Pod', f'{APP}-0', {'team': 'a'})
    model.settle()
    kinds = {e.kind for e in model.events}
    assert kinds <= set(TRACE_KINDS), kinds - set(TRACE_KINDS)
    assert {'hook-start', 'hook-done', 'request', 'leader-elected', 'lease-expired'} <= kinds


def test_the_sources_record_only_documented_kinds():
    # A new kind must be documented in _trace.KINDS: consumers match on kinds, not text.
    import pathlib

    import jujusim.model

    source = pathlib.Path(jujusim.model.__file__).parent
    used: set[str] = set()
    for path in source.glob('*.py'):
        used |= set(re.findall(r"trace\.record\(\s*'([a-z-]+)'", path.read_text()))
    assert used, 'no trace.record call found: the pattern is stale'
    assert used <= set(TRACE_KINDS), used - set(TRACE_KINDS)


def test_a_foreign_write_of_the_value_already_there_claims_nothing(model: Model):
    # Kubernetes keeps no trace of a write that changes nothing, so the owner's value
    # stays the owner's: releasing it is no R4 violation (lib/README.md, "Limits").
    deploy(model, units=1, labels={'foo': 'bar'})
    model.write_labels('Service', APP, {'foo': 'bar', 'team': 'a'})
    model.write_labels('Pod', f'{APP}-0', {'foo': 'bar', 'gone': None})
    assert model.expectation(APP).service_foreign.get('foo') is None
    assert model.expectation(APP).service_foreign['team'] == 'a'
    assert not any('gone' in labels for labels in model.expectation(APP).pod_foreign.values())
    model.config('beacon', labels=json.dumps({}))
    model.settle()
    assert model.check(APP) == []
    service = model.kube.get('Service', model.name, APP)
    assert service is not None
    assert 'foo' not in service['metadata']['labels']
    assert service['metadata']['labels']['team'] == 'a'


def test_a_deleted_pod_that_serves_no_unit_goes(model: Model):
    # A rollout during a scale-down: the StatefulSet may make a pod again for a unit Juju
    # has removed (its replicas are lowered only once every dying unit is dead), then
    # delete it gracefully. No agent serves it to hold up its deletion (explore found a
    # pod left Terminating for good, a rollout that never ended). Here the replicas are
    # raised and lowered by hand, which makes and deletes such a pod the same way.
    deploy(model, units=1)
    model.kube.patch('StatefulSet', model.name, APP, {'spec': {'replicas': 2}})
    model.settle()
    assert model.kube.get('Pod', model.name, f'{APP}-1') is not None
    assert [u.name for u in model.units() if u.app == APP] == [f'{APP}/0']
    model.kube.patch('StatefulSet', model.name, APP, {'spec': {'replicas': 1}})
    model.settle()
    assert model.kube.get('Pod', model.name, f'{APP}-1') is None
    assert model.check(APP) == []
