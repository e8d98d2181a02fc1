"""ServiceMeshConsumer in an ops.testing charm against the fake API: R1-R4 and events."""

from __future__ import annotations

import dataclasses
import json
import types
from collections import Counter
from collections.abc import Mapping

import lightkube
import ops
import pytest
from k8s_labels_testenv import APP, LEDGER, META, NS, Env, Killed, iter_kills, relation, state
from ops import testing

import k8s_labels
from k8s_labels import _ledger, _plan

AMBIENT = {'istio.io/dataplane-mode': 'ambient'}


def changed(
    env: Env,
    labels: dict[str, str] | None,
    *,
    unit: int = 0,
    manager_class: type[k8s_labels.LabelManager] = k8s_labels.LabelManager,
) -> testing.State:
    """The provider's data is ``labels`` (None: no relation); unit runs relation-changed."""
    ctx = env.context(unit, manager_class=manager_class)
    if labels is None:
        return ctx.run(ctx.on.update_status(), state())
    rel = relation(labels)
    return ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))


# -- R3: relation changes -----------------------------------------------------------------


def test_r3_keys_added_changed_removed_all_removed_and_relation_removed(env: Env):
    managed: set[str] = set()
    steps: list[dict[str, str]] = [
        {'a.io/x': '1'},
        {'a.io/x': '2', 'b.io/y': '1'},  # changed and added
        {'b.io/y': '1'},  # removed
        {},  # all removed
        {'c.io/z': '3'},
    ]
    for labels in steps:
        out = changed(env, labels)
        managed |= set(labels)
        assert out.unit_status == ops.ActiveStatus()
        env.check(labels, managed=managed)
    # Relation removed: relation-broken, the broken relation hidden from the model.
    ctx = env.context()
    rel = relation({'c.io/z': '3'})
    ctx.run(ctx.on.relation_broken(rel), state(rel))
    env.check({}, managed=managed)
    ledger = env.ledger()
    assert ledger is not None
    assert (ledger['template'], ledger['service'], ledger['pods']) == ({}, {}, {})


def test_several_changes_seen_as_one_relation_changed(env: Env):
    # Juju coalesces data changes; the library reads the current data, whatever the trigger.
    changed(env, {'a.io/x': '1', 'b.io/y': '1'})
    changed(env, {'b.io/y': '2', 'c.io/z': '1'})
    env.check({'b.io/y': '2', 'c.io/z': '1'}, managed={'a.io/x', 'b.io/y', 'c.io/z'})


# -- R1: leader changes -------------------------------------------------------------------


def test_r1_a_new_leader_with_no_local_state_applies_the_current_data(env: Env):
    changed(env, {'a.io/x': '1', 'b.io/y': '1'})
    # Data changes; the old leader (unit 0) is no longer leader and does nothing.
    rel = relation({'a.io/x': '2'})
    ctx0 = env.context(0)
    before = len(env.api.log.entries(env.caller))
    ctx0.run(ctx0.on.relation_changed(rel, remote_unit=0), state(rel, leader=False))
    assert len(env.api.log.entries(env.caller)) == before  # a non-leader makes no API call
    # Unit 1 becomes leader with fresh local state.
    ctx1 = env.context(1)
    out = ctx1.run(ctx1.on.leader_elected(), state(rel))
    assert out.unit_status == ops.ActiveStatus()
    env.check({'a.io/x': '2'}, managed={'a.io/x', 'b.io/y'})
    assert env.ledger()['writer'] == f'{APP}/1'  # type: ignore[index]


def test_adr_counterexample_new_leader_removes_foo_after_leader_dies_as_data_resets(env: Env):
    """The ADR's counterexample.

    ``{"foo": "bar"}`` is applied; the relation data is reset to ``{}`` while the leader
    pod dies; a new leader with no local state processes the change: ``foo`` must go.
    """
    changed(env, {'foo': 'bar'})
    env.check({'foo': 'bar'}, managed={'foo'})
    # The leader's pod dies before it can process the reset (its hook never runs).
    env.api.delete('Pod', NS, f'{APP}-0')
    env.settle()
    # The new leader, fresh local state, processes relation-changed with {}.
    ctx1 = env.context(1)
    rel = relation({})
    ctx1.run(ctx1.on.relation_changed(rel, remote_unit=0), state(rel))
    env.check({}, managed={'foo'})
    assert all('foo' not in labels for labels in env.pods().values())


def test_adr_counterexample_leader_killed_while_processing_the_reset(env: Env):
    """The same, with the leader dying mid-hook: between any two of its API calls."""
    changed(env, {'foo': 'bar'})
    env.settle()
    probe = env.clone()
    changed(probe, {})
    total = len(probe.api.log.entries(probe.caller))
    for kill in iter_kills(total):
        run = env.clone()
        run.kill = kill
        with pytest.raises(Killed):
            changed(run, {})
        ctx1 = run.context(1)
        rel = relation({})
        ctx1.run(ctx1.on.relation_changed(rel, remote_unit=0), state(rel))
        run.check({}, managed={'foo'})


# -- R2: pod restarts ---------------------------------------------------------------------


def test_r2_a_recreated_pod_carries_the_labels_and_the_restart_hooks_write_nothing(env: Env):
    changed(env, AMBIENT)
    env.settle()
    env.api.delete('Pod', NS, f'{APP}-0')
    env.settle()
    assert env.pods()[f'{APP}-0']['istio.io/dataplane-mode'] == 'ambient'
    writes = len(env.writes())
    # The restart hook sequence on the new pod, fresh local state.
    ctx = env.context(0)
    rel = relation(AMBIENT)
    for event in (ctx.on.upgrade_charm(), ctx.on.config_changed(), ctx.on.start()):
        out = ctx.run(event, state(rel))
        assert out.unit_status == ops.ActiveStatus()
    assert len(env.writes()) == writes
    env.check(AMBIENT, managed=set(AMBIENT))


def test_drift_on_a_pod_is_repaired_on_update_status(env: Env):
    changed(env, AMBIENT)
    env.settle()
    env.label(f'{APP}-1', 'istio.io/dataplane-mode', None)
    ctx = env.context()
    rel = relation(AMBIENT)
    ctx.run(ctx.on.update_status(), state(rel))
    assert env.pods()[f'{APP}-1']['istio.io/dataplane-mode'] == 'ambient'


# -- R4: other writers' labels ------------------------------------------------------------


def test_r4_foreign_labels_are_never_touched():
    env = Env(template_labels={'team': 'blue'}, service_labels={'tier': 'web'})
    env.label(f'{APP}-1', 'debug', 'yes')
    foreign = {'template': {'team': 'blue'}, 'service': {'tier': 'web'}}
    for labels in ({'a.io/x': '1'}, {'a.io/x': '2'}, {}):
        changed(env, labels)
        env.check(labels, managed={'a.io/x'}, foreign=foreign)
    # Pod-level foreign labels die when a template change rolls the pods (Kubernetes);
    # those on the template and the Service are never touched.
    assert env.template()['team'] == 'blue' and env.service()['tier'] == 'web'


def test_r4_a_foreign_key_is_taken_over_while_desired_and_given_back():
    # istio-beacon's key set to "none" by someone else (F5 in docs/design-notes.md).
    env = Env(
        template_labels={'istio.io/dataplane-mode': 'none'},
        service_labels={'istio.io/dataplane-mode': 'other'},
    )
    foreign = {
        'template': {'istio.io/dataplane-mode': 'none'},
        'service': {'istio.io/dataplane-mode': 'other'},
    }
    changed(env, AMBIENT)
    env.check(AMBIENT, managed=set(AMBIENT), foreign=foreign)
    changed(env, {})
    env.check({}, managed=set(AMBIENT), foreign=foreign)
    assert env.template()['istio.io/dataplane-mode'] == 'none'
    assert env.service()['istio.io/dataplane-mode'] == 'other'


def r4_others_values_survive_release(manager_class: type[k8s_labels.LabelManager]) -> None:
    """R4 where the library's own key was rewritten or removed by someone else."""
    env = Env()
    changed(env, AMBIENT, manager_class=manager_class)
    env.settle()
    env.label('service', 'istio.io/dataplane-mode', 'theirs')
    env.label('template', 'istio.io/dataplane-mode', 'also-theirs', caller='another-controller')
    changed(env, {}, manager_class=manager_class)
    assert env.service().get('istio.io/dataplane-mode') == 'theirs'
    assert env.template().get('istio.io/dataplane-mode') == 'also-theirs'
    env.check(
        {},
        managed=set(AMBIENT),
        foreign={
            'service': {'istio.io/dataplane-mode': 'theirs'},
            'template': {'istio.io/dataplane-mode': 'also-theirs'},
        },
    )


def test_r4_a_value_someone_else_writes_over_ours_is_theirs_on_release():
    r4_others_values_survive_release(k8s_labels.LabelManager)


def _release_by_key(
    entry: _ledger.Entry | None, current: str | None, desired: str | None
) -> _plan.KeyPlan:
    if desired is None and entry is not None and current is not None:
        return _plan.KeyPlan(True, entry.foreign, _ledger.Entry(frozenset({current})), None)
    return _plan.plan_key(entry, current, desired)


class DeleteByKey(k8s_labels.LabelManager):
    """Broken on purpose: releases a key whatever value it holds now."""

    def _plan(self, snapshot: object, desired: Mapping[str, str]) -> _plan.Plan:
        return _plan.plan(
            snapshot.ledger,  # type: ignore[attr-defined]
            desired,
            snapshot.objects,  # type: ignore[attr-defined]
            writer=self.writer,
            key_planner=_release_by_key,
        )


def test_the_r4_check_catches_a_release_that_does_not_check_the_value():
    with pytest.raises(AssertionError):
        r4_others_values_survive_release(DeleteByKey)


# -- events, leadership, counts -----------------------------------------------------------


@pytest.mark.parametrize(
    'event',
    [
        'relation_created',
        'relation_changed',
        'leader_elected',
        'upgrade_charm',
        'start',
        'config_changed',
        'update_status',
    ],
)
def test_each_observed_event_reconciles_on_the_leader(env: Env, event: str):
    ctx = env.context()
    rel = relation(AMBIENT)
    on = ctx.on
    events = {
        'relation_created': lambda: on.relation_created(rel),
        'relation_changed': lambda: on.relation_changed(rel, remote_unit=0),
        'leader_elected': on.leader_elected,
        'upgrade_charm': on.upgrade_charm,
        'start': on.start,
        'config_changed': on.config_changed,
        'update_status': on.update_status,
    }
    ctx.run(events[event](), state(rel))
    env.check(AMBIENT, managed=set(AMBIENT))


def test_an_unobserved_event_makes_no_api_call(env: Env):
    ctx = env.context()
    rel = relation(AMBIENT)
    ctx.run(ctx.on.install(), state(rel))
    assert env.api.log.entries(env.caller) == []


def test_nothing_to_change_means_no_write_and_one_read_per_kind(env: Env):
    changed(env, AMBIENT)
    env.settle()
    seen = len(env.api.log.entries(env.caller))
    changed(env, AMBIENT)
    entries = env.api.log.entries(env.caller)[seen:]
    assert [e for e in entries if e.is_write] == []
    assert Counter((e.verb, e.kind) for e in entries) == {
        ('get', 'ConfigMap'): 1,
        ('get', 'StatefulSet'): 1,
        ('get', 'Service'): 1,
        ('list', 'Pod'): 1,
    }


def test_the_ledger_is_owned_by_the_statefulset_and_goes_with_it(env: Env):
    changed(env, AMBIENT)
    cm = env.api.get('ConfigMap', NS, LEDGER)
    sts = env.api.get('StatefulSet', NS, APP)
    assert cm is not None and sts is not None
    (ref,) = cm['metadata']['ownerReferences']
    assert (ref['kind'], ref['name'], ref['uid']) == ('StatefulSet', APP, sts['metadata']['uid'])
    env.api.delete('StatefulSet', NS, APP)
    env.settle()
    assert env.api.get('ConfigMap', NS, LEDGER) is None


def departed_as_itself(
    ctx: testing.Context[ops.CharmBase], rel: testing.Relation, before: testing.State
) -> testing.State:
    """relation-departed with the local unit as the departing one, as Juju runs it on a unit
    being removed. ops.testing names only a remote unit, so the hook's Juju context is
    corrected before it runs (as jujusim's worker does)."""
    with ctx(ctx.on.relation_departed(rel, remote_unit=0), before) as manager:
        ops_manager = manager.ops
        assert ops_manager is not None
        juju = ops_manager._juju_context
        ops_manager._juju_context = dataclasses.replace(
            juju, relation_departing_unit_name=juju.unit_name
        )
        return manager.run()


def test_a_leader_being_removed_leaves_the_labels_to_the_next_leader(env: Env):
    # A scale-down removes the highest ordinals, the leader perhaps among them: the unit
    # departs each relation as itself (JUJU_DEPARTING_UNIT is the local unit), then runs
    # relation-broken while still leader (juju internal/worker/uniter/leadership/
    # resolver.go: a Dying unit resigns only in its own state; the lease runs on). That
    # broken is the unit leaving, not the relation's removal: releasing the labels there
    # would take them off every remaining pod and roll them, twice, until the next leader
    # puts them back.
    changed(env, AMBIENT)
    env.settle()
    writes = len(env.writes())
    ctx = env.context()
    rel = relation(AMBIENT)
    out = departed_as_itself(ctx, rel, state(rel))
    out = ctx.run(ctx.on.relation_broken(rel), state(rel, stored=out.stored_states))
    assert env.writes()[writes:] == []
    env.check(AMBIENT, managed=set(AMBIENT))
    assert out.unit_status == ops.ActiveStatus()


@pytest.mark.parametrize(
    ('unit', 'planned', 'released'),
    [
        (1, 1, False),  # scaled 2 -> 1: app/1 is Dying
        (0, 0, False),  # the application is being removed: every unit is Dying
        (1, 2, True),  # the relation removed, nobody leaving
        (0, 1, True),
    ],
)
def test_a_leader_that_lost_its_departing_mark_with_its_pod_asks_juju(
    env: Env, unit: int, planned: int, released: bool
):
    # The departing mark is StoredState: a pod deleted between relation-departed and
    # relation-broken comes back without it. Juju removes the highest ordinals (unit
    # app/N is pod app-N) and goal-state counts the units that are not Dying, so a unit
    # numbered at or past planned_units() is the one leaving.
    changed(env, AMBIENT)
    writes = len(env.writes())
    ctx = env.context(unit)
    rel = relation(AMBIENT)
    out = ctx.run(
        ctx.on.relation_broken(rel), dataclasses.replace(state(rel), planned_units=planned)
    )
    if released:
        env.check({}, managed=set(AMBIENT))
    else:
        assert env.writes()[writes:] == []
        env.check(AMBIENT, managed=set(AMBIENT))
    assert out.unit_status == ops.ActiveStatus()


def test_a_relation_removed_while_a_provider_unit_departs_is_still_released(env: Env):
    # Removing the relation, Juju departs each remote unit (JUJU_DEPARTING_UNIT names it)
    # before relation-broken: a remote unit leaving says nothing of this unit.
    changed(env, AMBIENT)
    ctx = env.context()
    rel = relation(AMBIENT)
    out = ctx.run(ctx.on.relation_departed(rel, remote_unit=0, departing_unit=0), state(rel))
    ctx.run(ctx.on.relation_broken(rel), state(rel, stored=out.stored_states))
    env.check({}, managed=set(AMBIENT))


def test_an_app_being_removed_is_left_alone(env: Env):
    changed(env, AMBIENT)
    env.api.delete('StatefulSet', NS, APP)
    ctx = env.context()
    rel = relation(AMBIENT)
    out = ctx.run(ctx.on.relation_broken(rel), state(rel))
    assert out.unit_status == ops.ActiveStatus()


# -- bad input: Blocked, nothing applied, recovery ---------------------------------------

BAD_DATA = [
    pytest.param({'labels': '{not json', 'mesh_type': '"istio"'}, 'field "labels"', id='json'),
    pytest.param({'labels': '["a"]'}, 'field "labels" must be a JSON object', id='array'),
    pytest.param({'labels': '{"a.io/x": 1}'}, "'a.io/x': value must be a string", id='int'),
    pytest.param({'labels': '{"bad key": "v"}'}, "'bad key'", id='key-syntax'),
    pytest.param({'labels': '{"k": "bad value"}'}, "'bad value'", id='value-syntax'),
    pytest.param({'labels': '{}', 'mesh_type': 'istio'}, 'field "mesh_type"', id='mesh-json'),
    pytest.param({'labels': '{}', 'mesh_type': '7'}, 'field "mesh_type"', id='mesh-type'),
    *(
        pytest.param({'labels': json.dumps({key: 'x'})}, f'{key!r} is reserved', id=key)
        for key in [
            'app.kubernetes.io/name',
            'app.kubernetes.io/managed-by',
            'controller-revision-hash',
            'statefulset.kubernetes.io/pod-name',
            'pod-template-hash',
            'kubernetes.io/anything',
            'k8s.io/anything',
        ]
    ),
]


@pytest.mark.parametrize(('databag', 'fragment'), BAD_DATA)
def test_bad_relation_data_blocks_changes_nothing_and_recovers(
    env: Env, databag: dict[str, str], fragment: str
):
    changed(env, AMBIENT)
    env.settle()
    objects = env.objects()
    ctx = env.context()
    bad = relation(raw=databag)
    out = ctx.run(ctx.on.relation_changed(bad, remote_unit=0), state(bad))
    assert isinstance(out.unit_status, ops.BlockedStatus)
    assert out.unit_status.message.startswith('service-mesh relation data: ')
    assert fragment in out.unit_status.message
    assert env.objects() == objects  # nothing written; the labels applied are kept
    # The status survives a hook in which the library does not reconcile.
    out = ctx.run(ctx.on.install(), dataclasses.replace(out))
    assert isinstance(out.unit_status, ops.BlockedStatus)
    assert fragment in out.unit_status.message
    # Fixed data: applied, and the status clears.
    fixed = dataclasses.replace(bad, remote_app_data={'labels': '{"a.io/x": "1"}'})
    out = ctx.run(
        ctx.on.relation_changed(fixed, remote_unit=0), dataclasses.replace(out, relations=[fixed])
    )
    assert out.unit_status == ops.ActiveStatus()
    env.check({'a.io/x': '1'}, managed={'a.io/x', *AMBIENT})


def test_a_non_leader_reports_nothing(env: Env):
    ctx = env.context(1)
    bad = relation(raw={'labels': '{not json'})
    out = ctx.run(ctx.on.relation_changed(bad, remote_unit=0), state(bad, leader=False))
    assert out.unit_status == ops.ActiveStatus()


def test_corrupt_ledger_blocks_names_it_and_recovers_once_deleted(env: Env):
    changed(env, AMBIENT)
    env.settle()
    cm = env.api.get('ConfigMap', NS, LEDGER)
    assert cm is not None
    cm['data']['ledger.json'] = '{"format": 1, "template": 5}'
    env.api.put_object(cm)
    objects = env.objects()
    ctx = env.context()
    rel = relation({'a.io/x': '1'})
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))
    assert out.unit_status == ops.BlockedStatus(
        f'ConfigMap {NS}/{LEDGER} is corrupt: field "epoch" must be a non-negative integer, '
        'not None; fix or delete it'
    )
    assert env.objects() == objects
    out = ctx.run(ctx.on.update_status(), dataclasses.replace(out))
    assert isinstance(out.unit_status, ops.BlockedStatus)
    # The operator deletes it: the labels it recorded become nobody's and stay.
    env.api.delete('ConfigMap', NS, LEDGER)
    out = ctx.run(ctx.on.update_status(), dataclasses.replace(out))
    assert out.unit_status == ops.ActiveStatus()
    assert env.template()['a.io/x'] == '1'
    assert env.template()['istio.io/dataplane-mode'] == 'ambient'


def test_without_trust_blocks_with_the_trust_command_and_recovers():
    env = Env(trusted=False)
    objects = env.objects()
    ctx = env.context()
    rel = relation(AMBIENT)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))
    assert out.unit_status == ops.BlockedStatus(
        f'cannot manage pod labels: run juju trust {APP} --scope=cluster'
    )
    assert env.objects() == objects
    out = ctx.run(ctx.on.update_status(), dataclasses.replace(out))
    assert 'juju trust app --scope=cluster' in out.unit_status.message
    env.policy.trusted = True  # juju trust app --scope=cluster
    out = ctx.run(ctx.on.update_status(), dataclasses.replace(out))
    assert out.unit_status == ops.ActiveStatus()
    env.check(AMBIENT, managed=set(AMBIENT))


def test_a_403_mid_batch_blocks_and_the_next_reconcile_finishes(env: Env):
    # A transient 403 on the StatefulSet patch (seen while pods are recreated:
    # docs/design-notes.md, "Trust").
    env.api.faults.fail(403, caller=env.caller, verb='patch', kind='StatefulSet')
    ctx = env.context()
    rel = relation(AMBIENT)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))
    assert 'juju trust' in out.unit_status.message
    out = ctx.run(ctx.on.update_status(), dataclasses.replace(out))
    assert out.unit_status == ops.ActiveStatus()
    env.check(AMBIENT, managed=set(AMBIENT))


def test_transient_errors_are_retried(env: Env):
    # Two failures, three attempts (retry_delays has two entries).
    env.api.faults.fail(503, caller=env.caller, verb='patch', kind='Service', count=2)
    env.api.faults.lose_response(caller=env.caller, verb='patch', kind='Pod')
    out = changed(env, AMBIENT)
    assert out.unit_status == ops.ActiveStatus()
    env.check(AMBIENT, managed=set(AMBIENT))


def test_transient_errors_that_persist_fail_the_hook_and_the_retry_finishes(env: Env):
    env.api.faults.fail(500, caller=env.caller, verb='patch', kind='Pod', count=3)
    ctx = env.context()
    rel = relation(AMBIENT)
    with pytest.raises(testing.errors.UncaughtCharmError) as info:
        ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))
    assert isinstance(info.value.__cause__, k8s_labels.TransientError)
    assert 'patch Pod app-0: failed 3 times' in str(info.value.__cause__)
    # Juju retries the hook (fresh state: the failed hook's changes were discarded).
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))
    assert out.unit_status == ops.ActiveStatus()
    env.check(AMBIENT, managed=set(AMBIENT))


def test_two_relations_asking_for_different_values_block(env: Env):
    ctx = env.context()
    one = relation({'a.io/x': '1'})
    two = testing.Relation(
        'service-mesh', remote_app_name='other', remote_app_data={'labels': '{"a.io/x": "2"}'}
    )
    st = testing.State(leader=True, model=testing.Model(name=NS), relations=[one, two])
    out = ctx.run(ctx.on.update_status(), st)
    assert 'ask for different values' in out.unit_status.message


class _DefaultClientCharm(ops.CharmBase):
    """A consumer as the README writes it: no client factory, the library's own client."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.mesh = k8s_labels.ServiceMeshConsumer(self, retry_delays=(0.0, 0.0))


def _recording(env: Env, built: list[str]) -> lightkube.Client:
    client = env.client()
    close = client.close

    def recording_close() -> None:
        built.append('closed')
        close()

    client.close = recording_close
    built.append('built')
    return client


def test_a_client_the_consumer_builds_is_closed_after_the_reconcile(
    env: Env, monkeypatch: pytest.MonkeyPatch
):
    # In a hook process the socket would go with the process; anywhere else (a test, a
    # long-lived tool) an unclosed client leaks one connection per reconcile.
    built: list[str] = []

    def make_client(**_: object) -> lightkube.Client:
        return _recording(env, built)

    default_client = types.SimpleNamespace(Client=make_client)
    monkeypatch.setattr(k8s_labels._service_mesh, 'lightkube', default_client)
    ctx = testing.Context(_DefaultClientCharm, meta=META, app_name=APP)
    rel = relation(AMBIENT)
    ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))
    ctx.run(ctx.on.update_status(), state(rel))
    env.check(AMBIENT, managed=set(AMBIENT))
    assert built == ['built', 'closed', 'built', 'closed']


def test_a_client_from_the_factory_is_left_open_for_its_owner(env: Env):
    built: list[str] = []
    shared = _recording(env, built)

    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            self.mesh = k8s_labels.ServiceMeshConsumer(
                self, client_factory=lambda: shared, retry_delays=(0.0, 0.0)
            )

    ctx = testing.Context(Charm, meta=META, app_name=APP)
    rel = relation(AMBIENT)
    ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))
    env.check(AMBIENT, managed=set(AMBIENT))
    assert built == ['built']
    shared.close()
