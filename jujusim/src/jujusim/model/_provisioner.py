"""Juju's application provisioner on Kubernetes: its objects, their rewrite, trust and RBAC.

Juju's ``caasapplicationprovisioner`` worker (juju/juju ``worker/caasapplicationprovisioner/
ops.go``) ensures each application's Kubernetes objects through the provider
(``caas/kubernetes/provider/application/application.go``); ``juju trust`` widens what the
application's service account may do. Here each unit's token stands for that service
account, and :class:`~jujusim.kube.JujuAppPolicy` for its RBAC rules.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from ..kube import JujuAppPolicy, KubeServer, StatusError
from ._gate import Gate
from ._pods import GRACE_PERIOD
from ._units import Application, Unit
from ._world import JUJU, World

JUJU_VERSION = '3.6.14'

RESTART_DELAY = 3.0
"""Virtual seconds before a failed application worker runs again, and so re-ensures.

A 409 from the StatefulSet's PATCH is not retried in place: ``StatefulSet.Apply`` returns
it as ``errConflict`` (juju ``caas/kubernetes/provider/resources/statefulset.go``), the
applier's ``Run`` has no retry (``resources/applier.go``), so ``appWorker.alive`` fails and
the application worker's loop ends with that error (``worker/caasapplicationprovisioner/
application.go``); the provisioner's runner restarts it after ``RestartDelay: 3 *
time.Second`` and never gives up (``worker.go`` ``NewProvisionerWorker``: ``IsFatal``
false). The new worker has no ``lastApplied``, so it ensures again: a new GET, a new PATCH.
"""


@dataclasses.dataclass
class _Ensure:
    """One application's re-ensure of its StatefulSet, between the scheduler's steps."""

    observed: str | None = None  # the GET's resourceVersion, once read; the PATCH carries it
    ready_at: float = 0.0  # virtual time of the next step (a worker restart, a stall)
    stall_after_get: float = 0.0  # a slow controller: the PATCH waits this long after the GET
    again: bool = False  # another change came after the GET: ensure once more after this one


class Provisioner:
    """Creates, rewrites and deletes each application's StatefulSet and Service."""

    def __init__(
        self,
        world: World,
        *,
        gate: Gate,
        server: KubeServer,
        on_rewrite: Callable[[str], None],
    ):
        self._world = world
        self._on_rewrite = on_rewrite  # Juju's labels, rewritten, are Juju's again (for R4)
        self._gate = gate
        self._server = server
        self._policies: dict[str, JujuAppPolicy] = {}
        self._ensures: dict[str, _Ensure] = {}

    def add_app(self, app: Application) -> None:
        """The application's RBAC policy, its units' credentials and its objects."""
        world = self._world
        policy = JujuAppPolicy(namespace=world.name, app=app.name, trusted=app.trusted)
        self._policies[app.name] = policy
        for ordinal in range(app.scale):
            self.add_unit(app, ordinal)

    def add_unit(self, app: Application, ordinal: int) -> Unit:
        """A unit's credentials (its pod's service account) and its record."""
        world = self._world
        name = f'{app.name}/{ordinal}'
        token = f'jujusim-{world.name}-{app.name}-{ordinal}'
        world.kube.register_caller(token, self._policies[app.name], name=name)
        self._gate.register(token, name)
        self._server.write_kubeconfig(
            pathlib.Path(app.kubeconfig_dir) / f'unit-{ordinal}.yaml',
            token=token,
            namespace=world.name,
            user=name,
        )
        unit = Unit(name=name, app=app.name, ordinal=ordinal, token=token)
        app.units[name] = unit
        return unit

    @staticmethod
    def _annotations(app: Application) -> dict[str, str]:
        # application.go annotations(config): the agent version and the charm's modified
        # version, on the StatefulSet and on its pod template alike.
        return {
            'juju.is/version': JUJU_VERSION,
            'charm.juju.is/modified-version': str(app.charm_modified_version),
        }

    def _template(self, app: Application) -> dict[str, Any]:
        """The pod template Juju's provider ensures (application.go applicationPodSpec)."""
        containers = [{'name': 'charm', 'image': 'jujusim/charm-base'}] + [
            {'name': c, 'image': f'jujusim/{c}'} for c in app.charm.containers
        ]
        return {
            'metadata': {
                'labels': {'app.kubernetes.io/name': app.name},
                'annotations': self._annotations(app),
            },
            'spec': {
                'initContainers': [
                    {
                        'name': 'charm-init',
                        'image': f'jujusim/jujud-operator:{JUJU_VERSION}',
                        'args': [
                            'init',
                            '--charm-modified-version',
                            str(app.charm_modified_version),
                        ],
                    }
                ],
                'containers': containers,
                'terminationGracePeriodSeconds': GRACE_PERIOD,
            },
        }

    def create_objects(self, app: Application) -> None:
        """What Juju's provider creates for a sidecar charm.

        Labels on the StatefulSet and its pod template, a Service of the app's name
        selecting its pods (caas/kubernetes/provider/application/application.go).
        """
        world = self._world
        selector = {'app.kubernetes.io/name': app.name}
        juju_labels = {**selector, 'app.kubernetes.io/managed-by': 'juju'}
        world.kube.create(
            {
                'apiVersion': 'apps/v1',
                'kind': 'StatefulSet',
                'metadata': {
                    'name': app.name,
                    'namespace': world.name,
                    'labels': juju_labels,
                    'annotations': self._annotations(app),
                },
                'spec': {
                    'replicas': app.scale,
                    'serviceName': f'{app.name}-endpoints',
                    'selector': {'matchLabels': selector},
                    # Juju creates its StatefulSets with Parallel pod management
                    # (application.go Ensure): pods are created and deleted without waiting
                    # for each other, so restarting units overlap.
                    'podManagementPolicy': 'Parallel',
                    'template': self._template(app),
                },
            },
            caller=JUJU,
        )
        world.kube.create(
            {
                'apiVersion': 'v1',
                'kind': 'Service',
                'metadata': {'name': app.name, 'namespace': world.name, 'labels': juju_labels},
                'spec': {'selector': selector, 'ports': [{'name': 'placeholder', 'port': 65535}]},
            },
            caller=JUJU,
        )

    def set_trust(self, app: Application, trusted: bool) -> None:
        """``juju trust``: the service account's rules change, then Juju re-ensures.

        The provisioner re-ensures the StatefulSet on a trust change
        (worker/caasapplicationprovisioner/ops.go).
        """
        if app.trusted != trusted:
            # A trust change is a config-changed on every unit: the uniter compares the
            # trust hash as it does the config hash (juju internal/worker/uniter/resolver.go
            # nextOp: trustHashChanged gives ConfigChanged).
            app.config_version += 1
        app.trusted = trusted
        self._policies[app.name].trusted = trusted
        self._world.trace.record(
            'operator',
            f'trust {app.name} {trusted}',
            command='trust',
            app=app.name,
            trusted=trusted,
        )
        self.rewrite_statefulset(app.name)

    def rewrite_statefulset(self, app: str, *, stall_after_get: float = 0.0) -> None:
        """Queue Juju's re-ensure of the StatefulSet, as on refresh, trust or a restart.

        It re-ensures on trust, config, charm (refresh), agent-version and constraint
        changes and when the provisioner restarts. Juju 3.6's ``StatefulSet.Apply``
        (caas/kubernetes/provider/resources/statefulset.go) is a GET, then a
        strategic-merge PATCH of the object it read with Juju's annotations and Juju's
        whole ``spec.template`` put in, carrying the GET's resourceVersion. The two are
        separate steps of the scheduler (:meth:`ready`, :meth:`step`), so a unit's write
        can land between them; the PATCH then gets a 409 and the application worker
        restarts :data:`RESTART_DELAY` later and ensures again. Foreign label keys survive
        the merge; Juju's own template keys are reset; the StatefulSet's own labels are sent
        back as read, so Juju does not reset them; a changed template (a refresh's
        charm-modified-version) rolls every pod. (Juju's main branch sends the same object
        as a server-side apply with field manager ``juju`` instead.)

        ``stall_after_get`` holds the PATCH that many virtual seconds after the GET (a slow
        or busy controller), so that units' hooks run in between.

        Raises:
            ModelError: no such application.
        """
        self._world.app(app)
        pending = self._ensures.get(app)
        if pending is None:
            self._ensures[app] = _Ensure(
                ready_at=self._world.clock.now, stall_after_get=stall_after_get
            )
        elif pending.observed is not None:
            # The worker handles the next change once this ensure is done (its changes
            # channel); a GET still to come reads the new state anyway.
            pending.again = True

    def ready(self) -> list[str]:
        """The applications whose re-ensure can take its next step now."""
        now = self._world.clock.now
        return [app for app, e in sorted(self._ensures.items()) if e.ready_at <= now]

    def due(self) -> list[float]:
        """When a waiting re-ensure (a restarted worker, a stalled PATCH) can go on."""
        return [e.ready_at for e in self._ensures.values()]

    def step(self, app: str) -> None:
        """The re-ensure's next request: its GET, or its PATCH."""
        ensure = self._ensures[app]
        world = self._world
        current = world.kube.get('StatefulSet', world.name, app)
        if current is None or app not in world.apps:
            del self._ensures[app]  # removed meanwhile: nothing left to ensure
            return
        if ensure.observed is None:
            ensure.observed = current['metadata']['resourceVersion']
            ensure.ready_at = world.clock.now + ensure.stall_after_get
            world.trace.record(
                'juju',
                f'juju reads StatefulSet {app} (resourceVersion {ensure.observed})',
                action='rewrite-get',
                app=app,
                resource_version=ensure.observed,
            )
            return
        application = world.app(app)
        # Juju sends back the whole object it read; of it, only what it puts in changes
        # anything under a strategic merge (the rest merges to itself), so only that and
        # the resourceVersion, its precondition, are sent here.
        patch = {
            'metadata': {
                'resourceVersion': ensure.observed,
                'annotations': self._annotations(application),
            },
            'spec': {'template': self._template(application)},
        }
        try:
            world.kube.patch('StatefulSet', world.name, app, patch, caller=JUJU)
        except StatusError as e:
            if e.code != HTTPStatus.CONFLICT:
                raise
            ensure.observed = None
            ensure.stall_after_get = 0.0
            ensure.ready_at = world.clock.now + RESTART_DELAY
            world.trace.record(
                'juju',
                f'juju re-ensure of {app}: 409 Conflict; its worker restarts in '
                f'{RESTART_DELAY:g} s',
                action='rewrite-statefulset-conflict',
                app=app,
            )
            return
        world.trace.record(
            'juju', f'juju re-ensures StatefulSet {app}', action='rewrite-statefulset', app=app
        )
        self._on_rewrite(app)
        if ensure.again:
            self._ensures[app] = _Ensure(ready_at=world.clock.now)
        else:
            del self._ensures[app]

    def scale(self, app: Application, units: int) -> None:
        """Set the StatefulSet's replicas (caasapplicationprovisioner ops.go, ``app.Scale``)."""
        world = self._world
        world.kube.patch(
            'StatefulSet', world.name, app.name, {'spec': {'replicas': units}}, caller=JUJU
        )
        world.trace.record(
            'juju',
            f'juju scales StatefulSet {app.name} to {units}',
            action='scale',
            app=app.name,
            units=units,
        )

    def reconcile_dead_units(self, app: Application) -> None:
        """Once every unit above the target scale is Dead, scale the StatefulSet down.

        juju worker/caasapplicationprovisioner/ops.go ``reconcileDeadUnitScale``: the units
        to remove are destroyed first (``ensureScale``: DestroyUnits) and the StatefulSet is
        scaled only when all of them are Dead.
        """
        condemned = [u for u in app.units.values() if u.ordinal >= app.scale]
        if condemned and all(u.removed for u in condemned):
            self.scale(app, app.scale)

    def delete_objects(self, app: str) -> None:
        """Juju deletes the StatefulSet and Service; the garbage collector takes the pods."""
        world = self._world
        world.kube.delete('StatefulSet', world.name, app, caller=JUJU)
        world.kube.delete('Service', world.name, app, caller=JUJU)
