"""mesh-consumer: the smallest correct user of the k8s_labels library. Copy it.

What a charm author must know before copying the two lines that matter
(``k8s_labels.ServiceMeshConsumer(self, ...)`` in ``__init__``, and nothing else):

Trust.
    The library patches the application's StatefulSet, which an untrusted application may
    not do (Juju gives it Pods and Services only). Deploy with ``--trust`` or run
    ``juju trust <app> --scope=cluster``. Until then the leader shows a Blocked status with
    that exact command, applies nothing, and picks up by itself on a later event
    (``update-status`` at the latest) once trust is granted.

What the library touches.
    Only the labels the provider asks for, on three objects: the StatefulSet's pod template
    (``spec.template.metadata.labels``), every running Pod of the application, and the
    application's Service. It keeps its record in one ConfigMap,
    ``<app>-k8s-labels-service-mesh``, owned by the StatefulSet so it goes with the
    application. Labels that anything else wrote (Juju, kubectl, another library) are never
    changed or removed, unless the provider asks for the same key: then the library takes
    it over while it is asked for and gives the earlier value back afterwards. Keys that
    would hijack selectors or Juju (``app.kubernetes.io/name``, ``kubernetes.io/...``)
    are refused with a Blocked status naming the key.

What a label change does to the pods.
    A change to the pod template is a rollout: Kubernetes replaces every pod of the
    application, one at a time, highest ordinal first. Each replaced pod loses its local
    state (StoredState, files in the charm container, deferred events) and Juju runs
    ``upgrade-charm``, ``config-changed`` and ``start`` in it again; the hook running in it
    at that moment is killed. The library is built for this: it reconciles on the leader
    from the relation data and its ConfigMap, never from local state, so a kill between
    any two API calls is completed or rolled back by the next reconcile. Your own charm
    code must tolerate the same restarts: keep state in Pebble layers, relation data or
    Kubernetes, not in the pod.

Statuses.
    The library adds its own Blocked status through collect-status (bad relation data,
    no trust); the charm adds its own and ops shows the most severe.
"""

from __future__ import annotations

import dataclasses
import logging

import ops

import k8s_labels

logger = logging.getLogger(__name__)

CONTAINER = 'web'
SERVICE = 'httpd'
WEB_ROOT = '/srv/www'


@dataclasses.dataclass(frozen=True, kw_only=True)
class WebConfig:
    """The charm's config options, validated by ``load_config``."""

    port: int = 8080

    def __post_init__(self):
        if not 1 <= self.port <= 65535:
            raise ValueError(f'config port: {self.port} is not a TCP port (1-65535)')


class MeshConsumerCharm(ops.CharmBase):
    """Serve a static page under Pebble and carry the service mesh's labels."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        # This is the whole integration. The library observes the relation, leader,
        # upgrade, start, config and update-status events itself, reconciles on the
        # leader only, and reports its problems through collect-status. The policy lets
        # the applications related on `web` (and, under the mesh, only those) GET the page;
        # the leader publishes it for the mesh to enforce.
        self.mesh = k8s_labels.ServiceMeshConsumer(
            self, 'service-mesh', policies=[self._web_policy()]
        )
        framework.observe(self.on[CONTAINER].pebble_ready, self._on_workload_event)
        framework.observe(self.on.config_changed, self._on_workload_event)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    def _web_policy(self) -> k8s_labels.AppPolicy:
        try:
            port = self.load_config(WebConfig).port
        except ValueError:
            port = WebConfig.port  # collect-status reports the bad option
        endpoint = k8s_labels.Endpoint(ports=[port], methods=[k8s_labels.Method.get])
        return k8s_labels.AppPolicy(relation='web', endpoints=[endpoint])

    def _on_workload_event(self, _event: ops.EventBase) -> None:
        container = self.unit.get_container(CONTAINER)
        try:
            config = self.load_config(WebConfig)
        except ValueError:
            return  # collect-status reports it
        if not container.can_connect():
            return  # pebble-ready will come
        container.push(
            f'{WEB_ROOT}/index.html',
            f'<p>{self.unit.name} is serving.</p>\n',
            make_dirs=True,
        )
        container.add_layer(SERVICE, self._layer(config), combine=True)
        container.replan()
        self.unit.set_ports(config.port)

    def _layer(self, config: WebConfig) -> ops.pebble.LayerDict:
        return {
            'summary': 'static web server',
            'services': {
                SERVICE: {
                    'override': 'replace',
                    'summary': 'busybox httpd serving the page',
                    # -f: stay in the foreground, as Pebble expects.
                    'command': f'httpd -f -p {config.port} -h {WEB_ROOT}',
                    'startup': 'enabled',
                }
            },
        }

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        try:
            self.load_config(WebConfig)
        except ValueError as e:
            event.add_status(ops.BlockedStatus(str(e)))
        if not self.unit.get_container(CONTAINER).can_connect():
            event.add_status(ops.WaitingStatus(f'waiting for Pebble in the {CONTAINER} container'))
        event.add_status(ops.ActiveStatus())
