"""Run scenario steps on the simulated model (:class:`jujusim.model.Model`)."""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from ..model import LivelockError, Model, ModelError
from ..model._lease import LEASE_DURATION
from ._format import ScenarioError
from ._steps import (
    ApiError,
    Check,
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
    SetLabels,
    Settle,
    Stall,
    Step,
    Trust,
    UpstreamLeftovers,
    WaitRollout,
    parse_unit_ref,
    step_name,
)

# The upstream service_mesh library's ConfigMap, and the field manager its writes are
# recorded under here (canonical-service-mesh 0.3.1,
# canonical_service_mesh/utils/istio/_labels.py, label_configmap_name_template).
UPSTREAM_CONFIGMAP = 'juju-service-mesh-{app}-labels'
UPSTREAM_WRITER = 'upstream-service-mesh'


class CheckFailedError(AssertionError):
    """A check step found broken requirements; ``problems`` lists them, one per line."""

    def __init__(self, step: str, problems: list[str]):
        self.problems = problems
        super().__init__(f'{step}: ' + '; '.join(problems))


class ModelRunner:
    """Carries out scenario steps on a :class:`Model`.

    Args:
        model: the model, usually fresh.
        charms: the charm folder for each role a deploy step names.
        echo: receives one line per step as it runs.
    """

    def __init__(
        self,
        model: Model,
        charms: Mapping[str, pathlib.Path],
        *,
        echo: Callable[[str], None] | None = None,
    ):
        self.model = model
        self.charms = dict(charms)
        self.echo = echo
        self.relations: dict[frozenset[str], int] = {}

    def run(self, scenario: Scenario) -> None:
        """Run every step in order.

        Raises:
            CheckFailedError: a check step found broken requirements.
            ScenarioError: a step cannot be carried out (the message names it).
        """
        for index, step in enumerate(scenario.steps, 1):
            where = f'step {index} ({step_name(step)})'
            started = time.perf_counter()
            self.run_step(step, where=where)
            if self.echo is not None:
                elapsed = time.perf_counter() - started
                self.echo(
                    f'  {where}: t={self.model.clock.now:.1f} s virtual, {elapsed:.2f} s wall'
                )

    def run_step(self, step: Step, *, where: str = 'step') -> None:
        """Carry out one step.

        Raises:
            CheckFailedError: a check step found broken requirements.
            LivelockError: the model never became quiescent: a failure of the charms, not
                of the scenario.
            ScenarioError: the step cannot be carried out.
        """
        try:
            self._dispatch(step, where)
        except LivelockError:
            raise
        except ModelError as error:
            raise ScenarioError(f'{where}: {error}') from None

    def _dispatch(self, step: Step, where: str) -> None:
        model = self.model
        match step:
            case Deploy():
                model.deploy(
                    self._charm(step.charm, where),
                    app=step.app,
                    units=step.units,
                    trust=step.trust,
                )
            case Integrate():
                self.relations[frozenset(step.apps)] = model.integrate(*step.apps)
            case RemoveRelation():
                relation = self.relations.pop(frozenset(step.apps), None)
                if relation is None:
                    raise ScenarioError(
                        f'{where}: {step.apps[0]} and {step.apps[1]} are not related'
                    )
                model.remove_relation(relation)
            case SetLabels(via='config'):
                model.config(step.app, labels=json.dumps(dict(step.labels)))
            case SetLabels():
                leader = self._leader(step.app, where)
                model.run_action(leader, 'set-labels', labels=json.dumps(dict(step.labels)))
            case PublishRaw():
                leader = self._leader(step.app, where)
                model.run_action(leader, 'publish-raw', data=json.dumps(dict(step.data)))
            case DeletePod():
                model.delete_pod(self._unit(step.unit, where), graceful=not step.force)
            case Kill():
                if step.at_call is None:
                    raise ScenarioError(
                        f'{where}: a kill at a matching request is not in this jujusim yet'
                    )
                model.kill_at_call(
                    self._unit(step.unit, where), step.at_call, applied=step.applied
                )
            case Stall():
                unit = self._unit(step.unit, where)
                if step.request is not None:
                    raise ScenarioError(
                        f'{where}: a stall at a matching request is not in this jujusim yet'
                    )
                if step.at_call is None:
                    model.stall(unit, step.seconds)
                else:
                    model.stall_at_call(unit, step.at_call, step.seconds)
            case LeaderChange():
                self._leader_change(step.app, where)
            case Scale():
                self._model_method('scale', where)(step.app, step.units)
            case RemoveUnit():
                self._model_method('remove_unit', where)(self._unit(step.unit, where))
            case Refresh():
                self._model_method('refresh', where)(step.app)
            case Trust():
                model.trust(step.app, step.trusted)
            case ForeignLabels(kind='Pod'):
                pod = self._unit(step.of, where).replace('/', '-')
                model.write_labels('Pod', pod, step.labels)
            case ForeignLabels():
                model.write_labels(step.kind, step.of, step.labels)
            case UpstreamLeftovers():
                self._upstream_leftovers(step)
            case JujuRewrite():
                model.juju_rewrite_statefulset(step.app)
            case ApiError():
                model.inject_api_error(
                    step.status,
                    unit=None if step.unit is None else self._unit(step.unit, where),
                    verb=step.method,
                    kind=step.kind,
                    count=step.count,
                )
            case Concurrently():
                # The model's commands only record what is to happen; nothing runs until the
                # next settle, so issuing them back to back is issuing them at one moment.
                for inner in step.steps:
                    self._dispatch(inner, f'{where} {step_name(inner)}')
            case Settle():
                model.settle()
            case WaitRollout():
                self._wait_rollout(step.app, where)
            case Check():
                problems = model.check(step.app)
                if problems:
                    raise CheckFailedError(where, problems)
            case ExpectStatus():
                self._expect_status(step, where)
            case ExpectNoConfigMap():
                if model.kube.get('ConfigMap', model.name, step.name) is not None:
                    raise CheckFailedError(where, [f'ConfigMap {step.name} is still there'])

    def _wait_rollout(self, app: str, where: str) -> None:
        # Decision by decision, without moving virtual time on: a rollout begins within a
        # hook (the library patches the template), not on a timer.
        while not self._rolling(app):
            if not self.model.step():
                raise ScenarioError(f'{where}: {app} is quiescent and no rollout began')

    def _rolling(self, app: str) -> bool:
        sts = self.model.kube.get('StatefulSet', self.model.name, app)
        if sts is None:
            raise ScenarioError(f'no StatefulSet {app}')
        status = cast('dict[str, Any]', sts.get('status') or {})
        return status.get('currentRevision') != status.get('updateRevision')

    def _charm(self, role: str, where: str) -> pathlib.Path:
        charm = self.charms.get(role)
        if charm is None:
            raise ScenarioError(f'{where}: no charm given for {role!r}')
        return charm

    def _leader(self, app: str, where: str) -> str:
        leader = self.model.leader(app)
        if leader is None:
            raise ScenarioError(f'{where}: {app} has no leader now (settle first)')
        return leader

    def _unit(self, ref: str, where: str) -> str:
        app, ordinal = parse_unit_ref(ref)
        return self._leader(app, where) if ordinal is None else f'{app}/{ordinal}'

    def _model_method(self, name: str, where: str) -> Callable[..., None]:
        # Model.scale, remove_unit and refresh come with the model's fidelity work; until
        # then a scenario using them is refused by name rather than approximated.
        method = getattr(self.model, name, None)
        if method is None:
            raise ScenarioError(f'{where}: this jujusim has no Model.{name} yet')
        return cast('Callable[..., None]', method)

    def _leader_change(self, app: str, where: str) -> None:
        # The leader's agent stops renewing its lease for longer than the lease lasts, so
        # another unit claims it (the lease model: jujusim/model/_lease.py); the old
        # leader's pod keeps running and resumes as a follower.
        leader = self._leader(app, where)
        if len(self.model.apps[app].units) < 2:
            raise ScenarioError(f'{where}: {app} has one unit: leadership cannot move')
        self.model.stall(leader, LEASE_DURATION + 1.0)

    def _upstream_leftovers(self, step: UpstreamLeftovers) -> None:
        # What reconcile_charm_labels leaves (canonical-service-mesh 0.3.1,
        # canonical_service_mesh/utils/istio/_labels.py): the labels patched onto the
        # StatefulSet pod template and the Service, and recorded in its ConfigMap.
        model, labels = self.model, dict(step.labels)
        model.kube.create(
            {
                'apiVersion': 'v1',
                'kind': 'ConfigMap',
                'metadata': {
                    'name': UPSTREAM_CONFIGMAP.format(app=step.app),
                    'namespace': model.name,
                },
                'data': {'labels': json.dumps(labels)},
            },
            caller=UPSTREAM_WRITER,
        )
        template: dict[str, Any] = {'spec': {'template': {'metadata': {'labels': labels}}}}
        model.kube.patch('StatefulSet', model.name, step.app, template, caller=UPSTREAM_WRITER)
        service: dict[str, Any] = {'metadata': {'labels': labels}}
        model.kube.patch('Service', model.name, step.app, service, caller=UPSTREAM_WRITER)
        # The labels were the charm's own: once adopted, any the provider no longer asks
        # for must go (R1-R3), as keys the library once managed.
        model.ever_desired.setdefault(step.app, set()).update(labels)

    def _expect_status(self, step: ExpectStatus, where: str) -> None:
        application = self.model.apps.get(step.app)
        if application is None:
            raise ScenarioError(f'{where}: no application {step.app!r}')
        leader = self.model.leader(step.app)
        problems = [
            f'{unit.name} is {unit.unit_status.name}: {unit.unit_status.message!r}, '
            f'expected {step.status} containing {step.message!r}'
            for unit in application.units.values()
            if (not step.leader_only or unit.name == leader)
            and (
                unit.unit_status.name != step.status
                or step.message not in unit.unit_status.message
            )
        ]
        if problems:
            raise CheckFailedError(where, problems)
