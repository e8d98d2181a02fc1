"""Pods: the StatefulSet controller's work, pod events, and each unit's agent on its pod.

Kubernetes' StatefulSet controller creates and deletes the pods (the fake API steps it);
each new pod of a unit starts a new agent, and a deleted pod takes its agent with it, at
once or after the grace period (docs/design-notes.md, "Pod restarts").
"""

from __future__ import annotations

import pathlib
from collections import deque
from collections.abc import Callable
from typing import Any

from ..agent import AgentPool
from ..agent._private.worker import ASK_LEADER_ENV
from ._hooks import Hooks
from ._leadership import Leadership
from ._units import Application, Unit
from ._world import World

# Seconds a new pod takes to become Ready (image already pulled, containers starting):
# a modelling choice. The StatefulSet controller waits for a pod to be Running and Ready
# before it replaces the next one in a rolling update (kubernetes pkg/controller/statefulset/
# stateful_set_control.go updateStatefulSet: an unhealthy pod stops the rollout), so a
# rollout takes time; with Parallel pod management, creating and deleting pods does not wait.
POD_STARTUP = 10.0
# terminationGracePeriodSeconds of a charm's pod: SIGTERM, then SIGKILL 30 s later
# (juju caas/kubernetes/provider/application/application.go applicationPodSpec; the
# Kubernetes default, pkg/apis/core/v1/defaults.go, is the same 30 s).
GRACE_PERIOD = 30


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
        # (type, pod name, uid, grace period if the pod is terminating)
        self._events: deque[tuple[str, str, str, int | None]] = deque()
        # Units whose pods are being deleted gracefully, and when the grace period ends.
        self.terminating: dict[str, float] = {}
        # Pods the kubelet reports Ready later: pod name -> (uid, when).
        self._ready_at: dict[str, tuple[str, float]] = {}
        self._controller_idle_at: int | None = None

    # -- deleting -------------------------------------------------------------------------

    def delete(self, unit: str, *, graceful: bool = True) -> None:
        """Delete the unit's pod, as ``kubectl delete pod``; the StatefulSet recreates it.

        Graceful: the pod is Terminating (deletionTimestamp) for its grace period: see
        :meth:`process_events`. Otherwise (``--grace-period=0 --force``) it goes at once and
        its agent dies with it (SIGKILL).
        """
        world = self._world
        target = world.unit(unit)
        world.trace.record(
            'pod-delete',
            f'delete pod {target.pod} ({"graceful" if graceful else "now"})',
            unit=unit,
            graceful=graceful,
        )
        if graceful:
            world.kube.delete('Pod', world.name, target.pod, caller='kubectl')
            self.process_events()
        else:
            self.remove(target)

    def remove(self, unit: Unit) -> None:
        """The kubelet deletes the unit's pod for good, now (its containers are gone)."""
        world = self._world
        self.terminating.pop(unit.name, None)
        world.kube.delete('Pod', world.name, unit.pod, caller='kubelet', grace_period=0)
        self.process_events()

    def agent_exits(self, unit: Unit) -> None:
        """A terminating unit's agent that never started runs no stop hook: it exits.

        The uniter's ``nextOp`` on shutdown runs stop only if the unit had started, and
        otherwise terminates the agent (juju internal/worker/uniter/resolver.go nextOp,
        ``remoteState.Shutdown``); its containers end, and the kubelet removes the pod.
        """
        self._world.trace.record(
            'agent-exit',
            f'{unit.name} not started: agent exits; pod {unit.pod} goes',
            unit=unit.name,
        )
        self._hooks.kill(unit)
        self.remove(unit)

    # -- events ---------------------------------------------------------------------------

    def on_kube_event(self, event: Any) -> None:
        """The fake API's watch callback."""
        # Runs under the fake API's lock, possibly on a server thread: only record.
        if event.kind == 'Pod':
            meta = event.object.get('metadata', {})
            uid = str(meta.get('uid', ''))
            grace = (
                meta.get('deletionGracePeriodSeconds') if meta.get('deletionTimestamp') else None
            )
            self._events.append((event.type, event.name, uid, grace))

    def process_events(self) -> None:
        """Act on the pod events recorded since the last call."""
        world = self._world
        while self._events:
            kind, pod, uid, grace = self._events.popleft()
            app_name, _, ordinal = pod.rpartition('-')
            app = world.apps.get(app_name)
            if app is None or not ordinal.isdigit():
                continue
            unit = app.units.get(f'{app_name}/{ordinal}')
            if unit is None:
                if kind == 'MODIFIED' and grace is not None:
                    self._remove_orphan(pod, uid)
                continue
            if kind == 'DELETED' and unit.pod_uid == uid:
                self.terminating.pop(unit.name, None)
                self._ready_at.pop(pod, None)
                if unit.alive:
                    world.trace.record(
                        'pod-deleted', f'pod {pod} deleted: SIGKILL {unit.name}', unit=unit.name
                    )
                    self._hooks.kill(unit)
                unit.pod_uid = None
                if unit.removed:
                    self._forget(app, unit)
            elif kind == 'ADDED' and unit.pod_uid != uid:
                self._started(app, unit, uid)
            elif kind == 'MODIFIED' and unit.pod_uid == uid and grace is not None:
                self._terminating(unit, grace)

    def _remove_orphan(self, pod: str, uid: str) -> None:
        # A pod of a unit already removed, which the StatefulSet made again before Juju
        # lowered its replicas (a rollout during a scale-down), deleted in turn. The
        # kubelet sends SIGTERM (kubernetes pkg/kubelet/kuberuntime/
        # kuberuntime_container.go killContainer); every container of a Juju pod runs
        # Pebble (juju caas/kubernetes/provider/application/application.go
        # applicationPodSpec: /charm/bin/pebble run), which exits on it (canonical/pebble
        # internals/cli/cmd_run.go runDaemon), and no unit agent is there to run stop
        # first: the pod goes now.
        world = self._world
        current = world.kube.get('Pod', world.name, pod)
        if current is not None and current['metadata'].get('uid') == uid:
            world.trace.record('pod-deleted', f'pod {pod} deleted: it serves no unit', unit=None)
            world.kube.delete('Pod', world.name, pod, caller='kubelet', grace_period=0)

    def _forget(self, app: Application, unit: Unit) -> None:
        # A Dead unit whose pod is gone is removed from the model with its databags
        # (juju caasapplicationprovisioner ops.go reconcileDeadUnitScale: RemoveUnit).
        del app.units[unit.name]
        for relation in self._world.relations.values():
            relation.bags.pop(unit.name, None)
        self._world.trace.record('unit-removed', f'{unit.name} removed', unit=unit.name)

    def _terminating(self, unit: Unit, grace: int) -> None:
        # A pod deleted gracefully (by anyone: kubectl, the StatefulSet controller on a
        # rollout or a scale-down) is Terminating: the kubelet sends SIGTERM to its
        # containers and SIGKILL when the grace period ends (kubernetes pkg/kubelet/
        # kuberuntime/kuberuntime_container.go killContainer). The unit's agent, told to
        # shut down, runs no further queued hook and runs stop if it had started (juju
        # internal/worker/uniter/resolver.go NextOp and nextOp, remoteState.Shutdown).
        if unit.name in self.terminating:
            return
        world = self._world
        if not unit.alive:
            self.remove(unit)  # no containers left to stop
            return
        self.terminating[unit.name] = world.clock.now + grace
        world.trace.record(
            'pod-terminating',
            f'pod {unit.pod} terminating: SIGTERM {unit.name} ({grace} s grace)',
            unit=unit.name,
            grace=grace,
        )

    def _started(self, app: Application, unit: Unit, uid: str) -> None:
        world = self._world
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
        # Its containers start now; the kubelet reports it Ready once they are up.
        self._set_ready(unit.pod, False)
        self._ready_at[unit.pod] = (uid, world.clock.now + POD_STARTUP)
        if app.lease.free(world.clock.now) and not unit.dying:
            self._leadership.claim(app, unit)

    def _set_ready(self, pod: str, ready: bool) -> None:
        # The kubelet's status update (pkg/kubelet/status/status_manager.go); the fake
        # StatefulSet controller creates pods Ready at once, so the model, as the kubelet,
        # holds them unready until their containers are up.
        world = self._world
        flag = 'True' if ready else 'False'
        conditions = [
            {'type': t, 'status': flag if t in ('Ready', 'ContainersReady') else 'True'}
            for t in ('PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady')
        ]
        conditions.append({'type': 'PodScheduled', 'status': 'True'})
        world.kube.patch(
            'Pod',
            world.name,
            pod,
            {'status': {'phase': 'Running', 'conditions': conditions}},
            patch_type='application/merge-patch+json',
            caller='kubelet',
        )

    # -- the StatefulSet controller ---------------------------------------------------------

    def controller_ready(self) -> bool:
        """Whether the StatefulSet controller may have work (the API changed since it idled)."""
        return self._controller_idle_at != self._world.kube.resource_version

    def controller_step(self) -> None:
        """One reconcile of the StatefulSet controller."""
        world = self._world
        before = world.kube.resource_version
        if not world.kube.step():
            self._controller_idle_at = before
        else:
            self._controller_idle_at = None
        self.process_events()

    # -- timers ---------------------------------------------------------------------------

    def due(self) -> list[float]:
        """When pods become Ready, and when grace periods end."""
        return [t for _, t in self._ready_at.values()] + list(self.terminating.values())

    def fire(self) -> None:
        """Pods whose containers are up are Ready; grace periods that are over: SIGKILL."""
        world = self._world
        now = world.clock.now
        for pod, (uid, when) in sorted(self._ready_at.items()):
            if when <= now:
                del self._ready_at[pod]
                current = world.kube.get('Pod', world.name, pod)
                if current is not None and current['metadata'].get('uid') == uid:
                    self._set_ready(pod, True)
        for name, deadline in sorted(self.terminating.items()):
            if deadline <= now:
                world.trace.record(
                    'grace-over', f'grace period over for {name}: SIGKILL', unit=name
                )
                unit = world.unit(name)
                self._hooks.kill(unit)
                self.remove(unit)
