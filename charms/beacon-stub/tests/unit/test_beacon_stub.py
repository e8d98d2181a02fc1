"""The beacon-stub charm through ops.testing: every event path and every bad input."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

import ops
import pytest
from ops import testing

import beacon_stub
import k8s_labels

MESH = beacon_stub.MESH_ENDPOINT
PEERS = beacon_stub.PEER_ENDPOINT
GOOD = {'istio.io/dataplane-mode': 'ambient', 'team': 'blue'}
OLD = {'labels': '{"old": "labels"}', 'mesh_type': '"istio"'}


def wire(labels: Mapping[str, str], mesh_type: str = 'istio') -> dict[str, str]:
    # istio-beacon-k8s's encoding (each field json.dumps-ed; test_beacon_stub_upstream.py
    # compares the stub's output with the upstream provider's own), keys sorted as
    # k8s_labels.ServiceMeshProvider writes them.
    return {'labels': json.dumps(dict(labels), sort_keys=True), 'mesh_type': json.dumps(mesh_type)}


def mesh(data: Mapping[str, str] | None = None, app: str = 'consumer') -> testing.Relation:
    return testing.Relation(MESH, remote_app_name=app, local_app_data=dict(data or {}))


def peers(data: Mapping[str, str] | None = None) -> testing.PeerRelation:
    return testing.PeerRelation(PEERS, local_app_data=dict(data or {}))


def make_state(
    *,
    labels: str = json.dumps(GOOD),
    mesh_type: str = 'istio',
    leader: bool = True,
    relations: tuple[testing.RelationBase, ...] | None = None,
) -> testing.State:
    return testing.State(
        leader=leader,
        config={'labels': labels, 'mesh-type': mesh_type},
        relations=[mesh(OLD), peers()] if relations is None else list(relations),
        containers=[testing.Container('stub', can_connect=True)],
    )


def published(state: testing.State) -> dict[str, str]:
    (relation,) = [r for r in state.relations if r.endpoint == MESH]
    return dict(relation.local_app_data)


def failed_state(failure: testing.ActionFailed) -> testing.State:
    # ActionFailed carries the output state (typed loosely by ops).
    assert isinstance(failure.state, testing.State)
    return failure.state


def override_record(state: testing.State) -> str | None:
    (relation,) = [r for r in state.relations if r.endpoint == PEERS]
    return relation.local_app_data.get(beacon_stub.OVERRIDE_KEY)


@pytest.fixture
def ctx() -> testing.Context[beacon_stub.BeaconStubCharm]:
    return testing.Context(beacon_stub.BeaconStubCharm)


Ctx = testing.Context[beacon_stub.BeaconStubCharm]

# Every event the leader publishes on, built from the state's service-mesh relation.
EVENTS: dict[str, Callable[[Ctx, testing.Relation], Any]] = {
    'leader-elected': lambda c, r: c.on.leader_elected(),
    'config-changed': lambda c, r: c.on.config_changed(),
    'upgrade-charm': lambda c, r: c.on.upgrade_charm(),
    'start': lambda c, r: c.on.start(),
    'update-status': lambda c, r: c.on.update_status(),
    'relation-created': lambda c, r: c.on.relation_created(r),
    'relation-joined': lambda c, r: c.on.relation_joined(r, remote_unit=0),
}


def run_event(ctx: Ctx, name: str, state: testing.State) -> testing.State:
    (relation,) = [r for r in state.relations if r.endpoint == MESH]
    assert isinstance(relation, testing.Relation)
    event = EVENTS[name](ctx, relation)
    return ctx.run(event, state)


def run_action(ctx: Ctx, state: testing.State, name: str, **params: str) -> testing.State:
    return ctx.run(ctx.on.action(name, params=params), state)


# --- publishing from config -------------------------------------------------------------


@pytest.mark.parametrize('event', EVENTS)
def test_leader_replaces_a_stale_databag_on(ctx: Ctx, event: str):
    out = run_event(ctx, event, make_state())
    assert published(out) == wire(GOOD)
    assert out.unit_status == ops.ActiveStatus('publishing from config')


@pytest.mark.parametrize('event', EVENTS)
def test_non_leader_never_writes_on(ctx: Ctx, event: str):
    out = run_event(ctx, event, make_state(leader=False))
    assert published(out) == OLD
    assert out.unit_status == ops.ActiveStatus('standby: the leader publishes')


def test_wire_format_is_istio_beacons(ctx: Ctx):
    # Literal strings: what istio-beacon-k8s's ServiceMeshProvider writes (json.dumps of
    # each field, default separators), docs/design-notes.md, "Wire format".
    labels = json.dumps({'istio.io/dataplane-mode': 'ambient'})
    out = ctx.run(ctx.on.config_changed(), make_state(labels=labels))
    assert published(out) == {
        'labels': '{"istio.io/dataplane-mode": "ambient"}',
        'mesh_type': '"istio"',
    }


@pytest.fixture
def provider_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, str], str, bool]]:
    """Record each ``ServiceMeshProvider.publish`` call, then let it publish."""
    calls: list[tuple[dict[str, str], str, bool]] = []
    real = k8s_labels.ServiceMeshProvider.publish

    def recording(
        self: k8s_labels.ServiceMeshProvider,
        labels: Mapping[str, str],
        *,
        mesh_type: str = 'istio',
        validate: bool = True,
    ) -> None:
        calls.append((dict(labels), mesh_type, validate))
        real(self, labels, mesh_type=mesh_type, validate=validate)

    monkeypatch.setattr(k8s_labels.ServiceMeshProvider, 'publish', recording)
    return calls


def test_config_labels_are_published_through_the_library_provider(
    ctx: Ctx, provider_calls: list[tuple[dict[str, str], str, bool]]
):
    # The stub owns no wire-format code; validate=False lets reserved keys through.
    out = ctx.run(ctx.on.config_changed(), make_state(mesh_type='other'))
    assert provider_calls == [(GOOD, 'other', False)]
    assert k8s_labels.parse_provider_data(published(out)) == GOOD


def test_action_labels_are_published_through_the_library_provider(
    ctx: Ctx, provider_calls: list[tuple[dict[str, str], str, bool]]
):
    run_action(ctx, make_state(), 'set-labels', labels='{"a": "b"}')
    run_action(ctx, make_state(), 'clear-labels')
    assert provider_calls == [({'a': 'b'}, 'istio', False), ({}, 'istio', False)]


def test_publish_raw_bypasses_the_provider(
    ctx: Ctx, provider_calls: list[tuple[dict[str, str], str, bool]]
):
    run_action(ctx, make_state(), 'publish-raw', data='{"labels": "x"}')
    assert provider_calls == []


@pytest.mark.parametrize('text', ['', '   ', '{}'])
def test_empty_config_publishes_no_labels(ctx: Ctx, text: str):
    out = ctx.run(ctx.on.config_changed(), make_state(labels=text))
    assert published(out) == {'labels': '{}', 'mesh_type': '"istio"'}


def test_mesh_type_is_published_as_a_json_string(ctx: Ctx):
    out = ctx.run(ctx.on.config_changed(), make_state(mesh_type='linkerd'))
    assert published(out) == wire(GOOD, 'linkerd')


def test_every_relation_gets_the_same_databag(ctx: Ctx):
    one, two = mesh(OLD, 'one'), mesh({}, 'two')
    out = ctx.run(ctx.on.config_changed(), make_state(relations=(one, two, peers())))
    assert out.get_relation(one.id).local_app_data == wire(GOOD)
    assert out.get_relation(two.id).local_app_data == wire(GOOD)


def test_keys_other_than_the_wire_format_are_removed(ctx: Ctx):
    stale = mesh({**OLD, 'extra': 'x'})
    out = ctx.run(ctx.on.config_changed(), make_state(relations=(stale, peers())))
    assert published(out) == wire(GOOD)


def test_no_relation_and_no_peers_is_fine(ctx: Ctx):
    out = ctx.run(ctx.on.config_changed(), make_state(relations=()))
    assert out.unit_status == ops.ActiveStatus('publishing from config')


def test_reserved_keys_pass_syntax_only_validation(ctx: Ctx):
    # The stub checks syntax only, so consumers can be fed keys they must refuse.
    labels = {'app.kubernetes.io/name': 'hijack', 'kubernetes.io/x': 'y'}
    out = ctx.run(ctx.on.config_changed(), make_state(labels=json.dumps(labels)))
    assert published(out) == wire(labels)


BAD_LABELS = [
    ('not json', 'config labels: not valid JSON'),
    ('["a"]', 'config labels: must be a JSON object, not an array'),
    ('"a"', 'config labels: must be a JSON object, not a string'),
    ('{"a": 1}', "config labels: value of 'a' must be a string, not a number"),
    ('{"a": null}', "config labels: value of 'a' must be a string, not null"),
    ('{"a": {"b": "c"}}', "config labels: value of 'a' must be a string, not an object"),
    ('{"bad key!": "x"}', "config labels: key 'bad key!' has a name that is not alphanumerics"),
    ('{"a/b/c": "x"}', 'config labels: key \'a/b/c\' has more than one "/"'),
    ('{"/a": "x"}', "config labels: key '/a' has an empty prefix"),
    ('{"a/": "x"}', "config labels: key 'a/' has an empty name"),
    ('{"": "x"}', "config labels: key '' has an empty name"),
    ('{"Example.com/a": "x"}', "key 'Example.com/a' has a prefix that is not a lower-case DNS"),
    (json.dumps({'a' * 64: 'x'}), 'has a name longer than 63 characters'),
    (json.dumps({'p' * 254 + '/a': 'x'}), 'has a prefix longer than 253 characters'),
    ('{"a": "-x"}', "config labels: value '-x' of 'a' is not empty or alphanumerics"),
    ('{"a": "x y"}', "config labels: value 'x y' of 'a' is not empty or alphanumerics"),
    (json.dumps({'a': 'v' * 64}), "of 'a' is longer than 63 characters"),
]


@pytest.mark.parametrize(('text', 'message'), BAD_LABELS)
@pytest.mark.parametrize('leader', [True, False])
def test_bad_config_labels_block_and_keep_the_last_good_databag(
    ctx: Ctx, text: str, message: str, leader: bool
):
    out = ctx.run(ctx.on.config_changed(), make_state(labels=text, leader=leader))
    assert published(out) == OLD
    assert isinstance(out.unit_status, ops.BlockedStatus)
    assert message in out.unit_status.message


@pytest.mark.parametrize('mesh_type', ['', 'Istio', 'istio mesh', '-istio', '"istio"'])
def test_bad_mesh_type_blocks_and_keeps_the_last_good_databag(ctx: Ctx, mesh_type: str):
    out = ctx.run(ctx.on.config_changed(), make_state(mesh_type=mesh_type))
    assert published(out) == OLD
    assert out.unit_status == ops.BlockedStatus(
        f'config mesh-type: {mesh_type!r} is not a lower-case name such as "istio"'
    )


def test_fixing_the_config_publishes_again(ctx: Ctx):
    blocked = ctx.run(ctx.on.config_changed(), make_state(labels='{'))
    fixed = ctx.run(
        ctx.on.config_changed(),
        dataclasses.replace(blocked, config={'labels': '{"a": "b"}', 'mesh-type': 'istio'}),
    )
    assert published(fixed) == wire({'a': 'b'})
    assert fixed.unit_status == ops.ActiveStatus('publishing from config')


@pytest.mark.parametrize(
    'key',
    [
        'a',
        'A1',
        'a.b-c_d',
        'x' * 63,
        'example.com/x',
        'istio.io/use-waypoint',
        ('p' * 63 + '.') * 3 + 'p' * 61 + '/name',  # a 253-character prefix
    ],
)
def test_valid_keys_are_accepted(key: str):
    assert beacon_stub.label_key_problem(key) is None
    assert beacon_stub.parse_labels(json.dumps({key: ''}), what='x') == {key: ''}


@pytest.mark.parametrize('value', ['', 'a', 'A-b_c.d', 'v' * 63])
def test_valid_values_are_accepted(value: str):
    assert beacon_stub.label_value_problem(value) is None


# --- actions and their override ---------------------------------------------------------


def test_set_labels_publishes_and_records_the_override(ctx: Ctx):
    out = run_action(ctx, make_state(), 'set-labels', labels='{"foo": "bar"}')
    assert published(out) == wire({'foo': 'bar'})
    assert ctx.action_results == {
        'labels': '{"foo": "bar"}',
        'mesh-type': 'istio',
        'relations': 1,
    }
    record = beacon_stub.Override.load(override_record(out) or '')
    assert record == beacon_stub.Override(
        action='set-labels',
        publication=beacon_stub.Publication(labels={'foo': 'bar'}, mesh_type='istio'),
        config={'labels': json.dumps(GOOD), 'mesh-type': 'istio'},
    )
    assert out.unit_status == ops.ActiveStatus('publishing from set-labels (overrides config)')


@pytest.mark.parametrize('event', EVENTS)
def test_override_survives_every_event_while_config_is_unchanged(ctx: Ctx, event: str):
    # The restart hook sequence (upgrade-charm, config-changed, start) carries no new
    # config: the override, kept in the peer app databag, must stay in force.
    after_action = run_action(ctx, make_state(), 'set-labels', labels='{"foo": "bar"}')
    out = run_event(ctx, event, after_action)
    assert published(out) == wire({'foo': 'bar'})
    assert override_record(out) is not None


def test_override_survives_a_new_leader_on_another_unit(ctx: Ctx):
    after_action = run_action(ctx, make_state(), 'set-labels', labels='{"foo": "bar"}')
    other_unit = testing.Context(beacon_stub.BeaconStubCharm, unit_id=1)
    # The new leader has fresh local state; only relation data carries over.
    fresh = testing.State(
        leader=True,
        config=after_action.config,
        relations=[mesh(OLD), *[r for r in after_action.relations if r.endpoint == PEERS]],
    )
    out = other_unit.run(other_unit.on.leader_elected(), fresh)
    assert published(out) == wire({'foo': 'bar'})


@pytest.mark.parametrize(
    'config',
    [
        {'labels': '{"from": "config"}', 'mesh-type': 'istio'},
        {'labels': json.dumps(GOOD), 'mesh-type': 'other'},
    ],
)
def test_a_config_change_ends_the_override(ctx: Ctx, config: dict[str, str]):
    after_action = run_action(ctx, make_state(), 'set-labels', labels='{"foo": "bar"}')
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(after_action, config=config))
    assert published(out) == wire(json.loads(config['labels']), config['mesh-type'])
    assert override_record(out) is None
    assert out.unit_status == ops.ActiveStatus('publishing from config')


def test_a_config_change_to_bad_config_ends_the_override_and_publishes_nothing(ctx: Ctx):
    after_action = run_action(ctx, make_state(), 'set-labels', labels='{"foo": "bar"}')
    bad = {'labels': 'nope', 'mesh-type': 'istio'}
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(after_action, config=bad))
    assert published(out) == wire({'foo': 'bar'})  # the last good databag stays
    assert override_record(out) is None
    assert isinstance(out.unit_status, ops.BlockedStatus)
    assert out.unit_status.message.startswith('config labels: not valid JSON')


def test_set_labels_overrides_bad_config(ctx: Ctx):
    blocked = ctx.run(ctx.on.config_changed(), make_state(labels='nope'))
    out = run_action(ctx, blocked, 'set-labels', labels='{"a": "b"}')
    assert published(out) == wire({'a': 'b'})
    assert out.unit_status == ops.ActiveStatus('publishing from set-labels (overrides config)')


@pytest.mark.parametrize('text', ['', '{}'])
def test_set_labels_empty_means_no_labels(ctx: Ctx, text: str):
    out = run_action(ctx, make_state(), 'set-labels', labels=text)
    assert published(out) == wire({})


def test_clear_labels_publishes_no_labels_until_config_changes(ctx: Ctx):
    cleared = run_action(ctx, make_state(), 'clear-labels')
    assert published(cleared) == wire({})
    restarted = ctx.run(ctx.on.config_changed(), cleared)
    assert published(restarted) == wire({})
    changed = ctx.run(
        ctx.on.config_changed(),
        dataclasses.replace(restarted, config={'labels': '{"a": "b"}', 'mesh-type': 'istio'}),
    )
    assert published(changed) == wire({'a': 'b'})


def test_set_labels_replaces_an_earlier_override(ctx: Ctx):
    first = run_action(ctx, make_state(), 'set-labels', labels='{"a": "1"}')
    second = run_action(ctx, first, 'set-labels', labels='{"b": "2"}')
    assert published(second) == wire({'b': '2'})


@pytest.mark.parametrize(('text', 'message'), [(t, m) for t, m in BAD_LABELS if m])
def test_set_labels_with_bad_labels_fails_and_changes_nothing(ctx: Ctx, text: str, message: str):
    state = make_state()
    with pytest.raises(testing.ActionFailed) as failure:
        run_action(ctx, state, 'set-labels', labels=text)
    assert message.replace('config labels', 'labels') in failure.value.message
    assert failure.value.message.startswith('labels: ')
    assert published(failed_state(failure.value)) == OLD
    assert override_record(failed_state(failure.value)) is None


def test_set_labels_with_a_bad_mesh_type_in_config_fails(ctx: Ctx):
    with pytest.raises(testing.ActionFailed) as failure:
        run_action(ctx, make_state(mesh_type='Bad'), 'set-labels', labels='{"a": "b"}')
    assert failure.value.message == (
        'config mesh-type: \'Bad\' is not a lower-case name such as "istio"; fix the config first'
    )
    assert published(failed_state(failure.value)) == OLD


@pytest.mark.parametrize(
    ('action', 'params'),
    [
        ('set-labels', {'labels': '{"a": "b"}'}),
        ('clear-labels', {}),
        ('publish-raw', {'data': '{"a": "b"}'}),
    ],
)
def test_actions_on_a_non_leader_fail_and_change_nothing(
    ctx: Ctx, action: str, params: dict[str, str]
):
    with pytest.raises(testing.ActionFailed) as failure:
        run_action(ctx, make_state(leader=False), action, **params)
    assert failure.value.message == (
        f'only the leader publishes: run `juju run beacon-stub/leader {action} ...`'
    )
    assert published(failed_state(failure.value)) == OLD
    assert override_record(failed_state(failure.value)) is None


def test_actions_without_the_peer_relation_fail(ctx: Ctx):
    with pytest.raises(testing.ActionFailed) as failure:
        run_action(ctx, make_state(relations=(mesh(OLD),)), 'set-labels', labels='{"a": "b"}')
    assert failure.value.message == 'the overrides peer relation is not up yet: try again shortly'
    assert published(failed_state(failure.value)) == OLD


def test_publish_raw_publishes_exactly_its_data(ctx: Ctx):
    data = {'labels': 'not json', 'extra': '{"x": 1}'}
    out = run_action(ctx, make_state(), 'publish-raw', data=json.dumps(data))
    assert published(out) == data  # mesh_type removed, nothing validated
    assert ctx.action_results == {'databag': json.dumps(data, sort_keys=True), 'relations': 1}
    assert out.unit_status == ops.ActiveStatus('publishing from publish-raw (overrides config)')


def test_publish_raw_empty_object_empties_the_databag(ctx: Ctx):
    out = run_action(ctx, make_state(), 'publish-raw', data='{}')
    assert published(out) == {}


def test_publish_raw_survives_restart_and_leader_change_events(ctx: Ctx):
    data = {'labels': '{"app.kubernetes.io/name": "x"}', 'mesh_type': '"istio"'}
    out = run_action(ctx, make_state(), 'publish-raw', data=json.dumps(data))
    for event in ('upgrade-charm', 'config-changed', 'start', 'leader-elected'):
        out = run_event(ctx, event, out)
    assert published(out) == data


def test_after_publish_raw_config_change_returns_to_normal_publishing(ctx: Ctx):
    raw = run_action(ctx, make_state(), 'publish-raw', data='{"labels": "bad"}')
    new_config = {'labels': '{"a": "b"}', 'mesh-type': 'istio'}
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(raw, config=new_config))
    assert published(out) == wire({'a': 'b'})


def test_after_publish_raw_set_labels_returns_to_normal_publishing(ctx: Ctx):
    raw = run_action(ctx, make_state(), 'publish-raw', data='{"labels": "bad"}')
    out = run_action(ctx, raw, 'set-labels', labels='{"a": "b"}')
    assert published(out) == wire({'a': 'b'})


@pytest.mark.parametrize(
    ('data', 'message'),
    [
        ('nope', 'data: not valid JSON'),
        ('[]', 'data: must be a JSON object, not an array'),
        ('{"labels": {"a": "b"}}', "data: value of 'labels' must be a string, not an object"),
        ('{"labels": 1}', "data: value of 'labels' must be a string, not a number"),
        ('{"labels": ""}', "data: value of 'labels' is empty, which Juju stores as no key"),
        ('{"": "x"}', 'data: a databag key cannot be empty'),
    ],
)
def test_publish_raw_with_bad_data_fails_and_changes_nothing(ctx: Ctx, data: str, message: str):
    with pytest.raises(testing.ActionFailed) as failure:
        run_action(ctx, make_state(), 'publish-raw', data=data)
    assert failure.value.message.startswith(message)
    assert published(failed_state(failure.value)) == OLD
    assert override_record(failed_state(failure.value)) is None


def test_an_unreadable_override_is_ignored(ctx: Ctx):
    state = make_state(relations=(mesh(OLD), peers({beacon_stub.OVERRIDE_KEY: '{"action": 1'})))
    out = ctx.run(ctx.on.config_changed(), state)
    assert published(out) == wire(GOOD)
    assert any('ignoring an unreadable override' in log.message for log in ctx.juju_log)


@pytest.mark.parametrize(
    'text',
    [
        '[]',
        '{"action": "x"}',
        '{"action": 1, "publication": {"labels": {}, "mesh_type": "istio"}, "config": {}}',
        '{"action": "x", "publication": [], "config": {}}',
        '{"action": "x", "publication": {"labels": [], "mesh_type": "istio"}, "config": {}}',
        '{"action": "x", "publication": {"labels": {}, "mesh_type": 1}, "config": {}}',
        '{"action": "x", "publication": {"labels": {}, "mesh_type": "i", "raw": 1}, "config": {}}',
        '{"action": "x", "publication": {"labels": {}, "mesh_type": "istio"}, "config": []}',
        # The format before the stub published through the library's provider.
        '{"action": "x", "databag": {}, "config": {}}',
    ],
)
def test_override_load_rejects_malformed_records(text: str):
    assert beacon_stub.Override.load(text) is None


@pytest.mark.parametrize(
    'publication',
    [
        beacon_stub.Publication(labels={'k': 'v'}, mesh_type='other'),
        beacon_stub.Publication(raw={'labels': 'not json'}),
    ],
)
def test_override_round_trips(publication: beacon_stub.Publication):
    record = beacon_stub.Override(action='a', publication=publication, config={'labels': ''})
    assert beacon_stub.Override.load(record.dump()) == record


# --- the stub's syntax check agrees with the library's --------------------------------------

SYNTAX_CORPUS = [
    'a',
    'A1',
    'a.b-c_d',
    'x' * 63,
    'x' * 64,
    '-a',
    'a-',
    '_a',
    'a b',
    'a/b/c',
    '/a',
    'a/',
    '',
    'example.com/x',
    'Example.com/x',
    'exa_mple.com/x',
    '-example.com/x',
    'example..com/x',
    'p' * 254 + '/x',
    ('p' * 63 + '.') * 3 + 'p' * 61 + '/name',
    'istio.io/dataplane-mode',
    'ünïcode',
]


@pytest.mark.parametrize('key', SYNTAX_CORPUS)
def test_key_syntax_agrees_with_the_library(key: str):
    # The stub checks syntax only; the library also refuses reserved keys. Where the key is
    # not reserved, both must agree (two implementations of one Kubernetes rule).
    prefix = key.rpartition('/')[0]
    if key in k8s_labels.RESERVED_KEYS or prefix in k8s_labels.RESERVED_PREFIXES:
        pytest.skip('reserved: the library refuses it whatever its syntax')
    try:
        k8s_labels.validate_labels({key: 'v'})
        library_accepts = True
    except k8s_labels.InvalidLabelsError:
        library_accepts = False
    assert (beacon_stub.label_key_problem(key) is None) == library_accepts


@pytest.mark.parametrize('value', ['', 'a', 'A-b_c.d', 'v' * 63, 'v' * 64, '-a', 'a b', 'a/b'])
def test_value_syntax_agrees_with_the_library(value: str):
    try:
        k8s_labels.validate_labels({'k': value})
        library_accepts = True
    except k8s_labels.InvalidLabelsError:
        library_accepts = False
    assert (beacon_stub.label_value_problem(value) is None) == library_accepts
