"""The Juju backend: scenario steps on a real controller, one fresh model per scenario.

Juju is driven through pytest-operator's ``ops_test`` (models, the ``juju`` CLI for
trust, refresh, remove-relation and remove-unit) and python-libjuju (deploy, integrate,
config, actions, scale, status); Kubernetes through lightkube in the model's namespace
(pod deletion, foreign labels, the R1-R4 check, which is ``jujusim.check`` as on jujusim).
Steps inside ``concurrently`` run as concurrent asyncio tasks.

It must not return early or hang; each wait says below how it ensures that:

- the leader is read from ``juju status`` (``_leader``), never guessed from an ordinal;
- a deleted pod is waited for until it is gone and a pod of that name with a new uid is
  Ready (``_await_replaced``);
- ``settle`` waits for every unit idle for ``IDLE_PERIOD`` *and* every StatefulSet rollout
  finished (updated, ready and current replicas equal to the spec, current revision equal to
  the update revision), for the unit count each application was scaled to (so a scale-down
  in progress is not idle), and for the relations the steps made, then checks all of it
  again in one pass: only a pass in which nothing was pending ends the wait;
- a unit in error does not end a wait (Juju retries the hook: the model is created with
  ``automatically-retry-hooks`` on); an error still there at a check is reported by it;
- every wait has a deadline and fails with what was still pending, never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import zipfile
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, cast

import lightkube
import yaml
from expected_labels import ExpectedLabels
from juju.model import Model as JujuModel
from lightkube.core.exceptions import ApiError as KubeApiError
from lightkube.models import meta_v1
from lightkube.resources import apps_v1, core_v1
from lightkube.types import PatchType
from pytest_operator.plugin import OpsTest
from scenario_backend import charm_paths, leaves

from jujusim.check import check_app, rollout_pending, untrusted_leader_problem
from jujusim.scenarios import (
    UPSTREAM_CONFIGMAP,
    ApiError,
    ApiOutage,
    Check,
    CheckFailedError,
    Concurrently,
    DeletePod,
    Deploy,
    ExpectNoConfigMap,
    ExpectStatus,
    ForeignLabels,
    Integrate,
    JujuRewrite,
    Kill,
    LeaderChange,
    PublishRaw,
    Refresh,
    RemoveRelation,
    RemoveUnit,
    Scale,
    Scenario,
    ScenarioError,
    SetLabels,
    Settle,
    Stall,
    Step,
    Trust,
    UpstreamLeftovers,
    WaitFaults,
    parse_unit_ref,
    step_name,
)

IDLE_PERIOD = 15.0  # seconds every unit must stay idle (python-libjuju's default)
SETTLE_TIMEOUT = 20 * 60.0
POD_TIMEOUT = 10 * 60.0
POLL = 2.0
LEADER_CHANGE_ATTEMPTS = 5
# Kill, stall, API errors and Juju's rewrite at a chosen moment need the simulated model:
# a real controller offers no hook into a unit's nth request (and no forced leader change
# either: pytest-operator#42, so leader-change deletes the leader's pod until it moves).
JUJUSIM_ONLY = (Kill, Stall, WaitFaults, ApiError, ApiOutage, JujuRewrite)


class JujuBackend:
    """Carries out steps on one Juju model (see the module docstring for its waits).

    Args:
        ops_test: pytest-operator's fixture, switched to this scenario's model.
        model: that model.
        charms: the packed ``.charm`` of each role.
        kube: a lightkube client for the model's namespace (by default from the
            kubeconfig, as lightkube finds it).
    """

    name = 'juju'

    def __init__(
        self,
        ops_test: OpsTest,
        model: JujuModel,
        charms: Mapping[str, pathlib.Path],
        *,
        kube: lightkube.Client | None = None,
    ):
        self.ops_test = ops_test
        self.model = model
        self.charms = dict(charms)
        self.namespace = str(model.name)
        self.kube = kube or lightkube.Client(
            namespace=self.namespace, field_manager='integration-tests'
        )
        self.expected = ExpectedLabels(namespace=self.namespace)
        self.scale: dict[str, int] = {}
        self.relations: set[frozenset[str]] = set()
        self.charm_of: dict[str, pathlib.Path] = {}
        self.trusted: dict[str, bool] = {}

    def unsupported(self, scenario: Scenario) -> str | None:
        """The first step with no real-Juju counterpart, if any."""
        for index, step in enumerate(scenario.steps, 1):
            for leaf in leaves(step):
                if isinstance(leaf, JUJUSIM_ONLY):
                    return (
                        f'step {index} ({step_name(leaf)}) needs jujusim: a real controller '
                        'cannot fault a unit at a chosen API request'
                    )
        return None

    def clock(self) -> str:
        """Real time only; the step's duration is printed beside it."""
        return 'real time'

    async def run_step(self, step: Step, where: str) -> None:
        """Carry out one step; steps in ``concurrently`` run as concurrent tasks."""
        if isinstance(step, Concurrently):
            await asyncio.gather(*(self._one(s, f'{where} {step_name(s)}') for s in step.steps))
        else:
            await self._one(step, where)

    async def _one(self, step: Step, where: str) -> None:
        match step:
            case Deploy():
                await self._deploy(step, where)
            case Integrate():
                await self.model.integrate(*step.apps)  # pyright: ignore[reportUnknownMemberType]
                self.relations.add(frozenset(step.apps))
            case RemoveRelation():
                await self._juju(where, 'remove-relation', *step.apps)
                self.relations.discard(frozenset(step.apps))
            case SetLabels(via='config'):
                app = self.model.applications[step.app]
                await app.set_config({'labels': json.dumps(dict(step.labels))})  # pyright: ignore[reportUnknownMemberType]
            case SetLabels():
                await self._action(step.app, 'set-labels', where, labels=json.dumps(step.labels))
            case PublishRaw():
                await self._action(step.app, 'publish-raw', where, data=json.dumps(step.data))
            case DeletePod():
                unit = await self._unit(step.unit, where)
                await self._delete_pod(unit, force=step.force, where=where)
            case LeaderChange():
                await self._leader_change(step, where)
            case Scale():
                await self.model.applications[step.app].scale(scale=step.units)  # pyright: ignore[reportUnknownMemberType]
                self.scale[step.app] = step.units
            case RemoveUnit():
                await self._remove_unit(step, where)
            case Refresh():
                charm = self.charm_of[step.app]
                await self._juju(where, 'refresh', step.app, '--path', str(charm))
            case Trust():
                flags = ['--scope=cluster'] + ([] if step.trusted else ['--remove'])
                await self._juju(where, 'trust', step.app, *flags)
                self.trusted[step.app] = step.trusted
            case ForeignLabels():
                await self._foreign_labels(step, where)
                return  # followed with the pod's uid inside
            case UpstreamLeftovers():
                await self._upstream_leftovers(step, where)
            case Settle():
                await self._settle(where)
            case Check():
                await self._check(step, where)
            case ExpectStatus():
                await self._expect_status(step, where)
            case ExpectNoConfigMap():
                if self._get(core_v1.ConfigMap, step.name) is not None:
                    raise CheckFailedError(where, [f'ConfigMap {step.name} is still there'])
            case _:
                raise ScenarioError(f'{where}: needs jujusim')
        self.expected.follow(step)

    # -- operator commands --------------------------------------------------------------

    async def _juju(self, where: str, *args: str) -> str:
        result: tuple[int | None, str, str] = await self.ops_test.juju(*args)  # pyright: ignore[reportUnknownMemberType]
        code, stdout, stderr = result
        if code != 0:
            raise ScenarioError(f'{where}: juju {" ".join(args)} failed: {stderr.strip()}')
        return stdout

    async def _deploy(self, step: Deploy, where: str) -> None:
        charm = self.charms[step.charm]
        if not charm.is_file() or charm.suffix != '.charm':
            raise ScenarioError(
                f'{where}: on Juju the {step.charm} is a packed .charm; {charm} is not one '
                '(run tox -e pack, or set CONSUMER_CHARM_PATH / PROVIDER_CHARM_PATH)'
            )
        await self.model.deploy(  # pyright: ignore[reportUnknownMemberType]
            str(charm),
            application_name=step.app,
            num_units=step.units,
            resources=oci_resources(charm),
            trust=step.trust,
        )
        self.scale[step.app] = step.units
        self.charm_of[step.app] = charm
        self.trusted[step.app] = step.trust

    async def _action(self, app: str, action: str, where: str, **params: str) -> None:
        unit = self.model.units[await self._leader(app, where)]
        # python-libjuju's Action is untyped: read as Any, its status checked by value.
        started = cast('Any', await unit.run_action(action, **params))  # pyright: ignore[reportUnknownMemberType]
        done = await started.wait()
        if done.status != 'completed':
            raise ScenarioError(f'{where}: {action} on {unit.name} ended {done.status}')

    async def _remove_unit(self, step: RemoveUnit, where: str) -> None:
        # On Kubernetes Juju refuses a named unit and removes the highest ordinal (juju
        # cmd/juju/application/removeunit.go, validateCAASRemoval, removeCaasUnits).
        if self.scale.get(step.app, 0) < 1:
            raise ScenarioError(f'{where}: {step.app} has no unit to remove')
        await self._juju(where, 'remove-unit', step.app, '--num-units', '1')
        self.scale[step.app] -= 1

    # -- Kubernetes ------------------------------------------------------------------------

    async def _merge_patch(self, kind: type[Any], name: str, patch: dict[str, Any]) -> None:
        # A JSON merge patch, as `kubectl label` sends: only the keys given change. Juju
        # creates an application's StatefulSet and Service after `deploy` has returned, so
        # the object is waited for first.
        await _poll(
            lambda: self._get(kind, name) is not None,
            POD_TIMEOUT,
            f'no {kind.__name__} {name} appeared',
        )
        self.kube.patch(  # pyright: ignore[reportUnknownMemberType]
            kind, name, patch, namespace=self.namespace, patch_type=PatchType.MERGE
        )

    def _get(self, kind: type[Any], name: str) -> Any:
        try:
            return self.kube.get(kind, name, namespace=self.namespace)
        except KubeApiError as error:
            if error.status.code == 404:
                return None
            raise

    async def _delete_pod(self, unit: str, *, force: bool, where: str) -> None:
        pod_name = unit.replace('/', '-')
        old = self._get(core_v1.Pod, pod_name)
        if old is None:
            raise ScenarioError(f'{where}: no pod {pod_name}')
        self.kube.delete(
            core_v1.Pod, pod_name, namespace=self.namespace, grace_period=0 if force else None
        )
        await self._await_replaced(pod_name, str(old.metadata.uid), where)

    async def _await_replaced(self, pod_name: str, old_uid: str, where: str) -> None:
        # Gone and replaced: the StatefulSet controller recreates a pod of the same name,
        # so the name alone proves nothing; a new uid that is Ready does.
        def replaced() -> bool:
            pod: core_v1.Pod | None = self._get(core_v1.Pod, pod_name)
            if pod is None or pod.metadata is None or pod.metadata.uid == old_uid:
                return False
            conditions = (pod.status.conditions if pod.status else None) or []
            return any(c.type == 'Ready' and c.status == 'True' for c in conditions)

        await _poll(replaced, POD_TIMEOUT, f'{where}: pod {pod_name} was not replaced')

    async def _foreign_labels(self, step: ForeignLabels, where: str) -> None:
        labels = dict(step.labels)
        if step.kind == 'Pod':
            pod_name = (await self._unit(step.of, where)).replace('/', '-')
            pod = self._get(core_v1.Pod, pod_name)
            if pod is None:
                raise ScenarioError(f'{where}: no pod {pod_name}')
            await self._merge_patch(core_v1.Pod, pod_name, {'metadata': {'labels': labels}})
            self.expected.follow(step, pod_uid=str(pod.metadata.uid))
            return
        if step.kind == 'Service':
            await self._merge_patch(core_v1.Service, step.of, {'metadata': {'labels': labels}})
        else:
            template = {'spec': {'template': {'metadata': {'labels': labels}}}}
            await self._merge_patch(apps_v1.StatefulSet, step.of, template)
        self.expected.follow(step)

    async def _upstream_leftovers(self, step: UpstreamLeftovers, where: str) -> None:
        # As jujusim.scenarios.ModelRunner: what the upstream library's
        # reconcile_charm_labels leaves (canonical-service-mesh 0.3.1).
        labels = dict(step.labels)
        # A switch means the upstream library's records exist before this library first
        # runs. On jujusim no hook runs between deploy and this step; on Juju the units
        # start on their own, so the precondition is checked rather than assumed: the
        # ledger (lib/README.md, `<app>-k8s-labels-service-mesh`) must not exist yet.
        ledger = f'{step.app}-k8s-labels-service-mesh'
        if self._get(core_v1.ConfigMap, ledger) is not None:
            raise ScenarioError(
                f'{where}: {ledger} exists already: the library ran before the upstream '
                'leftovers could be written, so this run cannot show a switch'
            )
        configmap = core_v1.ConfigMap(
            metadata=meta_v1.ObjectMeta(name=UPSTREAM_CONFIGMAP.format(app=step.app)),
            data={'labels': json.dumps(labels)},
        )
        self.kube.create(configmap, namespace=self.namespace)
        template = {'spec': {'template': {'metadata': {'labels': labels}}}}
        await self._merge_patch(apps_v1.StatefulSet, step.app, template)
        await self._merge_patch(core_v1.Service, step.app, {'metadata': {'labels': labels}})

    # -- status ------------------------------------------------------------------------------

    async def _unit_status(self) -> dict[str, dict[str, Any]]:
        """``juju status`` per application: unit name -> its status (leader included)."""
        status: Any = await self.model.get_status()  # pyright: ignore[reportUnknownMemberType]
        return {
            str(app): dict(cast('dict[str, Any]', data.units or {}))
            for app, data in cast('dict[str, Any]', status.applications).items()
        }

    async def _leader(self, app: str, where: str) -> str:
        # From juju status: the unit whose status says leader, waited for (a new leader
        # takes up to a lease's length after the old one died).
        found: list[str] = []

        async def leader_known() -> bool:
            units = (await self._unit_status()).get(app, {})
            found[:] = [name for name, unit in units.items() if unit.leader]
            return len(found) == 1

        await _apoll(leader_known, POD_TIMEOUT, f'{where}: {app} shows no leader')
        return found[0]

    async def _unit(self, ref: str, where: str) -> str:
        app, ordinal = parse_unit_ref(ref)
        return await self._leader(app, where) if ordinal is None else f'{app}/{ordinal}'

    async def _leader_change(self, step: LeaderChange, where: str) -> None:
        # No API forces a leader change (pytest-operator#42): delete the leader's pod
        # gracefully until another unit (or `to`) is leader, as postgresql-k8s's
        # test_reelection does.
        app = step.app
        if self.scale.get(app, 0) < 2:
            raise ScenarioError(f'{where}: {app} has one unit: leadership cannot move')
        old = await self._leader(app, where)
        if step.to is not None and old == step.to:
            return  # the step asks for `to` leading: it does
        for _ in range(LEADER_CHANGE_ATTEMPTS):
            await self._delete_pod(await self._leader(app, where), force=False, where=where)
            new = await self._leader(app, where)
            moved = new == step.to if step.to is not None else new != old
            if moved:
                return
        wanted = step.to or 'another unit'
        raise ScenarioError(
            f'{where}: {wanted} did not become leader through {LEADER_CHANGE_ATTEMPTS} pods'
        )

    async def _settle(self, where: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ScenarioError(f'{where}: not settled after {SETTLE_TIMEOUT:.0f} s')
            # Unit counts and relations first: idle already holds before a scale-down or a
            # relation removal has started (python-libjuju#608).
            await _apoll(self._shaped, remaining, f'{where}: units or relations not as made')
            await self.model.wait_for_idle(
                apps=sorted(self.scale),
                raise_on_error=False,  # Juju retries a failed hook; a check reports it
                # Unit counts are _shaped's: python-libjuju's default waits for at least one
                # unit, which never comes for an application scaled to zero.
                wait_for_at_least_units=0,
                idle_period=IDLE_PERIOD,
                timeout=max(deadline - loop.time(), 1.0),
            )
            pending = [p for p in map(self._rollout_pending, sorted(self.scale)) if p]
            if not pending and await self._shaped():
                return  # idle, rolled out and shaped, all seen after the idle period
            await asyncio.sleep(POLL)

    def _rollout_pending(self, app: str) -> str | None:
        # jujusim.check.rollout_pending: generation observed, currentRevision ==
        # updateRevision, ready and current replicas equal to the spec.
        pending = rollout_pending(self.kube, self.namespace, app)
        return None if pending is None else f'{app}: {pending}'

    async def _shaped(self) -> bool:
        units = await self._unit_status()
        if any(len(units.get(app, {})) != n for app, n in self.scale.items()):
            return False
        related = {
            frozenset(str(a.name) for a in cast('list[Any]', relation.applications))  # pyright: ignore[reportUnknownMemberType]
            for relation in self.model.relations
            if not relation.is_peer
        }
        return related == self.relations

    async def _check(self, step: Check, where: str) -> None:
        expectation = self.expected.expectation(step.app)
        units = (await self._unit_status()).get(step.app, {})
        problems = [
            f'{name} is in error: {unit.workload_status.info}'
            for name, unit in units.items()
            if unit.workload_status.status == 'error'
        ]
        pending = self._rollout_pending(step.app)
        if pending is not None:
            problems.append(f'StatefulSet {pending}')
        if self.trusted.get(step.app, True):
            problems += [str(v) for v in check_app(self.kube, expectation)]
        elif any(step.app in apps for apps in self.relations):
            # As jujusim's check: without trust no labels can follow the data, and they
            # are not judged; the leader must say what to run.
            leader = await self._leader(step.app, where)
            status = (await self._unit_status())[step.app][leader].workload_status
            problem = untrusted_leader_problem(
                step.app,
                (str(status.status), str(status.info or '')),
                refused=expectation.blocked,
                in_error=status.status == 'error',
            )
            if problem is not None:
                problems.append(problem)
        if problems:
            raise CheckFailedError(where, problems)

    async def _expect_status(self, step: ExpectStatus, where: str) -> None:
        leader = await self._leader(step.app, where) if step.leader_only else None
        problems = [
            f'{name} is {unit.workload_status.status}: {unit.workload_status.info!r}, '
            f'expected {step.status} containing {step.message!r}'
            for name, unit in (await self._unit_status()).get(step.app, {}).items()
            if (leader is None or name == leader)
            and (
                unit.workload_status.status != step.status
                or step.message not in (unit.workload_status.info or '')
            )
        ]
        if problems:
            raise CheckFailedError(where, problems)


def oci_resources(charm: pathlib.Path) -> dict[str, str]:
    """Each OCI image resource of a packed charm, from its metadata's upstream-source."""
    with zipfile.ZipFile(charm) as archive:
        meta: Any = yaml.safe_load(archive.read('metadata.yaml'))
    resources = cast('dict[str, dict[str, Any]]', meta.get('resources') or {})
    return {
        name: str(resource['upstream-source'])
        for name, resource in resources.items()
        if resource.get('type') == 'oci-image'
    }


async def _poll(done: Callable[[], bool], timeout: float, message: str) -> None:
    async def adone() -> bool:
        return done()

    await _apoll(adone, timeout, message)


async def _apoll(done: Callable[[], Awaitable[bool]], timeout: float, message: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await done():
        if loop.time() > deadline:
            raise ScenarioError(f'{message} within {timeout:.0f} s')
        await asyncio.sleep(POLL)


@contextlib.asynccontextmanager
async def juju_session(ops_test: OpsTest, scenario: Scenario) -> AsyncGenerator[JujuBackend]:
    """A fresh Juju model for one scenario, destroyed afterwards (kept with --keep-models).

    ``automatically-retry-hooks`` is set explicitly: the library relies on Juju retrying a
    failed hook, and CI presets turn it off.
    """
    alias = f'scenario-{scenario.name}'
    model: JujuModel = await ops_test.track_model(  # pyright: ignore[reportUnknownMemberType]
        alias, config={'automatically-retry-hooks': True}
    )
    try:
        with ops_test.model_context(alias):
            yield JujuBackend(ops_test, model, charm_paths(packed=True))
    finally:
        await ops_test.forget_model(alias, timeout=10 * 60)
