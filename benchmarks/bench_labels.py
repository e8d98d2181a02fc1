"""API reads and writes per reconcile: k8s_labels beside the upstream service_mesh library.

Each scenario runs a real hook through ``ops.testing`` in a charm using the library,
against ``jujusim.kube.FakeKube`` through lightkube's real request path, and counts the
requests of the app's service account in the fake's request log. The application has
three pods. Counts, not timings: they are deterministic.

The upstream library (charmlibs-interfaces-service-mesh 1.0.2 + canonical-service-mesh
0.3.1, dependency group ``bench``) runs the same hooks when it is installed. It reconciles
on relation-changed on every unit and on relation-broken on the leader only; other events
it ignores (``-``), and on a non-leader it makes the same calls as on the leader.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from typing import Any

import lightkube
import ops
from lightkube.config import kubeconfig, models
from ops import testing

import k8s_labels
from jujusim import kube

NS = 'bench'
APP = 'app'
TOKEN = 'app-token'  # noqa: S105 (a fake API's bearer token)
REPLICAS = 3
META: dict[str, Any] = {
    'name': APP,
    'requires': {
        'service-mesh': {'interface': 'service_mesh', 'limit': 1},
        # The upstream consumer also reads these endpoints (docs/design-notes.md, "What the
        # upstream library does").
        'require-cmr-mesh': {'interface': 'cross_model_mesh'},
    },
    'provides': {'provide-cmr-mesh': {'interface': 'cross_model_mesh'}},
}
MESH = {'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': f'{NS}-waypoint'}


def _client(api: kube.FakeKube) -> lightkube.Client:
    config = kubeconfig.KubeConfig.from_one(
        cluster=models.Cluster(server=kube.FAKE_SERVER, insecure=True),
        user=models.User(token=TOKEN),
        namespace=NS,
    )
    transport = kube.KubeTransport(api)
    return lightkube.Client(config, transport=transport, field_manager=APP, trust_env=False)


def _app(template_labels: dict[str, str]) -> tuple[kube.FakeKube, str]:
    """A trusted application as Juju creates it: StatefulSet, Service, pods."""
    api = kube.FakeKube(namespaces=[NS])
    caller = api.register_caller(TOKEN, kube.JujuAppPolicy(namespace=NS, app=APP, trusted=True))
    selector = {'app.kubernetes.io/name': APP}
    api.create(
        {
            'apiVersion': 'apps/v1',
            'kind': 'StatefulSet',
            'metadata': {'name': APP, 'namespace': NS, 'labels': dict(selector)},
            'spec': {
                'replicas': REPLICAS,
                'serviceName': f'{APP}-endpoints',
                'selector': {'matchLabels': dict(selector)},
                'template': {
                    'metadata': {'labels': {**selector, **template_labels}},
                    'spec': {'containers': [{'name': 'charm', 'image': 'charm:1'}]},
                },
            },
        }
    )
    api.create(
        {
            'apiVersion': 'v1',
            'kind': 'Service',
            'metadata': {'name': APP, 'namespace': NS, 'labels': dict(selector)},
            'spec': {'selector': dict(selector), 'ports': [{'port': 65535}]},
        }
    )
    api.settle()
    return api, caller


def _ours(api: kube.FakeKube) -> type[ops.CharmBase]:
    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            self.mesh = k8s_labels.ServiceMeshConsumer(
                self, client_factory=lambda: _client(api), retry_delays=()
            )

    return Charm


def _upstream(api: kube.FakeKube) -> type[ops.CharmBase] | None:
    try:
        module: Any = importlib.import_module('charmlibs.interfaces.service_mesh')
    except ImportError:
        return None

    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            self.mesh = module.ServiceMeshConsumer(self)
            # Its lightkube_client property builds an in-cluster client; give it ours.
            self.mesh._lightkube_client = _client(api)

    return Charm


@dataclasses.dataclass(frozen=True)
class Step:
    """One hook: which unit, which event, the provider's labels (None: no relation)."""

    name: str
    event: str
    labels: dict[str, str] | None
    unit: int = 0
    leader: bool = True


FOREIGN = {'istio.io/dataplane-mode': 'none'}
STEPS = [
    Step('first hook, no relation (update-status)', 'update_status', None),
    Step('add 2 labels', 'relation_changed', MESH),
    Step('nothing to change (relation-changed)', 'relation_changed', MESH),
    Step('nothing to change (update-status)', 'update_status', MESH),
    Step('pod restart hooks: upgrade-charm', 'upgrade_charm', MESH),
    Step('nothing to change on a non-leader', 'relation_changed', MESH, unit=1, leader=False),
    Step('change 1 value', 'relation_changed', {**MESH, 'istio.io/use-waypoint': 'other'}),
    Step('remove 1 label', 'relation_changed', {'istio.io/use-waypoint': 'other'}),
    Step(
        'leader change, nothing to change',
        'leader_elected',
        {'istio.io/use-waypoint': 'other'},
        unit=1,
    ),
    Step(
        'relation-broken (remove all)',
        'relation_broken',
        {'istio.io/use-waypoint': 'other'},
        unit=1,
    ),
]
TAKEOVER_STEPS = [
    Step('', 'update_status', None),  # not shown: creates the ledger, as in STEPS
    Step('take over a foreign key', 'relation_changed', {'istio.io/dataplane-mode': 'ambient'}),
    Step('release it (give "none" back)', 'relation_changed', {}),
]


def _run(
    charm_for: Callable[[kube.FakeKube], type[ops.CharmBase] | None],
    steps: list[Step],
    template_labels: dict[str, str],
) -> list[tuple[int, int]] | None:
    api, caller = _app(template_labels)
    charm = charm_for(api)
    if charm is None:
        return None
    results: list[tuple[int, int]] = []
    for step in steps:
        ctx = testing.Context(charm, meta=META, app_name=APP, unit_id=step.unit)
        relations: list[testing.Relation] = []
        rel = None
        if step.labels is not None:
            data = {'labels': json.dumps(step.labels), 'mesh_type': '"istio"'}
            rel = testing.Relation('service-mesh', remote_app_name='beacon', remote_app_data=data)
            relations.append(rel)
        state = testing.State(
            leader=step.leader, model=testing.Model(name=NS), relations=relations
        )
        seen = len(api.log.entries(caller))
        if step.event == 'relation_changed':
            assert rel is not None
            ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state)
        elif step.event == 'relation_broken':
            assert rel is not None
            ctx.run(ctx.on.relation_broken(rel), state)
        else:
            ctx.run(getattr(ctx.on, step.event)(), state)
        entries = api.log.entries(caller)[seen:]
        writes = sum(1 for e in entries if e.is_write)
        results.append((len(entries) - writes, writes))
        api.settle()  # the rollout a template change starts finishes before the next hook
    return results


def _cell(result: tuple[int, int] | None) -> str:
    if result is None:
        return 'not installed'
    reads, writes = result
    return '-' if reads == writes == 0 else f'{reads} r / {writes} w'


def main() -> None:
    """Print reads and writes per hook for both libraries."""
    rows: list[tuple[str, str, str]] = []
    for steps, template in ((STEPS, {}), (TAKEOVER_STEPS, FOREIGN)):
        ours = _run(_ours, steps, template)
        upstream = _run(_upstream, steps, template)
        assert ours is not None
        for i, step in enumerate(steps):
            if step.name:
                upstream_cell = _cell(upstream[i] if upstream else None)
                rows.append((step.name, _cell(ours[i]), upstream_cell))
    print(f'API requests per hook, {REPLICAS} pods (r = reads, w = writes; "-" = no request)')
    width = max(len(r[0]) for r in rows)
    print(f'{"hook":<{width}}  {"k8s_labels":>12}  {"upstream 1.0.2":>14}')
    for name, ours_cell, upstream_cell in rows:
        print(f'{name:<{width}}  {ours_cell:>12}  {upstream_cell:>14}')
    print(
        'k8s_labels writes: ledger (write-ahead) + Service + each Pod + template + ledger '
        '(compact); the first hook of a new leader adds one ledger write (claim).'
    )
    print('upstream: relation-changed runs on every unit, so multiply its row by the units.')
