"""k8s_labels.testing: the fake cluster charm authors get, held to jujusim's fuller fake API.

The conformance tests run one scenario twice, on ``FakeCluster`` and on ``jujusim.kube``'s
``FakeKube`` (the harness's API, itself checked against real clients), and require the same
requests from the library, the same labels on every object and the same ledger.
"""

from __future__ import annotations

import json
import pathlib
import re
import socket
import unittest.mock
from collections.abc import Callable, Mapping
from typing import Any

import lightkube
import ops
import pytest
from k8s_labels_testenv import APP, LEDGER, META, NS, Env
from lightkube.resources import core_v1
from lightkube.types import PatchType
from ops import testing

import k8s_labels
from k8s_labels.testing import FakeCluster, FakeClusterError

Step = Callable[[k8s_labels.LabelManager], Any]
FOREIGN_TEMPLATE = {'team': 'web', 'istio.io/dataplane-mode': 'sidecar'}
FOREIGN_SERVICE = {'owner': 'ops'}


def manager(client: lightkube.Client, *, unit: int = 0) -> k8s_labels.LabelManager:
    return k8s_labels.LabelManager(
        'service-mesh',
        namespace=NS,
        app=APP,
        client=client,
        writer=f'{APP}/{unit}',
        is_leader=lambda: True,
        legacy_configmap=f'juju-service-mesh-{APP}-labels',
        retry_delays=(0.0, 0.0),
        sleep=lambda _: None,
    )


def without_identity(labels: Mapping[str, str]) -> dict[str, str]:
    # The StatefulSet controller's revision hash differs between the fakes by design.
    return {k: v for k, v in labels.items() if k != 'controller-revision-hash'}


def on_fake_cluster(
    steps: list[tuple[int, Mapping[str, str]]], *, trusted: bool = True
) -> dict[str, Any]:
    cluster = FakeCluster(
        APP,
        namespace=NS,
        units=2,
        trusted=trusted,
        template_labels=FOREIGN_TEMPLATE,
        service_labels=FOREIGN_SERVICE,
    )
    outcomes = [_run(manager(cluster.client(), unit=unit), labels) for unit, labels in steps]
    ledger = cluster.get('ConfigMap', LEDGER) if LEDGER in cluster.names('ConfigMap') else None
    return {
        'outcomes': outcomes,
        'requests': [_verb_kind_name(r) for r in cluster.requests],
        'template': cluster.template_labels(),
        'service': cluster.service_labels(),
        'pods': {f'{APP}-{i}': without_identity(cluster.pod_labels(i)) for i in range(2)},
        'ledger': ledger and json.loads(ledger['data']['ledger.json']),
    }


def on_jujusim(
    steps: list[tuple[int, Mapping[str, str]]], *, trusted: bool = True
) -> dict[str, Any]:
    env = Env(
        replicas=2,
        trusted=trusted,
        template_labels=FOREIGN_TEMPLATE,
        # What FakeCluster's Service carries from Juju besides the selector.
        service_labels={**FOREIGN_SERVICE, 'app.kubernetes.io/managed-by': 'juju'},
    )
    outcomes = [_run(manager(env.client(), unit=unit), labels) for unit, labels in steps]
    requests = [
        (e.verb, e.kind, '' if e.verb == 'create' else e.name)
        for e in env.api.log.entries(env.caller)
    ]
    return {
        'outcomes': outcomes,
        'requests': requests,
        'template': env.template(),
        'service': env.service(),
        'pods': {name: without_identity(labels) for name, labels in env.pods().items()},
        'ledger': env.ledger(),
    }


PLURALS = {'statefulsets': 'StatefulSet', 'pods': 'Pod', 'services': 'Service'}


def _verb_kind_name(request: str) -> tuple[str, str, str]:
    method, path = request.split(' ', 1)
    parts = path.split('/')
    named = parts[-2] in (*PLURALS, 'configmaps')
    plural, name = (parts[-2], parts[-1]) if named else (parts[-1], '')
    verb = {'GET': 'get' if name else 'list', 'POST': 'create'}.get(method, method.lower())
    return verb, PLURALS.get(plural, 'ConfigMap'), name


def _run(label_manager: k8s_labels.LabelManager, labels: Mapping[str, str]) -> str:
    try:
        return label_manager.reconcile(labels).outcome.name
    except k8s_labels.LabelError as e:
        return f'{type(e).__name__}: {e}'


SCENARIOS: dict[str, list[tuple[int, Mapping[str, str]]]] = {
    'apply, change, release': [
        (0, {'istio.io/dataplane-mode': 'ambient', 'demo': 'one'}),
        (0, {'demo': 'two'}),
        (0, {}),
    ],
    'nothing to change': [(0, {'demo': 'one'}), (0, {'demo': 'one'})],
    'a new leader takes over': [(0, {'demo': 'one'}), (1, {'demo': 'two'}), (1, {})],
    'first hook, no relation': [(0, {})],
}


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_the_library_sees_the_same_cluster_on_both_fakes(scenario: str):
    ours = on_fake_cluster(SCENARIOS[scenario])
    reference = on_jujusim(SCENARIOS[scenario])
    # The fakes' resourceVersions and uids differ; everything the library decides from
    # must not.
    assert ours == reference


def test_untrusted_both_fakes_refuse_the_same_requests():
    ours = on_fake_cluster([(0, {'demo': 'one'})], trusted=False)
    reference = on_jujusim([(0, {'demo': 'one'})], trusted=False)
    assert ours['outcomes'][0].startswith('PermissionDeniedError')
    assert ours == reference


def test_a_stale_write_gets_409_and_a_noop_keeps_the_version():
    cluster = FakeCluster(APP, namespace=NS)
    with cluster.client() as client:
        pod = client.get(core_v1.Pod, f'{APP}-0')
        assert pod.metadata is not None
        read_at = pod.metadata.resourceVersion
        cluster.set_labels(f'{APP}/0', {'someone': 'else'})
        with pytest.raises(lightkube.ApiError) as conflict:
            client.patch(  # pyright: ignore[reportUnknownMemberType]
                core_v1.Pod,
                f'{APP}-0',
                {'metadata': {'resourceVersion': read_at, 'labels': {'a': 'b'}}},
                patch_type=PatchType.MERGE,
            )
        assert conflict.value.status.code == 409
        before = cluster.get('Pod', f'{APP}-0')['metadata']['resourceVersion']
        client.patch(  # pyright: ignore[reportUnknownMemberType]
            core_v1.Pod,
            f'{APP}-0',
            {'metadata': {'labels': {'someone': 'else'}}},
            patch_type=PatchType.MERGE,
        )
        assert cluster.get('Pod', f'{APP}-0')['metadata']['resourceVersion'] == before


def test_a_patch_type_the_fake_does_not_model_is_refused_not_guessed():
    cluster = FakeCluster(APP, namespace=NS)
    with cluster.client() as client, pytest.raises(lightkube.ApiError) as refused:
        # lightkube's default patch type: strategic merge.
        client.patch(core_v1.Service, APP, {'metadata': {'labels': {'a': 'b'}}})  # pyright: ignore[reportUnknownMemberType]
    assert refused.value.status.code == 415
    assert 'a' not in cluster.service_labels()


class Charm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.mesh = k8s_labels.ServiceMeshConsumer(self)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        event.add_status(ops.ActiveStatus())


def leader_state(model: str = NS) -> testing.State:
    return testing.State(leader=True, model=testing.Model(name=model))


def test_the_consumer_reaches_the_fake_only_inside_the_block(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
):
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.delenv('KUBECONFIG', raising=False)
    ctx = testing.Context(Charm, meta=META, app_name=APP)
    with FakeCluster(APP, namespace=NS) as cluster:
        out = ctx.run(ctx.on.update_status(), leader_state())
    assert out.unit_status == ops.ActiveStatus()
    assert LEDGER in cluster.names('ConfigMap')
    with pytest.raises(testing.errors.UncaughtCharmError, match='no Kubernetes cluster'):
        ctx.run(ctx.on.update_status(), leader_state())


def test_nested_fakes_restore_the_outer_one():
    ctx = testing.Context(Charm, meta=META, app_name=APP)
    with FakeCluster(APP, namespace=NS) as outer:
        with FakeCluster(APP, namespace=NS) as inner:
            ctx.run(ctx.on.update_status(), leader_state())
        ctx.run(ctx.on.update_status(), leader_state())
    assert len(inner.requests) == len(outer.requests) > 0


def test_without_a_cluster_the_error_says_so_and_names_the_helper(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
):
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.delenv('KUBECONFIG', raising=False)
    ctx = testing.Context(Charm, meta=META, app_name=APP)
    with pytest.raises(testing.errors.UncaughtCharmError) as raised:
        ctx.run(ctx.on.update_status(), leader_state())
    error = raised.value.__cause__
    assert isinstance(error, k8s_labels.ClusterUnreachableError)
    assert 'no Kubernetes cluster to reach' in str(error)
    assert 'k8s_labels.testing.FakeCluster' in str(error)


def test_without_a_cluster_refused_data_still_blocks_naming_the_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
):
    # Refused data makes the leader look for a batch left open to finish; with no cluster
    # there is none, and the data is what the charm's unit test is about.
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.delenv('KUBECONFIG', raising=False)
    ctx = testing.Context(Charm, meta=META, app_name=APP)
    relation = testing.Relation(
        'service-mesh', remote_app_data={'labels': '{"app.kubernetes.io/name": "x"}'}
    )
    state = testing.State(leader=True, model=testing.Model(name=NS), relations={relation})
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)
    assert isinstance(out.unit_status, ops.BlockedStatus)
    assert out.unit_status.message.startswith('service-mesh relation data: ')


def test_a_mocked_client_is_named_not_taken_for_a_corrupt_ledger():
    ctx = testing.Context(Charm, meta=META, app_name=APP)
    with (
        unittest.mock.patch('lightkube.Client'),
        pytest.raises(testing.errors.UncaughtCharmError) as raised,
    ):
        ctx.run(ctx.on.update_status(), leader_state())
    error = raised.value.__cause__
    assert isinstance(error, k8s_labels.ClusterUnreachableError)
    assert 'is a mock (MagicMock)' in str(error)
    assert 'corrupt' not in str(error)


def test_a_non_leader_needs_no_cluster():
    ctx = testing.Context(Charm, meta=META, app_name=APP)
    out = ctx.run(ctx.on.update_status(), testing.State(leader=False))
    assert out.unit_status == ops.ActiveStatus()


WRONG_MODEL_HINT = re.escape('model=ops.testing.Model')


def test_a_model_name_that_differs_from_the_fake_is_named():
    ctx = testing.Context(Charm, meta=META, app_name=APP)
    with (
        FakeCluster(APP, namespace=NS),
        pytest.raises(testing.errors.UncaughtCharmError, match=WRONG_MODEL_HINT) as e,
    ):
        ctx.run(ctx.on.update_status(), leader_state('random-model'))
    assert isinstance(e.value.__cause__, FakeClusterError)


def test_foreign_labels_and_reading_back():
    cluster = FakeCluster(APP, namespace=NS, units=2, template_labels={'team': 'web'})
    cluster.set_labels('service', {'owner': 'ops'})
    cluster.set_labels('template', {'team': None})
    assert cluster.service_labels()['owner'] == 'ops'
    assert 'team' not in cluster.template_labels()
    assert cluster.pod_labels(1)['team'] == 'web'  # no roll: the pod keeps its labels
    assert cluster.pod_labels('app/1') == cluster.pod_labels(f'{APP}-1')
    assert cluster.names('Pod') == [f'{APP}-0', f'{APP}-1']


def test_a_kubeconfig_whose_server_does_not_answer_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
):
    # A port nothing listens on: bound, then closed.
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    config = tmp_path / 'kubeconfig'
    config.write_text(
        json.dumps(
            {
                'apiVersion': 'v1',
                'kind': 'Config',
                'clusters': [{'name': 'c', 'cluster': {'server': f'https://127.0.0.1:{port}'}}],
                'users': [{'name': 'u', 'user': {'token': 't'}}],
                'contexts': [{'name': 'c', 'context': {'cluster': 'c', 'user': 'u'}}],
                'current-context': 'c',
            }
        )
    )
    monkeypatch.setenv('KUBECONFIG', str(config))

    class Impatient(ops.CharmBase):
        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            self.mesh = k8s_labels.ServiceMeshConsumer(self, retry_delays=())

    ctx = testing.Context(Impatient, meta=META, app_name=APP)
    with pytest.raises(testing.errors.UncaughtCharmError) as raised:
        ctx.run(ctx.on.update_status(), leader_state())
    error = raised.value.__cause__
    assert isinstance(error, k8s_labels.TransientError)  # Juju retries the hook
    assert str(error).startswith('cannot connect to the Kubernetes API (')
    assert 'k8s_labels.testing.FakeCluster' in str(error)
