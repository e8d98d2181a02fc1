"""Juju's application provisioner on Kubernetes: its objects, their rewrite, trust and RBAC.

Juju's ``caasapplicationprovisioner`` worker (juju/juju ``worker/caasapplicationprovisioner/
ops.go``) ensures each application's Kubernetes objects through the provider
(``caas/kubernetes/provider/application/application.go``); ``juju trust`` widens what the
application's service account may do. Here each unit's token stands for that service
account, and :class:`~jujusim.kube.JujuAppPolicy` for its RBAC rules.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from ..kube import JujuAppPolicy, KubeServer, StatusError
from ._errors import ModelError
from ._gate import Gate
from ._pods import GRACE_PERIOD
from ._units import Application, Unit
from ._world import JUJU, World

JUJU_VERSION = '3.6.14'
REWRITE_ATTEMPTS = 5  # a modelling choice: Juju's provisioner retries until it lands


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

    def rewrite_statefulset(self, app: str) -> None:
        """Juju re-ensures the StatefulSet, as on refresh, trust or a provisioner restart.

        It re-ensures on trust, config, charm (refresh), agent-version and constraint
        changes and when the provisioner restarts. As the issue reads Juju 3.6
        (caas/kubernetes/provider/resources/statefulset.go ``Apply``): a GET, then a
        strategic-merge PATCH of Juju's labels and annotations and of the whole
        ``spec.template``, carrying the GET's resourceVersion, retried on a 409 Conflict.
        Foreign label keys survive the merge; Juju's own keys are reset; a changed template
        (a refresh's charm-modified-version) rolls every pod. (Juju's main branch sends the
        same object as a server-side apply with field manager ``juju`` instead.)
        """
        world = self._world
        application = world.app(app)
        selector = {'app.kubernetes.io/name': app}
        for _ in range(REWRITE_ATTEMPTS):
            current = world.kube.get('StatefulSet', world.name, app)
            if current is None:
                raise ModelError(f'no StatefulSet {app}')
            patch = {
                'metadata': {
                    'resourceVersion': current['metadata']['resourceVersion'],
                    'labels': {**selector, 'app.kubernetes.io/managed-by': 'juju'},
                    'annotations': self._annotations(application),
                },
                'spec': {'template': self._template(application)},
            }
            try:
                world.kube.patch('StatefulSet', world.name, app, patch, caller=JUJU)
            except StatusError as e:
                if e.code != HTTPStatus.CONFLICT:
                    raise
                world.trace.record(
                    'juju',
                    f'juju re-ensure of {app}: 409, retrying',
                    action='rewrite-statefulset-conflict',
                    app=app,
                )
                continue
            world.trace.record(
                'juju', f'juju re-ensures StatefulSet {app}', action='rewrite-statefulset', app=app
            )
            self._on_rewrite(app)
            return
        raise ModelError(f'juju could not re-ensure StatefulSet {app}: conflicts')

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
