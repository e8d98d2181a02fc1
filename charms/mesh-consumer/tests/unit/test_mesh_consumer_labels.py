"""mesh-consumer and the library against the fake Kubernetes API (jujusim.kube), via ops.testing.

The app's objects are made as Juju makes them: a StatefulSet selecting
``app.kubernetes.io/name`` and a Service of the same name (docs/design-notes.md, "The objects Juju
creates"); the fake's StatefulSet controller makes the Pods. The charm reaches the fake through
a real lightkube client with the service account's token, under the Role Juju gives the app
(``JujuAppPolicy``: trusted or not).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import lightkube
import ops
import pytest
from charmlibs.interfaces import service_mesh as upstream
from ops import testing

import beacon_stub
import k8s_labels
import k8s_labels.testing
import mesh_consumer
from jujusim import kube

MODEL = 'mesh-demo'
APP = 'mesh-consumer'
TOKEN = 'mesh-consumer-token'
JUJU_NAME = 'app.kubernetes.io/name'
AMBIENT = {'istio.io/dataplane-mode': 'ambient'}

Ctx = testing.Context[mesh_consumer.MeshConsumerCharm]


def juju_statefulset(units: int) -> dict[str, Any]:
    # juju/juju caas/kubernetes/provider/application/application.go: the selector and the
    # template carry app.kubernetes.io/name; the StatefulSet adds managed-by.
    return {
        'apiVersion': 'apps/v1',
        'kind': 'StatefulSet',
        'metadata': {
            'name': APP,
            'namespace': MODEL,
            'labels': {JUJU_NAME: APP, 'app.kubernetes.io/managed-by': 'juju'},
        },
        'spec': {
            'replicas': units,
            'serviceName': f'{APP}-endpoints',
            'selector': {'matchLabels': {JUJU_NAME: APP}},
            'template': {
                'metadata': {'labels': {JUJU_NAME: APP}},
                'spec': {'containers': [{'name': 'charm', 'image': 'charm:1'}]},
            },
        },
    }


def juju_service() -> dict[str, Any]:
    return {
        'apiVersion': 'v1',
        'kind': 'Service',
        'metadata': {
            'name': APP,
            'namespace': MODEL,
            'labels': {JUJU_NAME: APP, 'app.kubernetes.io/managed-by': 'juju'},
        },
        'spec': {'selector': {JUJU_NAME: APP}, 'ports': [{'port': 8080}]},
    }


@dataclasses.dataclass
class Cluster:
    api: kube.FakeKube
    policy: kube.JujuAppPolicy

    @property
    def caller(self) -> str:
        return self.policy.user

    def template_labels(self) -> dict[str, str]:
        sts = self.api.get('StatefulSet', MODEL, APP)
        assert sts is not None
        return dict(sts['spec']['template']['metadata'].get('labels', {}))

    def pod_labels(self) -> dict[str, dict[str, str]]:
        pods = self.api.objects('Pod', MODEL, selector=f'{JUJU_NAME}={APP}')
        return {p['metadata']['name']: dict(p['metadata'].get('labels', {})) for p in pods}

    def service_labels(self) -> dict[str, str]:
        service = self.api.get('Service', MODEL, APP)
        assert service is not None
        return dict(service['metadata'].get('labels', {}))

    def carries(self, labels: Mapping[str, str]) -> bool:
        """Whether the template, every pod and the Service carry exactly these values."""
        objects = [self.template_labels(), self.service_labels(), *self.pod_labels().values()]
        return all(all(o.get(k) == v for k, v in labels.items()) for o in objects)

    def carries_none_of(self, keys: set[str]) -> bool:
        objects = [self.template_labels(), self.service_labels(), *self.pod_labels().values()]
        return all(not keys & o.keys() for o in objects)

    def writes(self) -> int:
        return self.api.log.counts(self.caller).writes


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    api = kube.FakeKube(namespaces=[MODEL])
    api.create(juju_statefulset(units=3))
    api.create(juju_service())
    api.settle()
    policy = kube.JujuAppPolicy(namespace=MODEL, app=APP, trusted=True)
    api.register_caller(TOKEN, policy)
    clients: list[lightkube.Client] = []

    def factory(namespace: str, field_manager: str) -> lightkube.Client:
        client = kube.lightkube_client(
            api, token=TOKEN, namespace=namespace, field_manager=field_manager
        )
        clients.append(client)
        return client

    # The library's seam for tests (k8s_labels.testing.FakeCluster uses the same one): the
    # consumers' default client reaches this richer fake, whose controller rolls the pods.
    with k8s_labels.testing.default_client(factory):
        yield Cluster(api=api, policy=policy)
    for client in clients:
        client.close()


@pytest.fixture
def ctx() -> Ctx:
    return testing.Context(mesh_consumer.MeshConsumerCharm, app_name=APP)


def mesh(databag: Mapping[str, str]) -> testing.Relation:
    return testing.Relation(
        'service-mesh', remote_app_name='beacon-stub', remote_app_data=dict(databag)
    )


def wire(labels: Mapping[str, str]) -> dict[str, str]:
    # istio-beacon-k8s's provider databag (docs/design-notes.md, "Wire format").
    return {'labels': json.dumps(dict(labels)), 'mesh_type': '"istio"'}


def make_state(
    *relations: testing.RelationBase, leader: bool = True, stored: Any = ()
) -> testing.State:
    return testing.State(
        leader=leader,
        model=testing.Model(name=MODEL),
        relations=list(relations),
        containers=[testing.Container(mesh_consumer.CONTAINER, can_connect=True)],
        stored_states=list(stored),
    )


# Every event the library reconciles on, built from the state's service-mesh relation.
EVENTS: dict[str, Callable[[Ctx, testing.Relation], Any]] = {
    'relation-created': lambda c, r: c.on.relation_created(r),
    'relation-changed': lambda c, r: c.on.relation_changed(r),
    'leader-elected': lambda c, r: c.on.leader_elected(),
    'upgrade-charm': lambda c, r: c.on.upgrade_charm(),
    'start': lambda c, r: c.on.start(),
    'config-changed': lambda c, r: c.on.config_changed(),
    'update-status': lambda c, r: c.on.update_status(),
}


@pytest.mark.parametrize('event', EVENTS)
def test_relation_data_reaches_template_pods_and_service_on(
    ctx: Ctx, cluster: Cluster, event: str
):
    relation = mesh(wire(AMBIENT))
    out = ctx.run(EVENTS[event](ctx, relation), make_state(relation))
    assert cluster.carries(AMBIENT)
    assert len(cluster.pod_labels()) == 3
    assert out.unit_status == ops.ActiveStatus()
    # The template change rolls every pod; the new pods carry the labels from the template.
    cluster.api.settle()
    assert cluster.carries(AMBIENT)
    assert len(cluster.pod_labels()) == 3


def test_a_non_leader_never_calls_the_api(ctx: Ctx, cluster: Cluster):
    relation = mesh(wire(AMBIENT))
    out = ctx.run(ctx.on.relation_changed(relation), make_state(relation, leader=False))
    assert cluster.api.log.entries(cluster.caller) == []
    assert cluster.carries_none_of(set(AMBIENT))
    assert out.unit_status == ops.ActiveStatus()


def test_changes_and_removals_follow_the_relation(ctx: Ctx, cluster: Cluster):
    first = mesh(wire({'a': '1', 'b': '2'}))
    state = ctx.run(ctx.on.relation_changed(first), make_state(first))
    assert cluster.carries({'a': '1', 'b': '2'})
    changed = dataclasses.replace(first, remote_app_data=wire({'a': '9'}))
    state = ctx.run(
        ctx.on.relation_changed(changed), dataclasses.replace(state, relations=[changed])
    )
    assert cluster.carries({'a': '9'})
    assert cluster.carries_none_of({'b'})
    # The relation as the charm left it (the leader published its policies in it).
    ctx.run(ctx.on.relation_broken(state.get_relation(changed.id)), state)
    assert cluster.carries_none_of({'a', 'b'})
    cluster.api.settle()
    assert cluster.carries_none_of({'a', 'b'})
    assert cluster.carries({JUJU_NAME: APP})


def test_nothing_to_change_writes_nothing(ctx: Ctx, cluster: Cluster):
    relation = mesh(wire(AMBIENT))
    state = ctx.run(ctx.on.relation_changed(relation), make_state(relation))
    before = cluster.writes()
    state = ctx.run(ctx.on.update_status(), state)
    assert cluster.writes() == before
    # After the rollout the leader's own pod is a new incarnation: the library records it
    # once (its ledger fences writers by pod uid), then again writes nothing.
    cluster.api.settle()
    state = ctx.run(ctx.on.update_status(), state)
    before = cluster.writes()
    ctx.run(ctx.on.update_status(), state)
    assert cluster.writes() == before


def test_labels_someone_else_wrote_are_left_alone(ctx: Ctx, cluster: Cluster):
    cluster.api.patch('Service', MODEL, APP, {'metadata': {'labels': {'owner': 'ops'}}})
    relation = mesh(wire(AMBIENT))
    state = ctx.run(ctx.on.relation_changed(relation), make_state(relation))
    assert cluster.service_labels()['owner'] == 'ops'
    ctx.run(ctx.on.relation_broken(state.get_relation(relation.id)), state)
    assert cluster.service_labels()['owner'] == 'ops'
    assert cluster.carries_none_of(set(AMBIENT))


def test_the_adr_counterexample_on_a_new_leader(ctx: Ctx, cluster: Cluster):
    # {"foo": "bar"} applied; the data is reset to {} while the leader's pod dies; a new
    # leader with no local state processes the change: foo must be gone (ADR).
    relation = mesh(wire({'foo': 'bar'}))
    ctx.run(ctx.on.relation_changed(relation), make_state(relation))
    assert cluster.carries({'foo': 'bar'})
    new_leader = testing.Context(mesh_consumer.MeshConsumerCharm, app_name=APP, unit_id=1)
    reset = dataclasses.replace(relation, remote_app_data=wire({}))
    new_leader.run(new_leader.on.relation_changed(reset), make_state(reset))
    assert cluster.carries_none_of({'foo'})


BAD_DATA = [
    ({'labels': 'not json', 'mesh_type': '"istio"'}, '"labels" is not valid JSON'),
    ({'labels': '["a"]'}, '"labels" must be a JSON object'),
    (wire({JUJU_NAME: 'hijack'}), f"label key '{JUJU_NAME}' is reserved"),
    (wire({'bad key!': 'x'}), "label key 'bad key!'"),
    (wire({'a': 'x y'}), "label 'a': value 'x y'"),
    ({'labels': '{"a": 1}'}, "label 'a': value must be a string"),
]


@pytest.mark.parametrize(('databag', 'message'), BAD_DATA)
def test_bad_relation_data_blocks_naming_the_fault_and_changes_nothing(
    ctx: Ctx, cluster: Cluster, databag: dict[str, str], message: str
):
    good = mesh(wire(AMBIENT))
    state = ctx.run(ctx.on.relation_changed(good), make_state(good))
    cluster.api.settle()
    before = (cluster.template_labels(), cluster.service_labels(), cluster.pod_labels())
    writes = cluster.writes()
    bad = dataclasses.replace(good, remote_app_data=databag)
    out = ctx.run(ctx.on.relation_changed(bad), dataclasses.replace(state, relations=[bad]))
    assert isinstance(out.unit_status, ops.BlockedStatus)
    assert out.unit_status.message.startswith('service-mesh relation data: ')
    assert message in out.unit_status.message
    assert (cluster.template_labels(), cluster.service_labels(), cluster.pod_labels()) == before
    assert cluster.writes() == writes
    # Fixing the data clears the status.
    fixed = dataclasses.replace(good, remote_app_data=wire({'c': 'd'}))
    out = ctx.run(ctx.on.relation_changed(fixed), dataclasses.replace(out, relations=[fixed]))
    assert out.unit_status == ops.ActiveStatus()
    assert cluster.carries({'c': 'd'})
    assert cluster.carries_none_of(set(AMBIENT))


def test_without_trust_the_leader_blocks_with_the_trust_command(ctx: Ctx, cluster: Cluster):
    cluster.policy.trusted = False
    relation = mesh(wire(AMBIENT))
    out = ctx.run(ctx.on.relation_changed(relation), make_state(relation))
    assert isinstance(out.unit_status, ops.BlockedStatus)
    assert 'juju trust mesh-consumer --scope=cluster' in out.unit_status.message
    assert cluster.carries_none_of(set(AMBIENT))
    # `juju trust` granted: the next event (update-status at the latest) applies the labels.
    cluster.policy.trusted = True
    out = ctx.run(ctx.on.update_status(), out)
    assert out.unit_status == ops.ActiveStatus()
    assert cluster.carries(AMBIENT)


def test_the_library_status_and_the_charm_status_combine(ctx: Ctx, cluster: Cluster):
    # Both report through collect-status; ops shows the most severe (Blocked over Waiting).
    cluster.policy.trusted = False
    relation = mesh(wire(AMBIENT))
    state = dataclasses.replace(
        make_state(relation),
        containers=[testing.Container(mesh_consumer.CONTAINER, can_connect=False)],
    )
    out = ctx.run(ctx.on.relation_changed(relation), state)
    assert out.unit_status == ops.BlockedStatus(k8s_labels.trust_message(APP))


def test_the_stubs_databag_drives_the_consumer(ctx: Ctx, cluster: Cluster):
    # End to end through both charms: beacon-stub publishes from config, mesh-consumer
    # applies what it reads.
    stub = testing.Context(beacon_stub.BeaconStubCharm)
    provided = testing.Relation('service-mesh', remote_app_name=APP)
    stub_out = stub.run(
        stub.on.config_changed(),
        testing.State(
            leader=True,
            config={'labels': json.dumps({**AMBIENT, 'team': 'blue'}), 'mesh-type': 'istio'},
            relations=[provided, testing.PeerRelation('overrides')],
        ),
    )
    databag = stub_out.get_relation(provided.id).local_app_data
    relation = mesh(databag)
    ctx.run(ctx.on.relation_changed(relation), make_state(relation))
    assert cluster.carries({**AMBIENT, 'team': 'blue'})


def test_the_web_policy_is_published_for_each_web_client(ctx: Ctx, cluster: Cluster):
    # The provider (istio-beacon-k8s) reads `policies` with upstream's MeshPolicy model.
    relation = mesh(wire(AMBIENT))
    web = testing.Relation('web', remote_app_name='browser')
    state = dataclasses.replace(make_state(relation, web), config={'port': 9000})
    out = ctx.run(ctx.on.relation_created(web), state)
    published = json.loads(out.get_relation(relation.id).local_app_data['policies'])
    policies = [upstream.MeshPolicy.model_validate(p) for p in published]
    assert [(p.source_app_name, p.target_app_name, p.target_namespace) for p in policies] == [
        ('browser', APP, MODEL)
    ]
    get_on_9000 = upstream.Endpoint(ports=[9000], methods=[upstream.Method.get])
    assert policies[0].endpoints == [get_on_9000]
    # No web client: no policy, but the field is there (as upstream writes it).
    out = ctx.run(ctx.on.relation_broken(out.get_relation(web.id)), out)
    assert json.loads(out.get_relation(relation.id).local_app_data['policies']) == []
