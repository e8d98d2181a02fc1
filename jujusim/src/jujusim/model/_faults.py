"""The nemesis: kills and stalls aimed at API requests, foreign label writes, API errors.

A kill or stall is a :class:`FaultPlan` aimed at what it hits (a unit's nth upcoming
request of a method and kind) or at a call count within a hook; a kill may be aimed at the
start of a unit's next hook of a kind instead; the scheduler shows each
held request to the plans before releasing it.

Faults act only as the outside world could: a SIGKILL of a unit's process (its pod then
replaced), an agent that stops making progress (no lease renewal, no request sent), someone
else's write to the cluster, an API server that refuses a request.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..agent import HOOK_KINDS
from ..check import label_refusal
from ..kube import ApiRequest, ApiResponse, StatusError, kind_of_path, resource_for_kind
from ._clock import checked_seconds
from ._errors import ModelError
from ._expectations import Expectations
from ._gate import HeldRequest
from ._hooks import Hooks
from ._pods import Pods
from ._units import Unit
from ._world import World

UPSTREAM_LIBRARY = 'upstream-service-mesh'  # the caller name of the upstream library's writes
_METHODS = frozenset({'GET', 'POST', 'PUT', 'PATCH', 'DELETE'})


class FaultPlan:
    """A kill or a stall aimed at an upcoming API request of one unit.

    A request-aimed plan (``kill_at_request``, ``stall_at_request``) counts the unit's
    requests that match its ``method`` and ``kind`` from the moment it is made, and fires
    at the ``nth``. A call-aimed plan (``kill_at_call``, ``stall_at_call``) fires at the
    first hook's ``call``-th request. A hook-aimed kill (``kill_before_hook``) fires as
    the unit's next hook of its ``hook`` kind is about to start. Read-only for the test
    but :meth:`cancel`.
    """

    def __init__(
        self,
        *,
        unit: str,
        action: Literal['kill', 'stall'],
        method: str | None = None,
        kind: str | None = None,
        nth: int = 1,
        call: int | None = None,
        hook: str | None = None,
        applied: bool = False,
        seconds: float = 0.0,
    ):
        self.unit = unit
        self.action: Literal['kill', 'stall'] = action
        self.method = method
        self.kind = kind
        self.nth = nth
        self.call = call
        self.hook = hook
        self.applied = applied
        self.seconds = seconds
        self._matched = 0
        self._fired = False
        self._cancelled = False

    @property
    def fired(self) -> bool:
        """Whether the kill or stall happened."""
        return self._fired

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` withdrew it (or a kill of the same request made it moot)."""
        return self._cancelled

    @property
    def pending(self) -> bool:
        """Neither fired nor cancelled: it may still fire."""
        return not (self._fired or self._cancelled)

    def cancel(self) -> bool:
        """Withdraw the plan; True if it had not fired (it never will now)."""
        if not self.pending:
            return False
        self._cancelled = True
        return True

    def describe(self) -> str:
        """The plan in words.

        E.g. ``kill app/0 at its request #2 matching PATCH StatefulSet, before it is
        applied``.
        """
        what = f'{self.action} {self.unit}'
        if self.hook is not None:
            return f'{what} before its next {self.hook} hook starts'
        if self.call is not None:
            target = f'at call {self.call} of a hook'
        else:
            aimed = ' '.join(x for x in (self.method, self.kind) if x) or 'request'
            target = f'at its request #{self.nth} matching {aimed}'
        how = (
            f'for {self.seconds:g} s'
            if self.action == 'stall'
            else ('after it is applied' if self.applied else 'before it is applied')
        )
        return f'{what} {target}, {how}'

    def __repr__(self) -> str:
        state = 'fired' if self._fired else 'cancelled' if self._cancelled else 'pending'
        return f'<FaultPlan {self.describe()} ({state})>'

    def mark_fired(self) -> None:
        """The model fired it (not for tests: a plan fires when its request comes)."""
        self._fired = True

    def matches(self, held: HeldRequest, calls: int) -> bool:
        """Whether this plan is due at ``held``, its hook's ``calls``-th request.

        The model asks once per request, as it counts the matching ones.
        """
        if self.hook is not None:
            return False  # aimed at a hook's start, not at a request
        if self.call is not None:
            return calls == self.call
        request = held.request
        if self.method is not None and request.method != self.method:
            return False
        if self.kind is not None and kind_of_path(request.path) != self.kind:
            return False
        self._matched += 1
        return self._matched == self.nth


class Faults:
    """Planned kills and stalls, stalls in progress, foreign writes and API errors.

    Args:
        world: the controller's state.
        hooks: the agents (a planned kill kills one).
        expectations: foreign writes are recorded there for the checker.
        kubectl: runs the real kubectl against the served API.
    """

    def __init__(
        self,
        world: World,
        *,
        hooks: Hooks,
        expectations: Expectations,
        kubectl: Callable[..., subprocess.CompletedProcess[str]],
    ):
        self._world = world
        self._hooks = hooks
        self._expectations = expectations
        self._kubectl = kubectl
        self._pods: Pods | None = None
        self._plans: list[FaultPlan] = []  # oldest first; fired and cancelled ones pruned
        self._due: dict[HeldRequest, list[FaultPlan]] = {}  # plans due at a stalled request
        # Per stalled request, the plans that had counted it when its stall began: one
        # armed since meets it when the stall ends (it is still the unit's next request).
        self._asked: dict[HeldRequest, list[FaultPlan]] = {}
        self._stalled_until: dict[str, float] = {}
        self._outage_until = 0.0
        self._outage_status = 503

    def attach(self, pods: Pods) -> None:
        """The pods a planned kill deletes (built after this component)."""
        self._pods = pods

    # -- kills and stalls -----------------------------------------------------------------

    def plan_at_request(
        self,
        unit: str,
        action: Literal['kill', 'stall'],
        *,
        method: str | None,
        kind: str | None,
        nth: int,
        applied: bool = False,
        seconds: float = 0.0,
    ) -> FaultPlan:
        """Plan a kill or stall at ``unit``'s ``nth`` upcoming request matching both filters."""
        self._world.unit(unit)  # a ModelError for an unknown unit
        if nth < 1:
            raise ValueError(f'nth counts matching requests from 1, not {nth}')
        if method is not None:
            method = method.upper()
            if method not in _METHODS:
                raise ValueError(f'method {method!r} is not one of {", ".join(sorted(_METHODS))}')
        if kind is not None:
            try:
                resource_for_kind(kind)
            except KeyError:
                raise ValueError(f'kind {kind!r} is not a kind the API serves') from None
        if action == 'stall':
            seconds = checked_seconds(f'cannot stall {unit}', seconds)
        plan = FaultPlan(
            unit=unit,
            action=action,
            method=method,
            kind=kind,
            nth=nth,
            applied=applied,
            seconds=seconds,
        )
        self._plans.append(plan)
        return plan

    def plan_at_call(
        self,
        unit: str,
        action: Literal['kill', 'stall'],
        call: int,
        *,
        applied: bool = False,
        seconds: float = 0.0,
    ) -> FaultPlan:
        """Plan a kill or stall at the ``call``-th request of ``unit``'s current or next hook.

        It replaces an unfired call-aimed plan of the same action on the same unit.
        """
        if call < 1:
            raise ValueError('calls are counted from 1')
        if action == 'stall':
            seconds = checked_seconds(f'cannot stall {unit}', seconds)
        for plan in self._plans:
            if plan.unit == unit and plan.action == action and plan.call is not None:
                plan.cancel()
        plan = FaultPlan(unit=unit, action=action, call=call, applied=applied, seconds=seconds)
        self._plans.append(plan)
        return plan

    def plan_before_hook(self, unit: str, hook: str) -> FaultPlan:
        """Plan a SIGKILL of ``unit`` as its next hook of kind ``hook`` is about to start.

        A hook the unit's uniter chooses: the stop that a pod being deleted gracefully runs
        is not one (the pod goes anyway).
        """
        self._world.unit(unit)  # a ModelError for an unknown unit
        if hook not in HOOK_KINDS or hook == 'action':
            kinds = ', '.join(sorted(HOOK_KINDS - {'action'}))
            raise ValueError(f'hook {hook!r} is not a hook kind ({kinds})')
        plan = FaultPlan(unit=unit, action='kill', hook=hook)
        self._plans.append(plan)
        return plan

    def intercept_hook(self, unit: Unit) -> bool:
        """Fire a kill aimed at the hook ``unit`` is about to start; True if one fired.

        The pod is deleted at once between two hooks, as ``kubectl delete pod --force``
        would: the hook never starts, and the new pod's agent chooses again.
        """
        aimed = [
            p for p in self._plans if p.hook is not None and p.unit == unit.name and p.pending
        ]
        if not aimed:
            return False  # the common case: no kill aimed at a hook of this unit
        spec = self._hooks.next_hook(unit)
        due = [p for p in aimed if spec is not None and p.hook == spec.kind]
        if spec is None or not due:
            return False
        for plan in due:
            plan.mark_fired()
        self._world.trace.record(
            'kill',
            f'{unit.name} SIGKILL before its {spec.describe()} starts',
            unit=unit.name,
            hook=spec.describe(),
            applied=False,
        )
        self._hooks.kill(unit)
        assert self._pods is not None  # noqa: S101 - attached when the model is built
        self._pods.remove(unit)
        return True

    def pending(self, unit: str | None = None, action: str | None = None) -> list[FaultPlan]:
        """Plans that may still fire, oldest first, for ``unit`` and ``action`` if given."""
        self._plans = [p for p in self._plans if p.pending]
        return [
            p
            for p in self._plans
            if (unit is None or p.unit == unit) and (action is None or p.action == action)
        ]

    def stall(self, unit: str, seconds: float) -> None:
        """Stall ``unit``'s agent now for ``seconds``."""
        seconds = checked_seconds(f'cannot stall {unit}', seconds)
        world = self._world
        self._stalled_until[unit] = world.clock.now + seconds
        world.trace.record('stall', f'stall {unit} for {seconds:g} s', unit=unit, seconds=seconds)

    def stalled(self, unit: str) -> bool:
        """Whether ``unit``'s agent is stalled now."""
        return self._stalled_until.get(unit, 0.0) > self._world.clock.now

    def new_agent(self, unit: str) -> None:
        """A new pod runs a new agent: a stall of the old one ends with it.

        So does the request it held: the plans that were due at it never fire.
        """
        self._stalled_until.pop(unit, None)
        self._due = {held: due for held, due in self._due.items() if held.unit != unit}
        self._asked = {held: p for held, p in self._asked.items() if held.unit != unit}

    def intercept(self, held: HeldRequest) -> bool:
        """Fire the plans due at ``held``; True if one took the request.

        Each plan counts a request once: a request held by a stall comes back here when
        the stall ends, and then meets the plans that were due at it and have not fired
        yet (a second stall, or a kill), and those armed during the stall that match it.
        """
        if not self._plans and not self._due:
            return False  # the common case: nothing planned
        world = self._world
        unit = world.unit(held.unit)
        running = self._hooks.running.get(unit.name)
        if running is None:
            return False
        due = self._due.pop(held, [])
        asked = self._asked.pop(held, None) if held.counted else []
        if asked is not None:
            due += [
                p
                for p in self.pending(unit.name)
                if p not in asked and p not in due and p.matches(held, running.calls)
            ]
        due = [p for p in due if p.pending]
        if not due:
            return False
        stall = next((p for p in due if p.action == 'stall'), None)
        if stall is not None:
            stall.mark_fired()
            held.counted = True
            rest = [p for p in due if p is not stall]
            if rest:
                self._due[held] = rest
            self._asked[held] = self.pending(unit.name)
            self._stalled_until[unit.name] = world.clock.now + stall.seconds
            self._hooks.held[unit.name] = held  # it waits out the stall, unapplied
            world.trace.record(
                'stall',
                f'{unit.name} stalls {stall.seconds:g} s before {held.describe()}',
                unit=unit.name,
                seconds=stall.seconds,
                request=held.describe(),
                method=held.request.method,
                resource=kind_of_path(held.request.path),
            )
            return True
        kill = due[0]
        kill.mark_fired()
        for other in due[1:]:
            other.cancel()  # aimed at the same request: the unit dies at the first
        if kill.applied:
            held.release('apply-lose')
            held.applied.wait()
            status = held.response.status if held.response else 'lost'
            world.trace.record(
                'kill',
                f'{unit.name} {held.describe()} -> {status}, then SIGKILL',
                unit=unit.name,
                request=held.describe(),
                method=held.request.method,
                resource=kind_of_path(held.request.path),
                status=status,
                applied=True,
            )
            self._hooks.kill(unit)
            held.delivered.set()
        else:
            world.trace.record(
                'kill',
                f'{unit.name} SIGKILL before {held.describe()}',
                unit=unit.name,
                request=held.describe(),
                method=held.request.method,
                resource=kind_of_path(held.request.path),
                applied=False,
            )
            self._hooks.kill(unit)
            held.release('drop')
        assert self._pods is not None  # noqa: S101 - attached when the model is built
        self._pods.remove(unit)
        return True

    def due(self) -> list[float]:
        """When stalls end, and an API outage."""
        now = self._world.clock.now
        ends = [*self._stalled_until.values(), self._outage_until]
        return [t for t in ends if t > now]

    # -- an outage of the API server ------------------------------------------------------

    def outage(self, seconds: float, status: int = 503) -> None:
        """Answer every unit's API request with ``status``, unapplied, for ``seconds``."""
        seconds = checked_seconds('cannot make an outage', seconds)
        if status not in (500, 503):
            raise ValueError(f'an outage answers 500 or 503, not {status}')
        world = self._world
        self._outage_until = max(self._outage_until, world.clock.now + seconds)
        self._outage_status = status
        world.trace.record(
            'api-outage',
            f'the API server answers {status} to every unit for {seconds:g} s',
            status=status,
            seconds=seconds,
        )

    def outage_answer(self) -> Callable[[ApiRequest], ApiResponse] | None:
        """What answers a unit's request now, if the API server is out."""
        if self._outage_until <= self._world.clock.now:
            return None
        status = self._outage_status
        # A Status as kube-apiserver sends it (apimachinery pkg/api/errors:
        # NewServiceUnavailable, reason ServiceUnavailable; NewInternalError, InternalError).
        body: dict[str, Any] = {
            'kind': 'Status',
            'apiVersion': 'v1',
            'metadata': {},
            'status': 'Failure',
            'message': 'the server is currently unable to handle the request (API outage)',
            'reason': 'ServiceUnavailable' if status == 503 else 'InternalError',
            'code': status,
        }
        return lambda _: ApiResponse.json(status, body)

    def fire(self) -> None:
        """Forget stalls that are over."""
        now = self._world.clock.now
        for unit, until in list(self._stalled_until.items()):
            if until <= now:
                del self._stalled_until[unit]

    # -- the cluster's other users --------------------------------------------------------

    def write_labels(
        self,
        kind: str,
        name: str,
        labels: Mapping[str, str | None],
        *,
        caller: str = 'kubectl',
        via_kubectl: bool = False,
    ) -> None:
        """Write labels on an object as someone else, and record them as foreign."""
        world = self._world
        template = kind == 'StatefulSet.template'
        api_kind = 'StatefulSet' if template else kind
        try:
            resource = resource_for_kind(api_kind)
        except KeyError:
            raise ModelError(
                f'cannot write labels on {kind}/{name}: {kind!r} is neither a served kind '
                "nor 'StatefulSet.template'"
            ) from None
        namespace = world.name if resource.namespaced else None
        before = world.kube.get(api_kind, namespace, name)
        if before is None:
            raise ModelError(f'cannot write labels on {kind}/{name}: no such object')
        if template:
            before = before.get('spec', {}).get('template', {})
        current: dict[str, str] = before.get('metadata', {}).get('labels') or {}
        # A key written as it already is leaves no trace in the cluster (etcd3 store.go
        # GuaranteedUpdate skips a write whose bytes are unchanged; an update's
        # managedFields own only the fields it changed), so nobody can tell that write
        # from the owner's value: it claims nothing (lib/README.md, "Limits").
        claimed = {
            key: value
            for key, value in labels.items()
            if (key in current if value is None else current.get(key) != value)
        }
        if template:
            patch: dict[str, Any] = {'spec': {'template': {'metadata': {'labels': dict(labels)}}}}
        else:
            patch = {'metadata': {'labels': dict(labels)}}
        if not via_kubectl:
            try:
                world.kube.patch(api_kind, namespace, name, patch, caller=caller)
            except StatusError as e:
                raise ModelError(f'cannot write labels on {kind}/{name}: {e.message}') from None
        else:
            if template:
                args = ['patch', 'statefulset', name, '--type', 'merge', '-p', json.dumps(patch)]
            else:
                changes = [f'{k}-' if v is None else f'{k}={v}' for k, v in labels.items()]
                args = ['label', resource.plural, name, *changes, '--overwrite']
            result = self._kubectl(*args)
            if result.returncode != 0:
                raise ModelError(f'kubectl {" ".join(args)} failed: {result.stderr.strip()}')
            caller = 'kubectl'
        self._expectations.foreign_write(kind, name, claimed)
        world.trace.record(
            'foreign-write',
            f'{caller} labels {kind}/{name} {json.dumps(dict(labels), sort_keys=True)}',
            caller=caller,
            object=f'{kind}/{name}',
            labels=dict(labels),
        )

    def leave_upstream_configmap(self, app: str, labels: Mapping[str, str]) -> str:
        """Leave what the upstream service-mesh library left: its ConfigMap and labels.

        The upstream library (canonical/service-mesh ``canonical_service_mesh/utils/
        istio/_labels.py``, ``reconcile_charm_labels``) records the keys it applied in
        ConfigMap ``juju-service-mesh-<app>-labels``, ``data.labels`` a JSON object, with
        no ownerReference, and patches them onto the pod template and the Service. The
        labels are the charm's own, not someone else's: a consumer that takes over must
        clean them up. Returns the ConfigMap's name.
        """
        world = self._world
        world.app(app)
        for key, value in labels.items():
            refusal = label_refusal(key, value)
            if refusal is not None:
                raise ModelError(f'the upstream library could not have applied it: {refusal}')
        name = f'juju-service-mesh-{app}-labels'
        if world.kube.get('ConfigMap', world.name, name) is not None:
            raise ModelError(f'ConfigMap {name} already exists')
        world.kube.create(
            {
                'apiVersion': 'v1',
                'kind': 'ConfigMap',
                'metadata': {'name': name, 'namespace': world.name},
                'data': {'labels': json.dumps(dict(labels))},
            },
            caller=UPSTREAM_LIBRARY,
        )
        world.kube.patch(
            'StatefulSet',
            world.name,
            app,
            {'spec': {'template': {'metadata': {'labels': dict(labels)}}}},
            caller=UPSTREAM_LIBRARY,
        )
        world.kube.patch(
            'Service',
            world.name,
            app,
            {'metadata': {'labels': dict(labels)}},
            caller=UPSTREAM_LIBRARY,
        )
        self._expectations.upstream_left[app] = dict(labels)
        world.trace.record(
            'upstream-leftover',
            f'the upstream library left ConfigMap {name} and labels '
            f'{json.dumps(dict(labels), sort_keys=True)} on {app}',
            app=app,
            configmap=name,
            labels=dict(labels),
        )
        return name

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
        world = self._world
        world.kube.faults.fail(
            status, caller=unit, verb=verb, kind=kind, namespace=world.name, name=name, count=count
        )
        world.trace.record(
            'api-error',
            f'inject {count} x {status} for {unit or "anyone"} {verb or ""} {kind or ""}',
            unit=unit,
            status=status,
            count=count,
            verb=verb,
            resource=kind,
            name=name,
        )
