"""The stub's databag read by the upstream consumer (charmlibs-interfaces-service-mesh).

The stub publishes through ops.testing; its output databag becomes the remote app data of
a minimal consumer charm built on the unmodified upstream ``ServiceMeshConsumer``, which
parses it as it would istio-beacon-k8s's.
"""

from __future__ import annotations

import json
from typing import Any

import charmlibs.interfaces.service_mesh as upstream
import ops
import pydantic
import pytest
from ops import testing

import beacon_stub

CONSUMER_META: dict[str, Any] = {
    'name': 'upstream-consumer',
    'requires': {
        'service-mesh': {'interface': 'service_mesh', 'limit': 1},
        # The upstream library observes these endpoints too (docs/design-notes.md, "What the
        # upstream library does").
        'require-cmr-mesh': {'interface': 'cross_model_mesh'},
    },
    'provides': {'provide-cmr-mesh': {'interface': 'cross_model_mesh'}},
}


class UpstreamConsumerCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        # auto_join=False: parse the data only; labelling would need a Kubernetes API.
        self.mesh = upstream.ServiceMeshConsumer(self, auto_join=False)


def stub_databag(
    action: tuple[str, dict[str, str]] | None = None, *, labels: str = '', mesh_type: str = 'istio'
) -> dict[str, str]:
    """Run the stub (config-changed, then an action if given) and return its databag."""
    ctx = testing.Context(beacon_stub.BeaconStubCharm)
    relation = testing.Relation('service-mesh', remote_app_name='upstream-consumer')
    state = testing.State(
        leader=True,
        config={'labels': labels, 'mesh-type': mesh_type},
        relations=[relation, testing.PeerRelation('overrides')],
    )
    state = ctx.run(ctx.on.config_changed(), state)
    if action is not None:
        name, params = action
        state = ctx.run(ctx.on.action(name, params=params), state)
    return dict(state.get_relation(relation.id).local_app_data)


def upstream_reading(databag: dict[str, str]) -> tuple[dict[str, str], upstream.MeshType | None]:
    """What the upstream consumer makes of a provider databag: (labels, mesh type)."""
    ctx = testing.Context(UpstreamConsumerCharm, meta=CONSUMER_META)
    relation = testing.Relation(
        'service-mesh', remote_app_name='beacon-stub', remote_app_data=databag
    )
    state = testing.State(leader=False, relations=[relation])
    with ctx(ctx.on.update_status(), state) as manager:
        labels = manager.charm.mesh.labels()
        mesh_type = manager.charm.mesh.mesh_type()
        manager.run()
    return labels, mesh_type


LABELS = {
    'istio.io/dataplane-mode': 'ambient',
    'istio.io/use-waypoint': 'model-beacon-waypoint',
    'istio.io/use-waypoint-namespace': 'model',
}


def test_upstream_reads_config_labels():
    databag = stub_databag(labels=json.dumps(LABELS))
    assert upstream_reading(databag) == (LABELS, upstream.MeshType.istio)


def test_upstream_reads_set_labels():
    databag = stub_databag(('set-labels', {'labels': '{"foo": "bar"}'}), labels=json.dumps(LABELS))
    assert upstream_reading(databag) == ({'foo': 'bar'}, upstream.MeshType.istio)


def test_upstream_reads_clear_labels_as_no_labels():
    databag = stub_databag(('clear-labels', {}), labels=json.dumps(LABELS))
    assert upstream_reading(databag) == ({}, upstream.MeshType.istio)


def test_upstream_reads_empty_config_as_no_labels():
    assert upstream_reading(stub_databag()) == ({}, upstream.MeshType.istio)


def test_upstream_agrees_with_its_own_provider_byte_for_byte():
    # The upstream provider's own encoding (ServiceMeshProvider.update_relations) of the
    # same data is what the stub writes. Byte for byte because LABELS is in key order:
    # k8s_labels.ServiceMeshProvider sorts keys, upstream keeps the order it was given.
    assert list(LABELS) == sorted(LABELS)
    ours = stub_databag(labels=json.dumps(LABELS))
    data = upstream.ServiceMeshProviderAppData(labels=LABELS, mesh_type=upstream.MeshType.istio)
    theirs = {
        key: json.dumps(value)
        for key, value in data.model_dump(
            mode='json', by_alias=True, exclude_defaults=True, round_trip=True
        ).items()
    }
    assert ours == theirs


def test_publish_raw_feeds_upstream_data_it_cannot_parse():
    databag = stub_databag(('publish-raw', {'data': '{"labels": "not json"}'}))
    assert databag == {'labels': 'not json'}
    with pytest.raises(json.JSONDecodeError):
        upstream_reading(databag)


def test_an_unknown_mesh_type_is_published_but_upstream_refuses_it():
    databag = stub_databag(mesh_type='linkerd')
    assert databag['mesh_type'] == '"linkerd"'
    with pytest.raises(pydantic.ValidationError):
        upstream_reading(databag)
