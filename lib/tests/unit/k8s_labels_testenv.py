"""A Juju-like application on the fake Kubernetes API, a test charm, kills, and R1-R4 checks.

Every API call of the library goes through lightkube's real request path into
``jujusim.kube.FakeKube``; nothing in lightkube is mocked. A "kill" is a BaseException
raised by the transport on the Nth request, before or after the fake applies it: like a
SIGKILL, it unwinds through everything and the hook's local state is lost.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx2
import lightkube
import ops
from lightkube.config import kubeconfig, models
from ops import testing

import k8s_labels
from jujusim import kube

NS = 'test-model'
APP = 'app'
TOKEN = 'app-token'
LEDGER = f'{APP}-k8s-labels-service-mesh'
LEGACY = f'juju-service-mesh-{APP}-labels'
META: dict[str, Any] = {
    'name': APP,
    'requires': {'service-mesh': {'interface': 'service_mesh', 'limit': 1}},
}
BEACON_LABELS = {
    'istio.io/dataplane-mode': 'ambient',
    'istio.io/use-waypoint': f'{NS}-beacon-waypoint',
}


class Killed(BaseException):
    """The unit's process died here (a SIGKILL, a pod deletion)."""


@dataclasses.dataclass
class Kill:
    """Kill the caller at its ``at``-th API request (from 0), before or after it is applied.

    Attributes:
        at: the request to die at.
        after: die once the fake has applied the request (the response never arrives).
        seen: requests seen so far.
        fired: whether the kill happened.
    """

    at: int
    after: bool = False
    seen: int = 0
    fired: bool = False


class _Transport(kube.KubeTransport):
    """The fake's in-process transport, with a kill switch and an optional pre-request hook."""

    def __init__(
        self, api: kube.FakeKube, kill: Kill | None, before: Callable[[int], None] | None
    ):
        super().__init__(api)
        self.kill = kill
        self.before = before
        self.count = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        n = self.count
        self.count += 1
        if self.before is not None:
            self.before(n)
        kill = self.kill
        if kill is not None:
            kill.seen += 1
        if kill is not None and kill.at == n and not kill.after:
            kill.fired = True
            raise Killed(f'killed before request {n}: {request.method} {request.url.path}')
        response = super().handle_request(request)
        if kill is not None and kill.at == n and kill.after:
            kill.fired = True
            raise Killed(f'killed after request {n}: {request.method} {request.url.path}')
        return response


def statefulset(replicas: int, template_labels: Mapping[str, str]) -> dict[str, Any]:
    """The StatefulSet as Juju creates it (juju/juju caas/kubernetes/provider/application)."""
    return {
        'apiVersion': 'apps/v1',
        'kind': 'StatefulSet',
        'metadata': {
            'name': APP,
            'namespace': NS,
            'labels': {'app.kubernetes.io/name': APP, 'app.kubernetes.io/managed-by': 'juju'},
            'annotations': {'juju.is/version': '3.6.9'},
        },
        'spec': {
            'replicas': replicas,
            'serviceName': f'{APP}-endpoints',
            'selector': {'matchLabels': {'app.kubernetes.io/name': APP}},
            'template': {
                'metadata': {'labels': {'app.kubernetes.io/name': APP, **template_labels}},
                'spec': {'containers': [{'name': 'charm', 'image': 'charm:1'}]},
            },
        },
    }


def service(labels: Mapping[str, str]) -> dict[str, Any]:
    """The application's Service as Juju creates it."""
    return {
        'apiVersion': 'v1',
        'kind': 'Service',
        'metadata': {
            'name': APP,
            'namespace': NS,
            'labels': {'app.kubernetes.io/name': APP, **labels},
        },
        'spec': {
            'selector': {'app.kubernetes.io/name': APP},
            'ports': [{'name': 'placeholder', 'port': 65535}],
        },
    }


class Env:
    """One application on a fake API, and what tests need around it.

    Args:
        replicas: pods in the StatefulSet.
        trusted: whether the app has ``juju trust``.
        template_labels: foreign labels on the pod template before the charm runs.
        service_labels: foreign labels on the Service before the charm runs.
    """

    def __init__(
        self,
        *,
        replicas: int = 2,
        trusted: bool = True,
        template_labels: Mapping[str, str] | None = None,
        service_labels: Mapping[str, str] | None = None,
    ):
        self.api = kube.FakeKube(namespaces=[NS])
        self.policy = kube.JujuAppPolicy(namespace=NS, app=APP, trusted=trusted)
        self.caller = self.api.register_caller(TOKEN, self.policy)
        self.api.create(statefulset(replicas, template_labels or {}))
        self.api.create(service(service_labels or {}))
        self.api.settle()
        # Per test: a kill armed for the next client built, and a hook before each request.
        self.kill: Kill | None = None
        self.before_request: Callable[[int], None] | None = None

    def clone(self) -> Env:
        """An independent copy of this environment: same objects, same resourceVersions.

        Copies the fake's object store (reading ``FakeKube`` internals: it has no snapshot
        API yet); the copy gets an empty request log, no faults and no armed kill.
        """
        twin = object.__new__(Env)
        twin.api = kube.FakeKube(namespaces=[NS])
        twin.api.store = copy.deepcopy(self.api.store)
        twin.api.controller = type(self.api.controller)(twin.api.store, twin.api.log)
        twin.policy = dataclasses.replace(self.policy)
        twin.caller = twin.api.register_caller(TOKEN, twin.policy)
        twin.kill = None
        twin.before_request = None
        return twin

    # -- clients and charms ------------------------------------------------------------------

    def client(
        self, *, kill: Kill | None = None, before: Callable[[int], None] | None = None
    ) -> lightkube.Client:
        """A real lightkube client for the app's service account, through the fake."""
        config = kubeconfig.KubeConfig.from_one(
            cluster=models.Cluster(server=kube.FAKE_SERVER, insecure=True),
            user=models.User(token=TOKEN),
            namespace=NS,
        )
        return lightkube.Client(
            config,
            transport=_Transport(self.api, kill, before),
            field_manager=f'{APP}-k8s-labels',
            trust_env=False,
        )

    def client_factory(self) -> lightkube.Client:
        """What the test charm's consumer calls: takes the armed kill (once) and hook."""
        kill, self.kill = self.kill, None
        return self.client(kill=kill, before=self.before_request)

    def context(
        self,
        unit_id: int = 0,
        *,
        manager_class: type[k8s_labels.LabelManager] = k8s_labels.LabelManager,
    ) -> testing.Context[ops.CharmBase]:
        """An ``ops.testing`` context for unit ``app/<unit_id>`` of the test charm."""
        charm = consumer_charm(self, manager_class)
        return testing.Context(charm, meta=META, app_name=APP, unit_id=unit_id)

    def manager(
        self,
        unit: int = 0,
        *,
        client: lightkube.Client | None = None,
        is_leader: Callable[[], bool] = lambda: True,
        manager_class: type[k8s_labels.LabelManager] = k8s_labels.LabelManager,
    ) -> k8s_labels.LabelManager:
        """The consumer's LabelManager as unit ``app/<unit>`` builds it, outside any hook."""
        return manager_class(
            'service-mesh',
            namespace=NS,
            app=APP,
            client=client or self.client(),
            writer=f'{APP}/{unit}',
            is_leader=is_leader,
            legacy_configmap=LEGACY,
            retry_delays=(0.0, 0.0),
            sleep=lambda _: None,
        )

    # -- reading the objects (as admin) ------------------------------------------------------

    def template(self) -> dict[str, str]:
        """The pod template's labels."""
        sts = self.api.get('StatefulSet', NS, APP)
        assert sts is not None
        return dict(sts['spec']['template']['metadata'].get('labels') or {})

    def service(self) -> dict[str, str]:
        """The Service's labels."""
        svc = self.api.get('Service', NS, APP)
        assert svc is not None
        return dict(svc['metadata'].get('labels') or {})

    def pods(self) -> dict[str, dict[str, str]]:
        """Each running pod's labels (pods being deleted left out)."""
        return {
            p['metadata']['name']: dict(p['metadata'].get('labels') or {})
            for p in self.api.objects('Pod', NS, selector=f'app.kubernetes.io/name={APP}')
            if not p['metadata'].get('deletionTimestamp')
        }

    def ledger(self) -> dict[str, Any] | None:
        """The ledger's JSON document, or None."""
        cm = self.api.get('ConfigMap', NS, LEDGER)
        return None if cm is None else json.loads(cm['data']['ledger.json'])

    def objects(self) -> dict[str, dict[str, Any]]:
        """Every object the library may touch, as stored (for "nothing changed" checks)."""
        found: dict[str, dict[str, Any]] = {}
        for kind in ('StatefulSet', 'Service', 'Pod', 'ConfigMap'):
            for obj in self.api.objects(kind, NS):
                found[f'{kind}/{obj["metadata"]["name"]}'] = obj
        return found

    def label(self, where: str, key: str, value: str | None, *, caller: str = 'kubectl') -> None:
        """Someone else (kubectl by default) sets or removes a label: template, service, pod."""
        if where == 'template':
            body: dict[str, Any] = {'spec': {'template': {'metadata': {'labels': {key: value}}}}}
            kind, name = 'StatefulSet', APP
        else:
            body = {'metadata': {'labels': {key: value}}}
            kind, name = ('Service', APP) if where == 'service' else ('Pod', where)
        merge = 'application/merge-patch+json'
        self.api.patch(kind, NS, name, body, patch_type=merge, caller=caller)

    def settle(self) -> int:
        """Let the StatefulSet controller finish any rollout; return the actions it took."""
        return self.api.settle()

    def writes(self) -> list[kube.LogEntry]:
        """The app's writes so far."""
        return [e for e in self.api.log.entries(self.caller) if e.is_write]

    def check(
        self,
        desired: Mapping[str, str],
        *,
        managed: set[str],
        foreign: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """R1-R4 at quiescence (after ``settle``): assert, object by object.

        Every object carries ``desired``; a key the library ever managed (``managed``) and
        no longer desires is back to its foreign value (``foreign``: per ``template``,
        ``service``; pods take the template's) or absent; and a foreign label the library
        never had to take over is untouched. The ledger is closed and exact.
        """
        self.settle()
        foreign = foreign or {}
        views = {'template': self.template(), 'service': self.service(), **self.pods()}
        assert len(views) > 2, 'no pods'
        for name, labels in views.items():
            theirs = foreign.get(name if name in ('template', 'service') else 'template', {})
            expected = {**theirs, **desired}
            for key in managed | set(theirs) | set(desired):
                assert labels.get(key) == expected.get(key), (name, key, labels)
        ledger = self.ledger()
        if ledger is not None:
            assert not ledger['open'], ledger
            for name in ('template', 'service'):
                for key, entry in ledger[name].items():
                    assert entry['values'] == [views[name][key]], (name, key, entry)


def consumer_charm(
    env: Env, manager_class: type[k8s_labels.LabelManager] = k8s_labels.LabelManager
) -> type[ops.CharmBase]:
    """A charm built the way the README tells charm authors to, bound to ``env``'s API.

    ``manager_class`` swaps in a (deliberately broken) LabelManager variant.
    """

    class Consumer(k8s_labels.ServiceMeshConsumer):
        pass

    Consumer.manager_class = manager_class

    class ConsumerCharm(ops.CharmBase):
        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            self.mesh = Consumer(self, client_factory=env.client_factory, retry_delays=(0.0, 0.0))
            framework.observe(self.on.collect_unit_status, self._on_collect_unit_status)

        def _on_collect_unit_status(self, event: ops.CollectStatusEvent) -> None:
            event.add_status(ops.ActiveStatus())

    return ConsumerCharm


def relation(
    labels: Mapping[str, object] | None = None, *, raw: Mapping[str, str] | None = None
) -> testing.Relation:
    """The service-mesh relation, the provider's databag in istio-beacon-k8s's format.

    ``raw`` gives the databag as is (for bad data).
    """
    data = dict(raw or {})
    if labels is not None:
        data.setdefault('labels', json.dumps(labels))
        data.setdefault('mesh_type', '"istio"')
    return testing.Relation('service-mesh', remote_app_name='beacon', remote_app_data=data)


def state(
    rel: testing.Relation | None = None, *, leader: bool = True, stored: Any = ()
) -> testing.State:
    """A unit's state: the relation (if any), leadership, model name; fresh local state."""
    return testing.State(
        leader=leader,
        model=testing.Model(name=NS),
        relations=[rel] if rel is not None else [],
        stored_states=list(stored),
    )


def iter_kills(total: int) -> Iterator[Kill]:
    """Every kill point of a run of ``total`` requests: before each, and after the last.

    "After request k" (applied, response lost) leaves the API exactly as "before request
    k+1" does, and the killed process's memory is gone either way, so these ``total + 1``
    points cover every state a kill between two calls can leave, applied or not.
    """
    for at in range(total):
        yield Kill(at)
    yield Kill(total - 1, after=True)
