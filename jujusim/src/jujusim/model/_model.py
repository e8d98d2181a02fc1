"""The simulated Juju model: the public API a test or a scenario drives."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any, cast

import lightkube
import ops.testing

from ..agent import AgentPool, CharmSource, HookDone, HookResult, HookSpec, WorkerGone
from ..agent._private.worker import ASK_LEADER_ENV
from ..check import LabelExpectation, check_app, rollout_pending
from ..kube import (
    AdminPolicy,
    FakeKube,
    JujuAppPolicy,
    KubeServer,
    lightkube_client,
)
from ._clock import VirtualClock
from ._gate import Gate, HeldRequest
from ._relations import Relation
from ._units import (
    RETRY_FIRST,
    RETRY_MAX,
    UPDATE_STATUS_INTERVAL,
    Application,
    Failure,
    Unit,
    UnitRelation,
    next_hook,
)

_KUBECTL_TOKEN = 'jujusim-kubectl'  # noqa: S105 - a fake cluster's fixed token
_ADMIN_TOKEN = 'jujusim-admin'  # noqa: S105 - likewise
MESH_INTERFACE = 'service_mesh'


def _labels_of(data: Mapping[str, str]) -> dict[str, str] | None:
    """The ``labels`` field of a service-mesh provider databag (istio-beacon's format)."""
    try:
        labels = json.loads(data.get('labels', '{}'))
    except json.JSONDecodeError:
        return None
    if not isinstance(labels, dict):
        return None
    items = cast('dict[Any, Any]', labels).items()
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in items):
        return None
    return cast('dict[str, str]', labels)


JUJU = 'juju'  # the caller name of the controller's own Kubernetes writes
# ops re-asks Juju ``is-leader`` once its cached answer is older than this
# (ops/model.py, _ModelBackend.LEASE_RENEWAL_PERIOD).
OPS_LEADER_CACHE = 30.0
# Seconds a new pod takes to become Ready (image already pulled, containers starting):
# a modelling choice. The StatefulSet controller waits for each pod to be Running and
# Ready before it touches the next (OrderedReady: kubernetes.io/docs/concepts/workloads/
# controllers/statefulset/#deployment-and-scaling-guarantees), so a rollout takes time.
POD_STARTUP = 10.0
SETTLE_RETRIES = 4  # retries of a failing hook settle() waits for (5+10+20+40 s)
# terminationGracePeriodSeconds of a charm's pod: SIGTERM, then SIGKILL 30 s later
# (caas/kubernetes/provider/application/application.go; RESEARCH.md "Pod restarts").
GRACE_PERIOD = 30.0


class ModelError(Exception):
    """The model cannot do what was asked; the message says why."""


class LivelockError(ModelError):
    """The model did not reach quiescence within its step bound."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ActionOutcome:
    """How an action ended."""

    unit: str
    action: str
    params: Mapping[str, Any]
    results: Mapping[str, Any] | None
    failure: str | None  # the message the charm passed to event.fail
    error: str | None  # the charm raised


@dataclasses.dataclass(frozen=True, kw_only=True)
class _KillPlan:
    call: int  # the Nth API call of the unit's current or next hook (1-based)
    applied: bool  # kill after the request is applied (its response lost), or before


@dataclasses.dataclass
class _Running:
    spec: HookSpec
    hook_id: int
    calls: int = 0
    seen: dict[str, int] = dataclasses.field(default_factory=dict[str, int])
    config_version: int = 0
    started_at: float = 0.0
    leader: bool = False  # what ops last learnt from is-leader in this hook
    leader_checked_at: float = 0.0


class Model:
    """A Juju model on a fake Kubernetes API, whose units run real charm code in processes.

    Each unit is a worker process that runs its hooks through ``ops.testing`` and talks to
    the fake API over loopback HTTP with its own token. Every API request of every unit is
    held until the scheduler releases it; the scheduler picks among held requests, hooks
    ready to start and controller actions with a seeded random choice, so a seed replays a
    run exactly. Time is virtual: leases, retries and update-status follow :attr:`clock`.

    Args:
        name: the model's name, which is also its namespace.
        seed: the scheduler's seed.
        hook_timeout: wall-clock seconds before a hung hook is killed and failed.
    """

    def __init__(self, *, name: str = 'jujusim', seed: int = 0, hook_timeout: float = 60.0):
        self.name = name
        self.seed = seed
        self.clock = VirtualClock()
        self.rng = random.Random(seed)  # noqa: S311 - a schedule, not a secret
        self.kube = FakeKube(namespaces=(name,), seed=seed)
        self.trace: list[str] = []
        self.actions: list[ActionOutcome] = []
        self.apps: dict[str, Application] = {}
        self._policies: dict[str, JujuAppPolicy] = {}
        self.relations: dict[int, Relation] = {}
        self._next_relation_id = 0
        self._tmp = pathlib.Path(tempfile.mkdtemp(prefix='jujusim-model-'))
        self.pool = AgentPool(hook_timeout=hook_timeout, is_leader=self._is_leader_now)
        self._gate = Gate(self.kube, wake=self.pool.wake)
        self.server = KubeServer(self._gate.handle).start()
        self._pod_events: list[tuple[str, str, str]] = []  # (type, pod name, uid)
        self._unsubscribe = self.kube.observe(self._on_kube_event)
        self._running: dict[str, _Running] = {}
        self._held: dict[str, HeldRequest] = {}
        self._killed: set[tuple[str, int]] = set()  # (unit, pid) killed, not yet reported gone
        self._kill_plans: dict[str, _KillPlan] = {}
        self._stall_plans: dict[str, tuple[int, float]] = {}
        self._stalled_until: dict[str, float] = {}
        # Units whose pods are being deleted gracefully, and when the grace period ends.
        self._terminating: dict[str, float] = {}
        self._controller_idle_at: int | None = None
        self._controller_ready_at = 0.0  # the last pod created is Ready then
        self._pods_created = 0
        self._kubectl_server: KubeServer | None = None
        self._admin_client: lightkube.Client | None = None
        # Labels written by others (Juju included), for the R4 expectation: per object,
        # the last value each key was given (None: removed). Pods by uid.
        self.foreign_template: dict[str, dict[str, str | None]] = {}
        self.foreign_service: dict[str, dict[str, str | None]] = {}
        self.foreign_pods: dict[str, dict[str, str | None]] = {}
        self.ever_desired: dict[str, set[str]] = {}
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Kill every unit, stop the server and remove temporary files."""
        if self._closed:
            return
        self._closed = True
        for held in self._held.values():
            held.release('drop')
        self._held.clear()
        self._unsubscribe()
        self.pool.close()
        self.server.stop(timeout=1.0)
        if self._kubectl_server is not None:
            self._kubectl_server.stop(timeout=1.0)
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _log(self, text: str) -> None:
        self.trace.append(f'{self.clock.now:8.1f}  {text}')

    # -- deploying ---------------------------------------------------------------------

    def deploy(
        self,
        charm: str | os.PathLike[str],
        *,
        app: str | None = None,
        units: int = 1,
        config: Mapping[str, Any] | None = None,
        trust: bool = False,
    ) -> None:
        """Deploy a charm from its source folder, as Juju on Kubernetes does.

        Juju creates the StatefulSet and Service with its own labels (RESEARCH.md, "Juju's
        labels"); the StatefulSet controller then creates the pods, and each pod's unit
        starts running hooks.
        """
        source = CharmSource.load(pathlib.Path(charm))
        name = app or source.name
        if name in self.apps:
            raise ModelError(f'application {name!r} is already deployed')
        problems = source.settings_problems(config or {})
        if problems:
            raise ModelError(f'cannot deploy {name}: ' + '; '.join(problems))
        self.pool.add_app(name, source)
        directory = self._tmp / name
        directory.mkdir()
        application = Application(
            name=name,
            charm=source,
            scale=units,
            config={k: v for k, v in (config or {}).items() if v is not None},
            trusted=trust,
            kubeconfig_dir=str(directory),
        )
        self.apps[name] = application
        policy = JujuAppPolicy(namespace=self.name, app=name, trusted=trust)
        self._policies[name] = policy
        for ordinal in range(units):
            self._add_unit(application, ordinal, policy)
        for endpoint, role in source.endpoints.items():
            if role == 'peers':
                self._add_relation({name: endpoint}, self._interface(source, endpoint))
        self._create_k8s_objects(application)
        selector = {'app.kubernetes.io/name': name}
        self.foreign_template[name] = dict[str, str | None](selector)
        self.foreign_service[name] = {**selector, 'app.kubernetes.io/managed-by': 'juju'}
        self._log(f'deploy {name} ({units} units, trust={trust})')

    def _add_unit(self, app: Application, ordinal: int, policy: JujuAppPolicy) -> None:
        name = f'{app.name}/{ordinal}'
        token = f'jujusim-{self.name}-{app.name}-{ordinal}'
        self.kube.register_caller(token, policy, name=name)
        self._gate.register(token, name)
        self.server.write_kubeconfig(
            pathlib.Path(app.kubeconfig_dir) / f'unit-{ordinal}.yaml',
            token=token,
            namespace=self.name,
            user=name,
        )
        app.units[name] = Unit(name=name, app=app.name, ordinal=ordinal, token=token)

    def _create_k8s_objects(self, app: Application) -> None:
        # What Juju's provider creates for a sidecar charm (caas/kubernetes/provider/
        # application/application.go): labels on the StatefulSet and its pod template,
        # a Service of the app's name selecting its pods.
        selector = {'app.kubernetes.io/name': app.name}
        juju_labels = {**selector, 'app.kubernetes.io/managed-by': 'juju'}
        containers = [{'name': 'charm', 'image': 'jujusim/charm-base'}] + [
            {'name': c, 'image': f'jujusim/{c}'} for c in app.charm.containers
        ]
        self.kube.create(
            {
                'apiVersion': 'apps/v1',
                'kind': 'StatefulSet',
                'metadata': {
                    'name': app.name,
                    'namespace': self.name,
                    'labels': juju_labels,
                    'annotations': {'juju.is/version': '3.6.14'},
                },
                'spec': {
                    'replicas': app.scale,
                    'serviceName': f'{app.name}-endpoints',
                    'selector': {'matchLabels': selector},
                    'template': {
                        'metadata': {'labels': dict(selector)},
                        'spec': {'containers': containers},
                    },
                },
            },
            caller=JUJU,
        )
        self.kube.create(
            {
                'apiVersion': 'v1',
                'kind': 'Service',
                'metadata': {'name': app.name, 'namespace': self.name, 'labels': juju_labels},
                'spec': {'selector': selector, 'ports': [{'name': 'placeholder', 'port': 65535}]},
            },
            caller=JUJU,
        )

    @staticmethod
    def _interface(source: CharmSource, endpoint: str) -> str:
        for role in ('requires', 'provides', 'peers'):
            endpoints: dict[str, dict[str, Any]] = source.meta.get(role) or {}
            if endpoint in endpoints:
                return str(endpoints[endpoint]['interface'])
        raise ModelError(f'{source.name} has no endpoint {endpoint!r}')

    def _add_relation(self, endpoints: dict[str, str], interface: str) -> Relation:
        relation = Relation(id=self._next_relation_id, endpoints=endpoints, interface=interface)
        self._next_relation_id += 1
        self.relations[relation.id] = relation
        return relation

    # -- the operator's commands --------------------------------------------------------

    def integrate(self, one: str, other: str) -> int:
        """Relate ``app[:endpoint]`` to ``app[:endpoint]``; return the relation id."""
        (app_a, ep_a), (app_b, ep_b) = self._endpoint(one, other), self._endpoint(other, one)
        interface = self._interface(self.apps[app_a].charm, ep_a)
        if self._interface(self.apps[app_b].charm, ep_b) != interface:
            raise ModelError(f'{one} and {other} have different interfaces')
        relation = self._add_relation({app_a: ep_a, app_b: ep_b}, interface)
        self._log(f'integrate {app_a}:{ep_a} {app_b}:{ep_b} (relation {relation.id})')
        return relation.id

    def _endpoint(self, spec: str, other: str) -> tuple[str, str]:
        app, _, endpoint = spec.partition(':')
        if app not in self.apps:
            raise ModelError(f'no application {app!r}')
        if endpoint:
            return app, endpoint
        other_app = other.partition(':')[0]
        if other_app not in self.apps:
            raise ModelError(f'no application {other_app!r}')
        other_source = self.apps[other_app].charm
        wanted = {
            self._interface(other_source, e)
            for e, role in other_source.endpoints.items()
            if role != 'peers'
        }
        candidates = [
            e
            for e, role in self.apps[app].charm.endpoints.items()
            if role != 'peers' and self._interface(self.apps[app].charm, e) in wanted
        ]
        if len(candidates) != 1:
            raise ModelError(f'cannot tell which endpoint of {app} to use: {candidates}')
        return app, candidates[0]

    def remove_relation(self, relation_id: int) -> None:
        """Remove a relation: each unit runs departed per remote unit, then broken."""
        relation = self._relation(relation_id)
        relation.removed = True
        self._log(f'remove-relation {relation_id}')

    def _relation(self, relation_id: int) -> Relation:
        relation = self.relations.get(relation_id)
        if relation is None:
            raise ModelError(f'no relation {relation_id}')
        return relation

    def config(self, app: str, **values: Any) -> None:
        """``juju config APP key=value ...``; a value of None resets the key."""
        application = self._app(app)
        problems = application.charm.settings_problems(values)
        if problems:
            raise ModelError(f'cannot configure {app}: ' + '; '.join(problems))
        new = dict(application.config)
        for key, value in values.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        if new != application.config:
            application.config = new
            application.config_version += 1
        self._log(f'config {app} {values}')

    def trust(self, app: str, trusted: bool = True) -> None:
        """``juju trust APP --scope=cluster`` (or ``--remove``).

        Juju re-ensures the StatefulSet on a trust change (worker/
        caasapplicationprovisioner/ops.go): see :meth:`juju_rewrite_statefulset`.
        """
        application = self._app(app)
        application.trusted = trusted
        self._policies[app].trusted = trusted
        self._log(f'trust {app} {trusted}')
        self.juju_rewrite_statefulset(app)

    def run_action(self, unit: str, action: str, **params: Any) -> None:
        """Queue an action on a unit; its outcome lands in :attr:`actions` once it ran."""
        target = self._unit(unit)
        target.actions.append(HookSpec(kind='action', action=action, params=params))
        self._log(f'run {unit} {action} {params}')

    def remove_application(self, app: str, *, max_steps: int = 100_000) -> None:
        """``juju remove-application``: relations go first, then the app's Kubernetes objects.

        Its units run departed and broken for each relation; Juju then deletes the
        StatefulSet and Service, and Kubernetes' garbage collector deletes what they own
        (https://kubernetes.io/docs/concepts/architecture/garbage-collection/).
        """
        application = self._app(app)
        for relation in list(self.relations.values()):
            if app in relation.endpoints and relation.other_app(app) != app:
                relation.removed = True
        self._log(f'remove-application {app}')
        self.settle(max_steps=max_steps)
        for unit in application.units.values():
            self._kill(unit)
        self.kube.delete('StatefulSet', self.name, app, caller=JUJU)
        self.kube.delete('Service', self.name, app, caller=JUJU)
        self._process_pod_events()
        del self.apps[app]
        for relation_id, relation in list(self.relations.items()):
            if app in relation.endpoints:
                del self.relations[relation_id]
        self.settle(max_steps=max_steps)

    def leftover_configmaps(self, app: str) -> list[str]:
        """ConfigMaps that name ``app`` (a label ledger, the upstream library's record)."""
        return sorted(
            str(cm['metadata']['name'])
            for cm in self.kube.objects('ConfigMap', self.name)
            if app in str(cm['metadata']['name'])
        )

    def _app(self, app: str) -> Application:
        application = self.apps.get(app)
        if application is None:
            raise ModelError(f'no application {app!r}')
        return application

    def _unit(self, unit: str) -> Unit:
        target = self._find_unit(unit)
        if target is None:
            raise ModelError(f'no unit {unit!r}')
        return target

    def units(self) -> Iterator[Unit]:
        """Every unit of every application, by name."""
        for app in sorted(self.apps):
            yield from (self.apps[app].units[u] for u in sorted(self.apps[app].units))

    def leader(self, app: str) -> str | None:
        """The unit holding ``app``'s leadership lease now, if any."""
        lease = self._app(app).lease
        return (
            lease.holder if lease.holder and lease.held_by(lease.holder, self.clock.now) else None
        )

    # -- faults --------------------------------------------------------------------------

    def delete_pod(self, unit: str, *, graceful: bool = True) -> None:
        """Delete the unit's pod; the StatefulSet controller recreates it.

        Graceful: the hook in flight may finish and ``stop`` runs, within the grace period
        (RESEARCH.md "Pod restarts"); otherwise the process dies at once (SIGKILL).
        """
        target = self._unit(unit)
        if graceful and target.alive:
            self._terminating[unit] = self.clock.now + GRACE_PERIOD
            self._log(f'delete pod {target.pod} (graceful)')
            return
        self._log(f'delete pod {target.pod} (now)')
        self._remove_pod(target)

    def kill_at_call(self, unit: str, call: int, *, applied: bool) -> None:
        """SIGKILL the unit's process at its ``call``-th API call of its current or next hook.

        With ``applied`` the request reaches the API and its response is lost; without, it
        never reaches it. The pod is deleted with the process, as a crashed charm container
        whose pod is then replaced.
        """
        if call < 1:
            raise ValueError('calls are counted from 1')
        self._kill_plans[unit] = _KillPlan(call=call, applied=applied)

    def kill_pending(self, unit: str) -> bool:
        """Whether a :meth:`kill_at_call` for ``unit`` has not fired yet."""
        return unit in self._kill_plans

    def stall_at_call(self, unit: str, call: int, seconds: float) -> None:
        """Stall the unit's agent for ``seconds`` just before its ``call``-th API call.

        The call waits out the stall unapplied, then goes on as if nothing happened: the
        stale-leader case when the lease ran out meanwhile.
        """
        if call < 1:
            raise ValueError('calls are counted from 1')
        self._stall_plans[unit] = (call, seconds)

    def stall_pending(self, unit: str) -> bool:
        """Whether a :meth:`stall_at_call` for ``unit`` has not fired yet."""
        return unit in self._stall_plans

    def stall(self, unit: str, seconds: float) -> None:
        """Stall the unit's agent: no lease renewal, no request released, no hook started.

        The hook in flight keeps acting as leader when it resumes: the stale-leader case
        (https://juju.is/docs/sdk/leader-elected-event).
        """
        self._stalled_until[unit] = self.clock.now + seconds
        self._log(f'stall {unit} for {seconds:g} s')

    def juju_rewrite_statefulset(self, app: str) -> None:
        """Juju re-ensures the StatefulSet, as on refresh, trust or a controller restart.

        It sends its own pod template labels as a strategic-merge patch: foreign label keys
        survive, Juju's own are reset (caas/kubernetes/provider/resources/statefulset.go).
        """
        selector = {'app.kubernetes.io/name': app}
        self.kube.patch(
            'StatefulSet',
            self.name,
            app,
            {
                'metadata': {'labels': {**selector, 'app.kubernetes.io/managed-by': 'juju'}},
                'spec': {'template': {'metadata': {'labels': selector}}},
            },
            caller=JUJU,
        )
        self._log(f'juju re-ensures StatefulSet {app}')

    def write_labels(
        self,
        kind: str,
        name: str,
        labels: Mapping[str, str | None],
        *,
        caller: str = 'kubectl',
        via_kubectl: bool = False,
    ) -> None:
        """Write labels on an object as someone else; a value of None removes the key.

        ``kind`` is ``Pod``, ``Service`` or ``StatefulSet.template`` (the pod template).
        With ``via_kubectl`` the real ``kubectl`` does it through the served API (``label``
        for Pods and Services, a merge ``patch`` for the template); otherwise the write goes
        in as field manager ``caller``. Either way the model records it as a foreign label
        that R4 protects.
        """
        template = kind == 'StatefulSet.template'
        api_kind = 'StatefulSet' if template else kind
        if template:
            patch: dict[str, Any] = {'spec': {'template': {'metadata': {'labels': dict(labels)}}}}
        else:
            patch = {'metadata': {'labels': dict(labels)}}
        if not via_kubectl:
            self.kube.patch(api_kind, self.name, name, patch, caller=caller)
        else:
            if template:
                args = ['patch', 'statefulset', name, '--type', 'merge', '-p', json.dumps(patch)]
            else:
                changes = [f'{k}-' if v is None else f'{k}={v}' for k, v in labels.items()]
                args = ['label', kind.lower(), name, *changes, '--overwrite']
            result = self.kubectl(*args)
            if result.returncode != 0:
                raise ModelError(f'kubectl {" ".join(args)} failed: {result.stderr.strip()}')
            caller = 'kubectl'
        if template:
            self.foreign_template.setdefault(name, {}).update(labels)
        elif kind == 'Service':
            self.foreign_service.setdefault(name, {}).update(labels)
        elif kind == 'Pod':
            pod = self.kube.get('Pod', self.name, name) or {}
            uid = str(pod.get('metadata', {}).get('uid', ''))
            self.foreign_pods.setdefault(uid, {}).update(labels)
        self._log(f'{caller} labels {kind}/{name} {json.dumps(dict(labels), sort_keys=True)}')

    def inject_api_error(
        self,
        status: int,
        *,
        unit: str | None = None,
        verb: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` matching API requests with ``status``, unapplied."""
        self.kube.faults.fail(
            status, caller=unit, verb=verb, kind=kind, namespace=self.name, name=name, count=count
        )
        self._log(f'inject {count} x {status} for {unit or "anyone"} {verb or ""} {kind or ""}')

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real ``kubectl`` against the served fake API, as a cluster admin.

        kubectl sends a kubeconfig's token only over TLS (client-go ``client_config.go``),
        so it gets a TLS server of its own beside the units' plain-HTTP one.
        """
        if self._kubectl_server is None:
            self.kube.register_caller(_KUBECTL_TOKEN, AdminPolicy(), name='kubectl')
            self._kubectl_server = KubeServer(self._gate.handle, tls=True).start()
            self._kubectl_server.write_kubeconfig(
                self._tmp / 'kubectl.yaml', token=_KUBECTL_TOKEN, namespace=self.name
            )
        binary = shutil.which('kubectl')
        if binary is None:
            raise ModelError('kubectl is not on PATH')
        env = {**os.environ, 'KUBECONFIG': str(self._tmp / 'kubectl.yaml')}
        result = subprocess.run(  # noqa: S603 - kubectl with our own arguments
            [binary, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        self._log(f'kubectl {" ".join(args)} -> {result.returncode}')
        self._process_pod_events()
        return result

    # -- checks ---------------------------------------------------------------------------

    def desired_labels(self, app: str) -> dict[str, str] | None:
        """The labels ``app``'s provider publishes on its service-mesh relation.

        Empty with no relation; None when the databag holds no valid label object (the
        library then keeps what it applied, so there is no single expectation).
        """
        for relation in self.relations.values():
            if relation.removed or relation.interface != MESH_INTERFACE:
                continue
            if app in relation.endpoints and relation.other_app(app) != app:
                return _labels_of(relation.bag(relation.other_app(app)).data)
        return {}

    def expectation(self, app: str) -> LabelExpectation:
        """What R1-R4 require of ``app``'s objects now (see :mod:`jujusim.check`)."""
        desired = self.desired_labels(app)
        if desired is None:
            raise ModelError(f'the provider of {app} publishes no valid labels: no expectation')
        ever = self.ever_desired.setdefault(app, set())
        ever.update(desired)
        return LabelExpectation(
            namespace=self.name,
            app=app,
            desired=desired,
            released=frozenset(ever - desired.keys()),
            template_foreign=dict(self.foreign_template.get(app, {})),
            service_foreign=dict(self.foreign_service.get(app, {})),
            pod_foreign={uid: dict(v) for uid, v in self.foreign_pods.items()},
        )

    def check(self, app: str) -> list[str]:
        """Every broken invariant of ``app`` at quiescence, as readable lines; empty if none.

        R1-R4 are read through lightkube (the checker also runs on a real cluster); units
        in error, an unfinished rollout and a livelock are failures too.
        """
        problems: list[str] = []
        for unit in self._app(app).units.values():
            if unit.failure is not None:
                problems.append(
                    f'{unit.name} is in error: {unit.failure.message.splitlines()[-1:]}'
                )
        client = self.admin_client()
        pending = rollout_pending(client, self.name, app)
        if pending is not None:
            problems.append(f'StatefulSet {app}: {pending}')
        problems.extend(str(v) for v in check_app(client, self.expectation(app)))
        return problems

    def admin_client(self) -> lightkube.Client:
        """A lightkube client with admin rights over the in-process transport."""
        if self._admin_client is None:
            self.kube.register_caller(_ADMIN_TOKEN, AdminPolicy(), name='checker')
            self._admin_client = lightkube_client(
                self.kube, token=_ADMIN_TOKEN, namespace=self.name
            )
        return self._admin_client

    # -- the clock -----------------------------------------------------------------------

    def advance(self, seconds: float, *, max_steps: int = 100_000) -> None:
        """Let ``seconds`` of virtual time pass, running everything due on the way."""
        until = self.clock.now + seconds
        self.settle(max_steps=max_steps)
        while True:
            due = self._next_timer(include_periodic=True)
            if due is None or due > until:
                break
            self.clock.advance_to(due)
            self._fire_timers()
            self.settle(max_steps=max_steps)
        self.clock.advance_to(until)
        self._fire_timers()
        self.settle(max_steps=max_steps)

    # -- the scheduler -------------------------------------------------------------------

    def settle(self, *, max_steps: int = 100_000) -> int:
        """Run until quiescent: nothing running, held, startable or due; return the steps.

        Virtual time moves on only to what must happen for the model to settle: hook
        retries, lease expiry of a dead leader, the end of a stall; not to update-status.

        Raises:
            LivelockError: still busy after ``max_steps`` decisions.
        """
        for taken in range(max_steps):
            if self.step():
                continue
            due = self._next_timer(include_periodic=False)
            if due is None:
                return taken
            self.clock.advance_to(due)
            self._fire_timers()
        tail = '\n'.join(self.trace[-30:])
        raise LivelockError(f'not quiescent after {max_steps} steps; last trace lines:\n{tail}')

    def step(self) -> bool:
        """Make one scheduling decision; False when there is nothing to decide."""
        self._wait_until_blocked()
        self._process_pod_events()
        choices = self._choices()
        if not choices:
            return False
        kind, target = self.rng.choice(choices)
        if kind == 'release':
            self._release(self._held.pop(target))
        elif kind == 'hook':
            self._start_hook(self._unit(target))
        elif kind == 'stop':
            self._start_stop(self._unit(target))
        else:
            before = self.kube.resource_version
            pods_before = self._pods_created
            if not self.kube.step():
                self._controller_idle_at = before
            else:
                self._controller_idle_at = None
            self._process_pod_events()
            if self._pods_created != pods_before:
                self._controller_ready_at = self.clock.now + POD_STARTUP
        return True

    def _choices(self) -> list[tuple[str, str]]:
        now = self.clock.now
        choices = [('release', unit) for unit in sorted(self._held) if not self._stalled(unit)]
        for unit in self.units():
            if not unit.alive or unit.name in self._running or unit.name in self._held:
                continue
            if self._stalled(unit.name):
                continue
            if unit.name in self._terminating:
                choices.append(('stop', unit.name))
                continue
            if self._next_hook(unit) is not None:
                choices.append(('hook', unit.name))
        if (
            self._controller_idle_at != self.kube.resource_version
            and self._controller_ready_at <= now
        ):
            choices.append(('controller', ''))
        return choices

    def _next_hook(self, unit: Unit) -> HookSpec | None:
        app = self.apps[unit.app]
        relations = [r for _, r in sorted(self.relations.items()) if unit.app in r.endpoints]
        remote = {r.id: self._remote_units(r, unit.app) for r in relations}
        return next_hook(unit, app, relations, remote, self.clock.now)

    def _remote_units(self, relation: Relation, app: str) -> list[str]:
        other = self.apps[relation.other_app(app)]
        # A remote unit is in scope once its agent has started (it joins the relation).
        return sorted(u.name for u in other.units.values() if u.installed)

    # -- running hooks ---------------------------------------------------------------------

    def _juju_state(self, unit: Unit, spec: HookSpec) -> tuple[ops.testing.State, dict[str, int]]:
        """The Juju-side state a hook starts from, and the databag versions it sees."""
        app = self.apps[unit.app]
        seen: dict[str, int] = {}
        relations: list[ops.testing.RelationBase] = []
        for relation in (r for _, r in sorted(self.relations.items()) if unit.app in r.endpoints):
            view = unit.relations.setdefault(relation.id, UnitRelation())
            if relation.removed and (view.broken or not view.created):
                continue
            if view.broken:
                continue
            endpoint = relation.endpoints[unit.app]
            other = relation.other_app(unit.app)
            remote = [n for n in self._remote_units(relation, unit.app) if n in view.joined]
            if other == unit.app:
                relations.append(
                    ops.testing.PeerRelation(
                        endpoint=endpoint,
                        interface=relation.interface,
                        id=relation.id,
                        local_app_data=dict(relation.bag(app.name).data),
                        local_unit_data=dict(relation.bag(unit.name).data),
                        peers_data={
                            int(n.rsplit('/', 1)[1]): dict(relation.bag(n).data)
                            for n in remote
                            if n != unit.name
                        },
                    )
                )
            else:
                relations.append(
                    ops.testing.Relation(
                        endpoint=endpoint,
                        interface=relation.interface,
                        id=relation.id,
                        remote_app_name=other,
                        local_app_data=dict(relation.bag(app.name).data),
                        local_unit_data=dict(relation.bag(unit.name).data),
                        remote_app_data=dict(relation.bag(other).data),
                        remote_units_data={
                            int(n.rsplit('/', 1)[1]): dict(relation.bag(n).data) for n in remote
                        },
                    )
                )
            seen.update(relation.versions([other, *remote]))
        containers = unit.containers or [
            ops.testing.Container(name=c, can_connect=True) for c in app.charm.containers
        ]
        state = ops.testing.State(
            leader=app.lease.held_by(unit.name, self.clock.now),
            config=dict(app.config),
            relations=relations,
            containers=containers,
            model=ops.testing.Model(name=self.name),
            unit_status=unit.unit_status,
            app_status=app.app_status,
        )
        return state, seen

    def _start_hook(self, unit: Unit) -> None:
        spec = self._next_hook(unit)
        if spec is None:  # pragma: no cover - _choices checked it
            return
        state, seen = self._juju_state(unit, spec)
        app = self.apps[unit.app]
        running = _Running(
            spec=spec,
            hook_id=-1,
            seen=seen,
            config_version=app.config_version,
            started_at=self.clock.now,
            leader=state.leader,
            leader_checked_at=self.clock.now,
        )
        self._send_hook(unit, running, state, trusted=app.trusted)
        self._log(f'{unit.name} runs {spec.describe()}' + (' (leader)' if state.leader else ''))

    def _start_stop(self, unit: Unit) -> None:
        # The stop hook of a pod being deleted; its outcome does not matter: the pod goes.
        self._terminating.pop(unit.name, None)
        state, seen = self._juju_state(unit, HookSpec(kind='stop'))
        running = _Running(
            spec=HookSpec(kind='stop'),
            hook_id=-1,
            seen=seen,
            started_at=self.clock.now,
            leader=state.leader,
            leader_checked_at=self.clock.now,
        )
        # Trust is the application's, for every hook it runs (`juju trust`).
        self._send_hook(unit, running, state, trusted=self.apps[unit.app].trusted)
        self._log(f'{unit.name} runs stop (pod {unit.pod} terminating)')

    def _send_hook(
        self, unit: Unit, running: _Running, state: ops.testing.State, *, trusted: bool
    ) -> None:
        # Registered before the worker hears of the hook: its is-leader questions are
        # answered from this record (_is_leader_now) whenever the pool next reads.
        self._running[unit.name] = running
        try:
            running.hook_id = self.pool.start_hook(unit.name, running.spec, state, trusted=trusted)
        except BaseException:
            del self._running[unit.name]
            raise

    def _release(self, held: HeldRequest) -> None:
        unit = self._unit(held.unit)
        running = self._running.get(unit.name)
        stall = self._stall_plans.get(unit.name)
        if running is not None and stall is not None and stall[0] == running.calls:
            del self._stall_plans[unit.name]
            self._stalled_until[unit.name] = self.clock.now + stall[1]
            self._held[unit.name] = held  # it waits out the stall, unapplied
            self._log(f'{unit.name} stalls {stall[1]:g} s before {held.describe()}')
            return
        plan = self._kill_plans.get(unit.name)
        if running is not None and plan is not None and plan.call == running.calls:
            del self._kill_plans[unit.name]
            if plan.applied:
                held.release('apply-lose')
                held.applied.wait()
                status = held.response.status if held.response else 'lost'
                self._log(f'{unit.name} {held.describe()} -> {status}, then SIGKILL')
                self._kill(unit)
                held.delivered.set()
            else:
                self._log(f'{unit.name} SIGKILL before {held.describe()}')
                self._kill(unit)
                held.release('drop')
            self._remove_pod(unit)
            return
        held.release('apply')
        held.applied.wait()
        status = held.response.status if held.response else 'lost'
        self._log(f'{unit.name} {held.describe()} -> {status}')
        self._await(unit.name)

    def _is_leader_now(self, unit: str) -> bool:
        """What ``is-leader`` answers ``unit``'s running hook now, with ops' 30 s cache.

        The pool calls it on this thread, while the scheduler waits for events and this
        unit's hook runs. The hook's record is in ``_running`` before the worker hears of
        the hook (``_send_hook``), and the scheduler changes no lease and moves no clock
        until every running unit waits at the API or has finished, so the answer cannot
        depend on when the question arrives.
        """
        running = self._running.get(unit)
        app = self.apps.get(unit.partition('/')[0])
        if running is None or app is None:
            return False
        now = self.clock.now
        if now - running.leader_checked_at > OPS_LEADER_CACHE:
            running.leader = app.lease.held_by(unit, now)
            running.leader_checked_at = now
            self._log(f'{unit} is-leader asks Juju again -> {running.leader}')
        return running.leader

    def _kill(self, unit: Unit) -> None:
        if unit.alive:
            process = self.pool.process(unit.name)
            if process is not None:
                # Its WorkerGone comes later and is ignored (_on_agent_event). The pool
                # reports nothing else of it, and holds the unit's next worker's events
                # until it has gone, so nothing waits here for the process to be reaped.
                self._killed.add((unit.name, process.pid))
            self.pool.kill(unit.name)
            unit.alive = False
            self._running.pop(unit.name, None)
            held = self._held.pop(unit.name, None)
            if held is not None:
                held.release('drop')

    def _remove_pod(self, unit: Unit) -> None:
        self._terminating.pop(unit.name, None)
        self.kube.delete('Pod', self.name, unit.pod, caller='kubelet')
        self._process_pod_events()

    # -- events from the workers and the API ------------------------------------------------

    def _wait_until_blocked(self) -> None:
        """Wait until every running hook is held at the gate or finished."""
        for unit in sorted(self._running):
            if unit not in self._held:
                self._await(unit)

    def _await(self, unit: str) -> None:
        """Wait for ``unit``'s next event: a held request, its hook's end or its death."""
        while unit in self._running and unit not in self._held:
            self._pump()

    def _pump(self) -> None:
        if self._collect_arrivals():
            return
        event = self.pool.next_event(timeout=30.0)
        if event is not None:
            self._on_agent_event(event)
        self._collect_arrivals()

    def _collect_arrivals(self) -> bool:
        arrived = self._gate.arrived()
        for held in arrived:
            unit = self._find_unit(held.unit)
            if unit is None or not unit.alive or held.unit not in self._running:
                held.release('drop')  # a request of a process already killed
                continue
            self._running[held.unit].calls += 1
            self._held[held.unit] = held
        return bool(arrived)

    def _find_unit(self, name: str) -> Unit | None:
        app = self.apps.get(name.partition('/')[0])
        return None if app is None else app.units.get(name)

    def _on_agent_event(self, event: HookDone | WorkerGone) -> None:
        if isinstance(event, WorkerGone) and (event.unit, event.pid) in self._killed:
            self._killed.discard((event.unit, event.pid))
            return  # the model killed it and has dealt with it (_kill)
        unit = self._find_unit(event.unit)
        if unit is None:
            return
        if isinstance(event, WorkerGone):
            # The worker died without us killing it (its zygote died, or a hook timed out).
            self._running.pop(unit.name, None)
            unit.alive = False
            self._log(f'{unit.name} worker gone ({event.signal or event.exit_code})')
            self._remove_pod(unit)
            return
        running = self._running.pop(unit.name, None)
        if running is None:
            return
        self._finish_hook(unit, running, event.result)

    def _finish_hook(self, unit: Unit, running: _Running, result: HookResult) -> None:
        app = self.apps[unit.app]
        spec = running.spec
        unit.unit_status = result.unit_status  # status-set is not rolled back
        if app.lease.held_by(unit.name, self.clock.now):
            app.app_status = result.app_status
        if spec.kind == 'stop':
            self._log(f'{unit.name} stop done; pod {unit.pod} goes')
            self._kill(unit)
            self._remove_pod(unit)
            return
        if spec.kind == 'action':
            unit.actions.pop(0)
            self.actions.append(
                ActionOutcome(
                    unit=unit.name,
                    action=spec.action or '',
                    params=dict(spec.params),
                    results=result.action_results,
                    failure=result.action_failure,
                    error=None if result.error is None else result.error.message,
                )
            )
        if result.error is not None or result.state is None:
            attempts = unit.failure.attempts + 1 if unit.failure else 1
            message = result.error.message if result.error else 'no state'
            if spec.kind != 'action':
                delay = min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_MAX)
                unit.failure = Failure(
                    spec=spec, attempts=attempts, retry_at=self.clock.now + delay, message=message
                )
            self._log(f'{unit.name} {spec.describe()} FAILED: {message.splitlines()[-1:]}')
            return
        unit.failure = None
        unit.hooks_run += 1
        self._commit(unit, running, result.state)
        # No wall-clock figures in the trace: a seed must replay it byte for byte.
        self._log(f'{unit.name} {spec.describe()} done')

    def _commit(self, unit: Unit, running: _Running, state: ops.testing.State) -> None:
        """A successful hook's writes land, all at once (RESEARCH.md "Relation data")."""
        app = self.apps[unit.app]
        spec = running.spec
        leader = app.lease.held_by(unit.name, running.started_at)
        for rel_state in state.relations:
            relation = self.relations.get(rel_state.id)
            if relation is None:
                continue
            if leader and relation.bag(app.name).commit(rel_state.local_app_data):
                view = unit.relations.setdefault(relation.id, UnitRelation())
                view.seen[app.name] = relation.bag(app.name).version  # not our own change
                if relation.interface == MESH_INTERFACE:
                    labels = _labels_of(relation.bag(app.name).data) or {}
                    self.ever_desired.setdefault(relation.other_app(app.name), set()).update(
                        labels
                    )
            relation.bag(unit.name).commit(rel_state.local_unit_data)
        unit.containers = list(state.containers)
        view = unit.relations.get(spec.relation_id) if spec.relation_id is not None else None
        kind = spec.kind
        if kind == 'install':
            unit.installed = True
        elif kind == 'upgrade_charm':
            unit.upgrade_pending = False
        elif kind == 'start':
            unit.started = True
            # The update-status timer runs from the agent's start (uniter's update-status
            # timer; update-status-hook-interval, 5m by default).
            unit.next_update_status = self.clock.now + UPDATE_STATUS_INTERVAL
        elif kind == 'pebble_ready' and spec.container in unit.pebble_pending:
            unit.pebble_pending.remove(spec.container)
        elif kind == 'leader_elected':
            unit.leader_notified = True
        elif kind == 'leader_settings_changed':
            unit.settings_pending = False
        elif kind == 'config_changed':
            unit.seen_config = running.config_version
        elif kind == 'update_status':
            unit.next_update_status = self.clock.now + UPDATE_STATUS_INTERVAL
        elif view is not None and spec.relation_id is not None:
            relation = self.relations[spec.relation_id]
            other = relation.other_app(unit.app)
            if kind == 'relation_created':
                view.created = True
            elif kind == 'relation_joined' and spec.remote_unit is not None:
                view.joined.add(f'{other}/{spec.remote_unit}')
            elif kind == 'relation_changed':
                owners = [other if spec.remote_unit is None else f'{other}/{spec.remote_unit}']
                if other == unit.app:
                    owners.append(other)  # a peer's changed also covers the app databag
                for owner in owners:
                    view.seen[owner] = running.seen.get(owner, relation.bag(owner).version)
            elif kind == 'relation_departed' and spec.remote_unit is not None:
                view.departed.add(f'{other}/{spec.remote_unit}')
            elif kind == 'relation_broken':
                view.broken = True
                self._forget_relation(relation)

    def _forget_relation(self, relation: Relation) -> None:
        # A removed relation is gone once every unit at both ends has run broken.
        for app in relation.endpoints:
            for unit in self.apps[app].units.values():
                view = unit.relations.get(relation.id)
                if view is not None and view.created and not view.broken:
                    return
        del self.relations[relation.id]

    def _on_kube_event(self, event: Any) -> None:
        # Runs under the fake API's lock, possibly on a server thread: only record.
        if event.kind == 'Pod':
            uid = str(event.object.get('metadata', {}).get('uid', ''))
            self._pod_events.append((event.type, event.name, uid))

    def _process_pod_events(self) -> None:
        while self._pod_events:
            kind, pod, uid = self._pod_events.pop(0)
            app_name, _, ordinal = pod.rpartition('-')
            app = self.apps.get(app_name)
            if app is None or not ordinal.isdigit():
                continue
            unit = app.units.get(f'{app_name}/{ordinal}')
            if unit is None:
                continue
            if kind == 'DELETED' and unit.pod_uid == uid:
                if unit.alive:
                    self._log(f'pod {pod} deleted: SIGKILL {unit.name}')
                    self._kill(unit)
                unit.pod_uid = None
            elif kind == 'ADDED' and unit.pod_uid != uid:
                self._pod_started(app, unit, uid)

    def _pod_started(self, app: Application, unit: Unit, uid: str) -> None:
        self._pods_created += 1
        self._stalled_until.pop(unit.name, None)  # a new pod runs a new agent
        unit.pod_uid = uid
        unit.incarnation += 1
        env = {
            'KUBECONFIG': str(pathlib.Path(app.kubeconfig_dir) / f'unit-{unit.ordinal}.yaml'),
            ASK_LEADER_ENV: '1',
        }
        if unit.incarnation == 1:
            self.pool.spawn(unit.name, env=env)
        else:
            self.pool.restart(unit.name, env=env)
            # A recreated pod: upgrade-charm, config-changed, leader-settings-changed on a
            # non-leader, start, pebble-ready; install is not re-run (RESEARCH.md "Pod
            # restarts").
            unit.upgrade_pending = unit.installed
            unit.seen_config = -1
            unit.settings_pending = True
            unit.started = False
            unit.containers = []
        unit.pebble_pending = list(app.charm.containers)
        unit.alive = True
        self._log(f'pod {unit.pod} started ({unit.name}, incarnation {unit.incarnation})')
        if app.lease.free(self.clock.now):
            self._claim(app, unit)

    def _claim(self, app: Application, unit: Unit) -> None:
        previous = app.lease.holder
        if app.lease.claim(unit.name, self.clock.now) and previous != unit.name:
            unit.leader_notified = False
            if previous is not None and previous in app.units:
                app.units[previous].leader_notified = False
                app.units[previous].settings_pending = True
            self._log(f'{unit.name} is leader of {app.name}')

    # -- timers -----------------------------------------------------------------------------

    def _next_timer(self, *, include_periodic: bool) -> float | None:
        now = self.clock.now
        times: list[float] = []
        for app in self.apps.values():
            holder = app.units.get(app.lease.holder or '')
            renewing = holder is not None and holder.alive and not self._stalled(holder.name)
            if app.lease.holder is not None and not renewing:
                times.append(app.lease.expiry)  # a dead or stalled leader's lease runs out
            elif include_periodic and renewing:
                times.append(app.lease.next_renewal())
            for unit in app.units.values():
                # settle() waits for a few retries only: a unit still failing after them
                # is stuck in error, which the checks report.
                failure = unit.failure
                if (
                    failure is not None
                    and unit.alive
                    and (include_periodic or failure.attempts < SETTLE_RETRIES)
                ):
                    times.append(failure.retry_at)
                if include_periodic and unit.alive and unit.started:
                    times.append(unit.next_update_status)
        times.extend(t for t in self._stalled_until.values() if t > now)
        if self._controller_idle_at != self.kube.resource_version:
            times.append(self._controller_ready_at)
        times.extend(self._terminating.values())
        future = [t for t in times if t > now]
        return min(future) if future else None

    def _stalled(self, unit: str) -> bool:
        return self._stalled_until.get(unit, 0.0) > self.clock.now

    def _fire_timers(self) -> None:
        now = self.clock.now
        for name, deadline in sorted(self._terminating.items()):
            if deadline <= now:
                # The grace period is over: the kubelet kills what is left of the pod.
                self._log(f'grace period over for {name}: SIGKILL')
                unit = self._unit(name)
                self._kill(unit)
                self._remove_pod(unit)
        for unit, until in list(self._stalled_until.items()):
            if until <= now:
                del self._stalled_until[unit]
        for app in self.apps.values():
            holder = app.units.get(app.lease.holder or '')
            if holder is not None and holder.alive and not self._stalled(holder.name):
                app.lease.kept_by(holder.name, now)
            if app.lease.free(now):
                # Every live agent tries to claim; which claim lands first is a race
                # (worker/leadership/tracker.go): the seeded choice decides.
                candidates = [
                    u
                    for _, u in sorted(app.units.items())
                    if u.alive and not self._stalled(u.name)
                ]
                if candidates:
                    self._claim(app, self.rng.choice(candidates))
