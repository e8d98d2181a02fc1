"""Juju's application provisioner on Kubernetes: its objects, their rewrite, trust and RBAC.

Juju's ``caasapplicationprovisioner`` worker (juju/juju ``worker/caasapplicationprovisioner/
ops.go``) ensures each application's Kubernetes objects through the provider
(``caas/kubernetes/provider/application/application.go``); ``juju trust`` widens what the
application's service account may do. Here each unit's token stands for that service
account, and :class:`~jujusim.kube.JujuAppPolicy` for its RBAC rules.
"""

from __future__ import annotations

import pathlib

from ..kube import JujuAppPolicy, KubeServer
from ._gate import Gate
from ._units import Application, Unit
from ._world import JUJU, World


class Provisioner:
    """Creates, rewrites and deletes each application's StatefulSet and Service."""

    def __init__(self, world: World, *, gate: Gate, server: KubeServer):
        self._world = world
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

    def create_objects(self, app: Application) -> None:
        """What Juju's provider creates for a sidecar charm.

        Labels on the StatefulSet and its pod template, a Service of the app's name
        selecting its pods (caas/kubernetes/provider/application/application.go).
        """
        world = self._world
        selector = {'app.kubernetes.io/name': app.name}
        juju_labels = {**selector, 'app.kubernetes.io/managed-by': 'juju'}
        containers = [{'name': 'charm', 'image': 'jujusim/charm-base'}] + [
            {'name': c, 'image': f'jujusim/{c}'} for c in app.charm.containers
        ]
        world.kube.create(
            {
                'apiVersion': 'apps/v1',
                'kind': 'StatefulSet',
                'metadata': {
                    'name': app.name,
                    'namespace': world.name,
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
        """Juju re-ensures the StatefulSet, as on refresh, trust or a controller restart.

        It sends its own pod template labels as a strategic-merge patch: foreign label keys
        survive, Juju's own are reset (caas/kubernetes/provider/resources/statefulset.go).
        """
        world = self._world
        selector = {'app.kubernetes.io/name': app}
        world.kube.patch(
            'StatefulSet',
            world.name,
            app,
            {
                'metadata': {'labels': {**selector, 'app.kubernetes.io/managed-by': 'juju'}},
                'spec': {'template': {'metadata': {'labels': selector}}},
            },
            caller=JUJU,
        )
        world.trace.record(
            'juju', f'juju re-ensures StatefulSet {app}', action='rewrite-statefulset', app=app
        )

    def delete_objects(self, app: str) -> None:
        """Juju deletes the StatefulSet and Service; the garbage collector takes the pods."""
        world = self._world
        world.kube.delete('StatefulSet', world.name, app, caller=JUJU)
        world.kube.delete('Service', world.name, app, caller=JUJU)
