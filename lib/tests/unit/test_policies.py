"""Mesh policies: k8s_labels publishes what upstream's consumer publishes, and upstream parses it.

The reference is the upstream library itself (charmlibs-interfaces-service-mesh 1.0.2, in
the unit group): the same charm state is run once with upstream's ``ServiceMeshConsumer``
and once with ours, and the published databags are compared byte for byte; then upstream's
``ServiceMeshProvider.mesh_info`` parses ours.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import ops
import pytest
from charmlibs.interfaces import service_mesh as upstream
from ops import testing

import k8s_labels
from k8s_labels.testing import FakeCluster

APP = 'web-app'
MODEL = 'test-model'
META: dict[str, Any] = {
    'name': APP,
    'requires': {
        'service-mesh': {'interface': 'service_mesh', 'limit': 1},
        'require-cmr-mesh': {'interface': 'cross_model_mesh'},
        'db': {'interface': 'postgresql_client'},
    },
    'provides': {
        'provide-cmr-mesh': {'interface': 'cross_model_mesh'},
        'data': {'interface': 'http'},
        'metrics': {'interface': 'prometheus_scrape'},
    },
}


def ours() -> list[object]:
    return [
        k8s_labels.AppPolicy(
            relation='data',
            endpoints=[
                k8s_labels.Endpoint(
                    ports=[8080], methods=[k8s_labels.Method.get], paths=['/data']
                ),
                k8s_labels.Endpoint(hosts=['data.example'], methods=['POST', 'put']),
            ],
            service='web-app-data',
        ),
        k8s_labels.UnitPolicy(relation='metrics', ports=[9090]),
        k8s_labels.UnitPolicy(relation='metrics'),
    ]


def theirs() -> list[Any]:
    return [
        upstream.AppPolicy(
            relation='data',
            endpoints=[
                upstream.Endpoint(ports=[8080], methods=[upstream.Method.get], paths=['/data']),
                upstream.Endpoint(
                    hosts=['data.example'], methods=[upstream.Method.post, upstream.Method.put]
                ),
            ],
            service='web-app-data',
        ),
        upstream.UnitPolicy(relation='metrics', ports=[9090]),
        upstream.UnitPolicy(relation='metrics'),
    ]


def ours_consumer(policies: Sequence[object]) -> type[ops.CharmBase]:
    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            self.mesh = k8s_labels.ServiceMeshConsumer(self, policies=policies)

    return Charm


def upstream_consumer(policies: Sequence[Any]) -> type[ops.CharmBase]:
    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            self.mesh = upstream.ServiceMeshConsumer(self, policies=list(policies))

    return Charm


def relations() -> dict[str, testing.Relation]:
    """The mesh, two in-model clients on `data`, a scraper, and a cross-model client."""
    return {
        'mesh': testing.Relation('service-mesh', remote_app_name='istio-beacon'),
        'data-a': testing.Relation('data', remote_app_name='client-a'),
        'data-b': testing.Relation('data', remote_app_name='offer-alias'),
        'metrics': testing.Relation('metrics', remote_app_name='prometheus'),
        # The cross-model client tells its real name and model on provide-cmr-mesh; its
        # alias in this model is the remote app of the `data` relation above.
        'cmr-in': testing.Relation(
            'provide-cmr-mesh',
            remote_app_name='offer-alias',
            remote_app_data={
                'cmr_data': json.dumps({'app_name': 'client-b', 'juju_model_name': 'other'})
            },
        ),
        'cmr-out': testing.Relation('require-cmr-mesh', remote_app_name='remote-mesh'),
    }


def run(
    charm: type[ops.CharmBase],
    event: str,
    *,
    leader: bool = True,
    rels: dict[str, testing.Relation] | None = None,
) -> testing.State:
    # Two charms compared byte for byte get the same relations: the model lists them in
    # the State's set order, which follows their ids (a process-wide counter).
    rels = rels or relations()
    ctx = testing.Context(charm, meta=META, app_name=APP)
    state = testing.State(leader=leader, relations=rels.values(), model=testing.Model(name=MODEL))
    if event == 'mesh-created':
        ev = ctx.on.relation_created(rels['mesh'])
    elif event == 'cmr-out-created':
        ev = ctx.on.relation_created(rels['cmr-out'])
    else:
        ev = ctx.on.upgrade_charm()
    # Only the leader calls the API; an empty cluster (no StatefulSet) answers "gone".
    with FakeCluster('someone-else', namespace=MODEL, units=0):
        return ctx.run(ev, state)


def local(state: testing.State, endpoint: str) -> dict[str, str]:
    (relation,) = [r for r in state.relations if r.endpoint == endpoint]
    return dict(relation.local_app_data)


def test_policies_are_published_byte_for_byte_as_upstream():
    rels = relations()
    mine = local(run(ours_consumer(ours()), 'mesh-created', rels=rels), 'service-mesh')
    reference = local(run(upstream_consumer(theirs()), 'mesh-created', rels=rels), 'service-mesh')
    assert mine['policies'] == reference['policies']
    # The case is not empty: 3 policies x their relations, one of them cross-model.
    published = json.loads(mine['policies'])
    assert len(published) == 4
    assert {(p['source_namespace'], p['source_app_name']) for p in published} == {
        (MODEL, 'client-a'),
        ('other', 'client-b'),
        (MODEL, 'prometheus'),
    }


def test_upstream_policy_objects_are_accepted_as_they_are():
    rels = relations()
    mine = local(run(ours_consumer(theirs()), 'upgrade', rels=rels), 'service-mesh')
    reference = local(run(upstream_consumer(theirs()), 'upgrade', rels=rels), 'service-mesh')
    assert mine['policies'] == reference['policies']


def test_cross_model_data_is_sent_as_upstream():
    rels = relations()
    mine = local(run(ours_consumer(ours()), 'cmr-out-created', rels=rels), 'require-cmr-mesh')
    reference = local(
        run(upstream_consumer(theirs()), 'cmr-out-created', rels=rels), 'require-cmr-mesh'
    )
    assert (
        mine == reference == {'cmr_data': json.dumps({'app_name': APP, 'juju_model_name': MODEL})}
    )


def test_no_policies_publish_an_empty_list_as_upstream():
    rels = relations()
    mine = local(run(ours_consumer([]), 'mesh-created', rels=rels), 'service-mesh')
    reference = local(run(upstream_consumer([]), 'mesh-created', rels=rels), 'service-mesh')
    assert mine['policies'] == reference['policies'] == '[]'


def test_a_non_leader_publishes_nothing():
    state = run(ours_consumer(ours()), 'mesh-created', leader=False)
    assert local(state, 'service-mesh') == {}


class Provider(ops.CharmBase):
    """istio-beacon-k8s's side: upstream's provider reads the consumers' policies."""

    seen: list[Any] = []  # noqa: RUF012 (filled by the handler, read by the test)

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.mesh = upstream.ServiceMeshProvider(
            self, labels={'istio.io/dataplane-mode': 'ambient'}, mesh_type=upstream.MeshType.istio
        )
        framework.observe(self.on['service-mesh'].relation_changed, self._on_changed)

    def _on_changed(self, _: ops.EventBase) -> None:
        Provider.seen[:] = self.mesh.mesh_info()


def test_the_upstream_provider_parses_what_we_publish():
    published = local(run(ours_consumer(ours()), 'mesh-created'), 'service-mesh')
    relation = testing.Relation('service-mesh', remote_app_name=APP, remote_app_data=published)
    meta = {'name': 'istio-beacon', 'provides': {'service-mesh': {'interface': 'service_mesh'}}}
    ctx = testing.Context(Provider, meta=meta)
    ctx.run(ctx.on.relation_changed(relation), testing.State(leader=True, relations={relation}))
    policies: list[upstream.MeshPolicy] = Provider.seen
    assert len(policies) == 4
    app_policy = next(p for p in policies if p.source_app_name == 'client-a')
    assert app_policy.target_app_name == APP
    assert app_policy.target_service == 'web-app-data'
    assert app_policy.endpoints[0].ports == [8080]
    assert app_policy.endpoints[0].methods == [upstream.Method.get]
    assert app_policy.endpoints[1].methods == [upstream.Method.post, upstream.Method.put]
    cross_model = next(p for p in policies if p.source_app_name == 'client-b')
    assert cross_model.source_namespace == 'other'
    units = [p for p in policies if p.source_app_name == 'prometheus']
    assert [p.endpoints for p in units] == [[upstream.Endpoint(ports=[9090])], []]
    assert all(p.target_type.value == 'unit' for p in units)


def test_policies_follow_the_relations_they_name():
    """A relation to a client created later republishes (upstream observes the same)."""
    rels = relations()
    ctx = testing.Context(ours_consumer(ours()), meta=META, app_name=APP)
    without = [r for k, r in rels.items() if k != 'data-a']
    state = testing.State(leader=True, relations=without, model=testing.Model(name=MODEL))
    with FakeCluster('someone-else', namespace=MODEL, units=0):
        state = ctx.run(ctx.on.upgrade_charm(), state)
        before = json.loads(local(state, 'service-mesh')['policies'])
        state = testing.State(
            leader=True,
            relations=[*state.relations, rels['data-a']],
            model=testing.Model(name=MODEL),
        )
        state = ctx.run(ctx.on.relation_created(rels['data-a']), state)
    after = json.loads(local(state, 'service-mesh')['policies'])
    assert 'client-a' not in {p['source_app_name'] for p in before}
    assert 'client-a' in {p['source_app_name'] for p in after}


NOT_PORTS: Any = ['80']


@pytest.mark.parametrize(
    ('policy', 'message'),
    [
        (lambda: k8s_labels.UnitPolicy(relation='nope'), "policy relation 'nope' is not"),
        (lambda: k8s_labels.UnitPolicy(relation='metrics', ports=[0]), '0 is not a port'),
        (
            lambda: k8s_labels.UnitPolicy(relation='metrics', ports=NOT_PORTS),
            'must hold ints',
        ),
        (
            lambda: k8s_labels.AppPolicy(
                relation='data', endpoints=[k8s_labels.Endpoint(methods=['FETCH'])]
            ),
            "'FETCH' is not a valid Method",
        ),
        (lambda: k8s_labels.AppPolicy(relation='', endpoints=[]), 'must be an endpoint name'),
        (lambda: 'data', 'must be an AppPolicy or a UnitPolicy'),
    ],
)
def test_a_bad_policy_fails_the_charm_init_naming_the_fault(policy: Any, message: str):
    # The policy's own constructor raises, or the consumer's, inside the charm's __init__.
    with pytest.raises((ValueError, TypeError, testing.errors.UncaughtCharmError), match=message):
        ctx = testing.Context(ours_consumer([policy()]), meta=META, app_name=APP)
        ctx.run(ctx.on.update_status(), testing.State())
