"""Run scenario steps on the simulated model (:class:`jujusim.model.Model`)."""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from ..model import LivelockError, Model, ModelError
from ._format import ScenarioError
from ._steps import (
    HTTP_METHODS,
    ApiError,
    ApiOutage,
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
    RequestMatch,
    Scale,
    Scenario,
    SetLabels,
    Settle,
    Stall,
    Step,
    Trust,
    UpstreamLeftovers,
    WaitFaults,
    WaitRollout,
    parse_unit_ref,
    step_name,
)

# The upstream service_mesh library's ConfigMap (canonical-service-mesh 0.3.1,
# canonical_service_mesh/utils/istio/_labels.py, label_configmap_name_template).
UPSTREAM_CONFIGMAP = 'juju-service-mesh-{app}-labels'
# How an expect-no-configmap step reports the ConfigMap it found (its problem's end).
CONFIGMAP_LEFT = ' is still there'


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
        stale_writes_fail: a check fails on a stale write (:meth:`Model.check`); else
            they are only recorded (:meth:`Model.stale_writes`).
    """

    def __init__(
        self,
        model: Model,
        charms: Mapping[str, pathlib.Path],
        *,
        echo: Callable[[str], None] | None = None,
        stale_writes_fail: bool = True,
    ):
        self.model = model
        self.charms = dict(charms)
        self.echo = echo
        self.stale_writes_fail = stale_writes_fail
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

    def _dispatch(self, step: Step, where: str, *, at_once: bool = False) -> None:
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
                labels = json.dumps(dict(step.labels))
                self._action(step.app, where, 'set-labels', at_once=at_once, labels=labels)
            case PublishRaw():
                data = json.dumps(dict(step.data))
                self._action(step.app, where, 'publish-raw', at_once=at_once, data=data)
            case DeletePod():
                model.delete_pod(self._unit(step.unit, where), graceful=not step.force)
            case Kill(request=RequestMatch() as request):
                model.kill_at_request(
                    self._unit(step.unit, where), applied=step.applied, **_matching(request)
                )
            case Kill(before_hook=str() as hook):
                model.kill_before_hook(self._unit(step.unit, where), hook)
            case Kill():
                assert step.at_call is not None  # noqa: S101 - parse_scenario requires one
                model.kill_at_call(
                    self._unit(step.unit, where), step.at_call, applied=step.applied
                )
            case Stall(request=RequestMatch() as request):
                model.stall_at_request(
                    self._unit(step.unit, where), step.seconds, **_matching(request)
                )
            case Stall(at_call=int() as call):
                model.stall_at_call(self._unit(step.unit, where), call, step.seconds)
            case Stall():
                model.stall(self._unit(step.unit, where), step.seconds)
            case LeaderChange():
                to = None if step.to is None else self._unit(step.to, where)
                if to is None or to != model.leader(step.app):
                    model.force_leader_change(step.app, to=to)
            case Scale():
                model.scale(step.app, step.units)
            case RemoveUnit():
                model.remove_unit(step.app)
            case Refresh():
                model.refresh(step.app)
            case Trust():
                model.trust(step.app, step.trusted)
            case ForeignLabels(kind='Pod'):
                pod = self._unit(step.of, where).replace('/', '-')
                model.write_labels('Pod', pod, step.labels)
            case ForeignLabels():
                model.write_labels(step.kind, step.of, step.labels)
            case UpstreamLeftovers():
                model.leave_upstream_configmap(step.app, step.labels)
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
            case ApiOutage():
                model.api_outage(step.seconds, status=step.status)
            case Concurrently():
                # Most of the model's commands only record what is to happen, which runs at
                # the next settle: issued back to back, they are issued at one moment. A
                # leader-change is the exception: it runs the model until the lease moves
                # (Model.force_leader_change), so the steps after it come after the claim.
                for inner in step.steps:
                    self._dispatch(inner, f'{where} {step_name(inner)}', at_once=True)
            case Settle():
                model.settle()
            case WaitRollout():
                self._wait_rollout(step.app, where)
            case WaitFaults():
                model.run_until_faults_fired(step.app)
            case Check():
                # A kill or stall that never fired means the run did not test what the
                # scenario says it does: as much a failure as a broken requirement.
                problems = [
                    f'{plan.describe()}: never happened'
                    for plan in model.pending_faults()
                    if plan.unit.partition('/')[0] == step.app
                ]
                problems += model.check(step.app, stale_writes=self.stale_writes_fail)
                if problems:
                    raise CheckFailedError(where, problems)
            case ExpectStatus():
                self._expect_status(step, where)
            case ExpectNoConfigMap():
                if model.kube.get('ConfigMap', model.name, step.name) is not None:
                    raise CheckFailedError(where, [f'ConfigMap {step.name}{CONFIGMAP_LEFT}'])

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

    def _action(self, app: str, where: str, action: str, *, at_once: bool, **params: str) -> None:
        # Run on the leader as `juju run` does: to its end, so that later steps meet what it
        # did (the Juju backend waits too); among concurrent steps, only queued.
        leader = self._leader(app, where)
        if at_once:
            self.model.run_action(leader, action, **params)
            return
        outcome = self.model.run_action_to_end(leader, action, params)
        if outcome.failure is not None or outcome.error is not None:
            raise ScenarioError(
                f'{where}: {action} on {leader} failed: {outcome.failure or outcome.error}'
            )

    def _leader(self, app: str, where: str) -> str:
        leader = self.model.leader(app)
        if leader is None:
            raise ScenarioError(f'{where}: {app} has no leader now (settle first)')
        return leader

    def _unit(self, ref: str, where: str) -> str:
        app, ordinal = parse_unit_ref(ref)
        return self._leader(app, where) if ordinal is None else f'{app}/{ordinal}'

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


def _matching(request: RequestMatch) -> dict[str, Any]:
    """The keyword arguments of the model's request faults for ``request``."""
    method = None if request.method is None else HTTP_METHODS[request.method]
    return {'method': method, 'kind': request.kind, 'nth': request.nth}
