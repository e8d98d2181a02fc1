"""Pods: the StatefulSet controller's work, pod events, and each unit's agent on its pod.

Kubernetes' StatefulSet controller creates and deletes the pods (the fake API steps it);
each new pod of a unit starts a new agent, and a deleted pod takes its agent with it, at
once or after the grace period (docs/design-notes.md, "Pod restarts").
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

from ..agent import AgentPool
from ..agent._private.worker import ASK_LEADER_ENV
from ._hooks import Hooks
from ._leadership import Leadership
from ._units import Application, Unit
from ._world import World

# Seconds a new pod takes to become Ready (image already pulled, containers starting):
# a modelling choice. The StatefulSet controller waits for each pod to be Running and
# Ready before it touches the next (OrderedReady: kubernetes.io/docs/concepts/workloads/
# controllers/statefulset/#deployment-and-scaling-guarantees), so a rollout takes time.
POD_STARTUP = 10.0
# terminationGracePeriodSeconds of a charm's pod: SIGTERM, then SIGKILL 30 s later
# (caas/kubernetes/provider/application/application.go; docs/design-notes.md, "Pod restarts").
GRACE_PERIOD = 30.0


class Pods:
    """Pod lifecycle and the StatefulSet controller's pace.

    Args:
        world: the controller's state.
        pool: the worker processes, one per live pod.
        hooks: the agents (a deleted pod's agent is killed).
        leadership: a new pod's agent claims a free lease.
        new_agent: told when a unit's pod starts a new agent (its stall ends).
    """

    def __init__(
        self,
        world: World,
        *,
        pool: AgentPool,
        hooks: Hooks,
        leadership: Leadership,
        new_agent: Callable[[str], None],
    ):
        self._world = world
        self._pool = pool
        self._hooks = hooks
        self._leadership = leadership
        self._new_agent = new_agent
        self._events: list[tuple[str, str, str]] = []  # (type, pod name, uid)
        # Units whose pods are being deleted gracefully, and when the grace period ends.
        self.terminating: dict[str, float] = {}
        self._controller_idle_at: int | None = None
        self._controller_ready_at = 0.0  # the last pod created is Ready then
        self._created = 0

    # -- deleting -------------------------------------------------------------------------

    def delete(self, unit: str, *, graceful: bool = True) -> None:
        """Delete the unit's pod; the StatefulSet controller recreates it.

        Graceful: the hook in flight may finish and ``stop`` runs, within the grace period
        (docs/design-notes.md, "Pod restarts"); otherwise the process dies at once (SIGKILL).
        """
        world = self._world
        target = world.unit(unit)
        if graceful and target.alive:
            self.terminating[unit] = world.clock.now + GRACE_PERIOD
            world.trace.record(
                'pod-delete', f'delete pod {target.pod} (graceful)', unit=unit, graceful=True
            )
            return
        world.trace.record(
            'pod-delete', f'delete pod {target.pod} (now)', unit=unit, graceful=False
        )
        self.remove(target)

    def remove(self, unit: Unit) -> None:
        """The kubelet deletes the unit's pod now."""
        world = self._world
        self.terminating.pop(unit.name, None)
        world.kube.delete('Pod', world.name, unit.pod, caller='kubelet')
        self.process_events()

    def stop_started(self, unit: str) -> None:
        """The terminating unit's stop hook started; the grace timer no longer applies."""
        self.terminating.pop(unit, None)

    # -- events ---------------------------------------------------------------------------

    def on_kube_event(self, event: Any) -> None:
        """The fake API's watch callback."""
        # Runs under the fake API's lock, possibly on a server thread: only record.
        if event.kind == 'Pod':
            uid = str(event.object.get('metadata', {}).get('uid', ''))
            self._events.append((event.type, event.name, uid))

    def process_events(self) -> None:
        """Act on the pod events recorded since the last call."""
        world = self._world
        while self._events:
            kind, pod, uid = self._events.pop(0)
            app_name, _, ordinal = pod.rpartition('-')
            app = world.apps.get(app_name)
            if app is None or not ordinal.isdigit():
                continue
            unit = app.units.get(f'{app_name}/{ordinal}')
            if unit is None:
                continue
            if kind == 'DELETED' and unit.pod_uid == uid:
                if unit.alive:
                    world.trace.record(
                        'pod-deleted', f'pod {pod} deleted: SIGKILL {unit.name}', unit=unit.name
                    )
                    self._hooks.kill(unit)
                unit.pod_uid = None
            elif kind == 'ADDED' and unit.pod_uid != uid:
                self._started(app, unit, uid)

    def _started(self, app: Application, unit: Unit, uid: str) -> None:
        world = self._world
        self._created += 1
        self._new_agent(unit.name)
        unit.pod_uid = uid
        unit.incarnation += 1
        env = {
            'KUBECONFIG': str(pathlib.Path(app.kubeconfig_dir) / f'unit-{unit.ordinal}.yaml'),
            ASK_LEADER_ENV: '1',
        }
        if unit.incarnation == 1:
            self._pool.spawn(unit.name, env=env)
        else:
            self._pool.restart(unit.name, env=env)
            # A recreated pod: upgrade-charm, config-changed, leader-settings-changed on a
            # non-leader, start, pebble-ready; install is not re-run (docs/design-notes.md, "Pod
            # restarts").
            unit.upgrade_pending = unit.installed
            unit.seen_config = -1
            unit.settings_pending = True
            unit.started = False
            unit.containers = []
        unit.pebble_pending = list(app.charm.containers)
        unit.alive = True
        world.trace.record(
            'pod-started',
            f'pod {unit.pod} started ({unit.name}, incarnation {unit.incarnation})',
            unit=unit.name,
            incarnation=unit.incarnation,
        )
        if app.lease.free(world.clock.now):
            self._leadership.claim(app, unit)

    # -- the StatefulSet controller ---------------------------------------------------------

    def controller_ready(self) -> bool:
        """Whether the controller has work and its last new pod is Ready."""
        world = self._world
        return (
            self._controller_idle_at != world.kube.resource_version
            and self._controller_ready_at <= world.clock.now
        )

    def controller_step(self) -> None:
        """One reconcile of the StatefulSet controller."""
        world = self._world
        before = world.kube.resource_version
        created_before = self._created
        if not world.kube.step():
            self._controller_idle_at = before
        else:
            self._controller_idle_at = None
        self.process_events()
        if self._created != created_before:
            self._controller_ready_at = world.clock.now + POD_STARTUP

    # -- timers ---------------------------------------------------------------------------

    def due(self) -> list[float]:
        """When the controller may act next, and when grace periods end."""
        times: list[float] = []
        if self._controller_idle_at != self._world.kube.resource_version:
            times.append(self._controller_ready_at)
        times.extend(self.terminating.values())
        return times

    def fire(self) -> None:
        """Grace periods that are over: the kubelet kills what is left of the pod."""
        world = self._world
        now = world.clock.now
        for name, deadline in sorted(self.terminating.items()):
            if deadline <= now:
                world.trace.record(
                    'grace-over', f'grace period over for {name}: SIGKILL', unit=name
                )
                unit = world.unit(name)
                self._hooks.kill(unit)
                self.remove(unit)
