"""The nemesis: kills and stalls aimed at API calls, foreign label writes, API errors.

Faults act only as the outside world could: a SIGKILL of a unit's process (its pod then
replaced), an agent that stops making progress (no lease renewal, no request sent), someone
else's write to the cluster, an API server that refuses a request.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import ModelError
from ._expectations import Expectations
from ._gate import HeldRequest
from ._hooks import Hooks
from ._pods import Pods
from ._world import World


@dataclasses.dataclass(frozen=True, kw_only=True)
class KillPlan:
    """A SIGKILL due at one API call of a unit's current or next hook."""

    call: int  # the Nth API call of the unit's current or next hook (1-based)
    applied: bool  # kill after the request is applied (its response lost), or before


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
        self._kill_plans: dict[str, KillPlan] = {}
        self._stall_plans: dict[str, tuple[int, float]] = {}
        self._stalled_until: dict[str, float] = {}

    def attach(self, pods: Pods) -> None:
        """The pods a planned kill deletes (built after this component)."""
        self._pods = pods

    # -- kills and stalls -----------------------------------------------------------------

    def kill_at_call(self, unit: str, call: int, *, applied: bool) -> None:
        """Plan a SIGKILL at ``unit``'s ``call``-th API call of its current or next hook."""
        if call < 1:
            raise ValueError('calls are counted from 1')
        self._kill_plans[unit] = KillPlan(call=call, applied=applied)

    def kill_pending(self, unit: str) -> bool:
        """Whether a planned kill of ``unit`` has not fired yet."""
        return unit in self._kill_plans

    def stall_at_call(self, unit: str, call: int, seconds: float) -> None:
        """Plan a stall of ``seconds`` just before ``unit``'s ``call``-th API call."""
        if call < 1:
            raise ValueError('calls are counted from 1')
        self._stall_plans[unit] = (call, seconds)

    def stall_pending(self, unit: str) -> bool:
        """Whether a planned stall of ``unit`` has not fired yet."""
        return unit in self._stall_plans

    def stall(self, unit: str, seconds: float) -> None:
        """Stall ``unit``'s agent now for ``seconds``."""
        world = self._world
        self._stalled_until[unit] = world.clock.now + seconds
        world.trace.record('stall', f'stall {unit} for {seconds:g} s', unit=unit, seconds=seconds)

    def stalled(self, unit: str) -> bool:
        """Whether ``unit``'s agent is stalled now."""
        return self._stalled_until.get(unit, 0.0) > self._world.clock.now

    def new_agent(self, unit: str) -> None:
        """A new pod runs a new agent: a stall of the old one ends with it."""
        self._stalled_until.pop(unit, None)

    def intercept(self, held: HeldRequest) -> bool:
        """Apply a planned stall or kill due at ``held``; True if one took the request."""
        world = self._world
        unit = world.unit(held.unit)
        running = self._hooks.running.get(unit.name)
        stall = self._stall_plans.get(unit.name)
        if running is not None and stall is not None and stall[0] == running.calls:
            del self._stall_plans[unit.name]
            self._stalled_until[unit.name] = world.clock.now + stall[1]
            self._hooks.held[unit.name] = held  # it waits out the stall, unapplied
            world.trace.record(
                'stall',
                f'{unit.name} stalls {stall[1]:g} s before {held.describe()}',
                unit=unit.name,
                seconds=stall[1],
                request=held.describe(),
            )
            return True
        plan = self._kill_plans.get(unit.name)
        if running is None or plan is None or plan.call != running.calls:
            return False
        del self._kill_plans[unit.name]
        if plan.applied:
            held.release('apply-lose')
            held.applied.wait()
            status = held.response.status if held.response else 'lost'
            world.trace.record(
                'kill',
                f'{unit.name} {held.describe()} -> {status}, then SIGKILL',
                unit=unit.name,
                request=held.describe(),
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
                applied=False,
            )
            self._hooks.kill(unit)
            held.release('drop')
        assert self._pods is not None  # noqa: S101 - attached when the model is built
        self._pods.remove(unit)
        return True

    def due(self) -> list[float]:
        """When stalls end."""
        now = self._world.clock.now
        return [t for t in self._stalled_until.values() if t > now]

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
        if template:
            patch: dict[str, Any] = {'spec': {'template': {'metadata': {'labels': dict(labels)}}}}
        else:
            patch = {'metadata': {'labels': dict(labels)}}
        if not via_kubectl:
            world.kube.patch(api_kind, world.name, name, patch, caller=caller)
        else:
            if template:
                args = ['patch', 'statefulset', name, '--type', 'merge', '-p', json.dumps(patch)]
            else:
                changes = [f'{k}-' if v is None else f'{k}={v}' for k, v in labels.items()]
                args = ['label', kind.lower(), name, *changes, '--overwrite']
            result = self._kubectl(*args)
            if result.returncode != 0:
                raise ModelError(f'kubectl {" ".join(args)} failed: {result.stderr.strip()}')
            caller = 'kubectl'
        self._expectations.foreign_write(kind, name, labels)
        world.trace.record(
            'foreign-write',
            f'{caller} labels {kind}/{name} {json.dumps(dict(labels), sort_keys=True)}',
            caller=caller,
            object=f'{kind}/{name}',
            labels=dict(labels),
        )

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
        )
