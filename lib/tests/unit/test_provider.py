"""ServiceMeshProvider: the istio-beacon-k8s wire format, written by the leader."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import ops
import pytest
from ops import testing

import k8s_labels

META: dict[str, Any] = {
    'name': 'beacon',
    'provides': {'service-mesh': {'interface': 'service_mesh'}},
}


class ProviderCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.mesh = k8s_labels.ServiceMeshProvider(self)
        framework.observe(self.on.config_changed, self._on_config_changed)

    def _on_config_changed(self, _: ops.ConfigChangedEvent) -> None:
        labels = json.loads(str(self.config['labels']))
        self.mesh.publish(labels, validate=bool(self.config['validate']))


CONFIG = {'options': {'labels': {'type': 'string'}, 'validate': {'type': 'boolean'}}}


def publish(
    labels: Mapping[str, object], *, leader: bool = True, validate: bool = True
) -> list[dict[str, str]]:
    ctx = testing.Context(ProviderCharm, meta=META, config=CONFIG)
    one = testing.Relation('service-mesh', remote_app_name='one')
    two = testing.Relation('service-mesh', remote_app_name='two')
    st = testing.State(
        leader=leader,
        relations=[one, two],
        config={'labels': json.dumps(labels), 'validate': validate},
    )
    out = ctx.run(ctx.on.config_changed(), st)
    return [dict(out.get_relation(r.id).local_app_data) for r in (one, two)]


def test_the_leader_publishes_to_every_relation_in_the_beacon_format():
    labels = {'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'w'}
    for databag in publish(labels):
        assert databag == {'labels': json.dumps(labels, sort_keys=True), 'mesh_type': '"istio"'}
        # What the upstream consumer decodes (each field json.loads-ed) and ours.
        assert {k: json.loads(v) for k, v in databag.items()} == {
            'labels': labels,
            'mesh_type': 'istio',
        }
        assert k8s_labels.parse_provider_data(databag) == labels


def test_a_non_leader_writes_nothing():
    assert publish({'a.io/x': '1'}, leader=False) == [{}, {}]


def test_invalid_labels_are_refused_unless_told_otherwise():
    with pytest.raises(testing.errors.UncaughtCharmError) as info:
        publish({'app.kubernetes.io/name': 'x'})
    assert isinstance(info.value.__cause__, k8s_labels.InvalidLabelsError)
    databags = publish({'bad key': 'x'}, validate=False)
    assert json.loads(databags[0]['labels']) == {'bad key': 'x'}


def relation_sets(labels: Mapping[str, str], databag: Mapping[str, str]) -> list[dict[str, str]]:
    """Publish ``labels`` over ``databag``; return the data of each relation-set call."""
    ctx = testing.Context(ProviderCharm, meta=META, config=CONFIG)
    relation = testing.Relation('service-mesh', local_app_data=dict(databag))
    st = testing.State(
        leader=True, relations=[relation], config={'labels': json.dumps(labels), 'validate': True}
    )
    calls: list[dict[str, str]] = []
    with ctx(ctx.on.config_changed(), st) as manager:
        # Record the hook-tool calls ops makes (Scenario's backend keeps no trace of them).
        backend = manager.charm.framework.model._backend
        real = backend.relation_set

        def recording(relation_id: int, data: Mapping[str, str], is_app: bool, **kw: Any) -> None:
            calls.append(dict(data))
            real(relation_id, data, is_app, **kw)

        backend.relation_set = recording
        out = manager.run()
    assert dict(out.get_relation(relation.id).local_app_data) == {
        **databag,
        'labels': json.dumps(dict(labels), sort_keys=True),
        'mesh_type': '"istio"',
    }
    return calls


def test_publishing_what_is_already_published_writes_nothing():
    labels = {'b.io/x': '2', 'a.io/x': '1'}
    published = {'labels': json.dumps(labels, sort_keys=True), 'mesh_type': '"istio"'}
    assert relation_sets(labels, published) == []
    # The same labels in another order are the same value (keys are sorted).
    assert relation_sets(dict(reversed(labels.items())), published) == []


def test_only_the_fields_that_differ_are_written_and_other_keys_are_kept():
    labels = {'a.io/x': '1'}
    stale = {'labels': '{"old": "x"}', 'mesh_type': '"istio"', 'other': 'kept'}
    assert relation_sets(labels, stale) == [{'labels': '{"a.io/x": "1"}'}]
    assert relation_sets(labels, {}) == [{'labels': '{"a.io/x": "1"}', 'mesh_type': '"istio"'}]
