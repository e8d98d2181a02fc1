"""The service_mesh interface: a consumer that applies labels, a provider that sends them."""

from __future__ import annotations

import contextlib
import json
import logging
import pathlib
import sys
import typing
from collections.abc import Callable, Iterable, Mapping

import httpx2
import lightkube
import ops

from . import _errors, _json, _manager, _policies, _validation

logger = logging.getLogger(__name__)

OWNER = 'service-mesh'
"""The owner name the consumer's LabelManager uses (ledger ``{app}-k8s-labels-service-mesh``)."""

LEGACY_CONFIGMAP = 'juju-service-mesh-{app}-labels'
"""The upstream library's ConfigMap (charmlibs-interfaces-service-mesh), adopted once."""


ClientFactory = Callable[[str, str], lightkube.Client]
"""Builds a client from ``(namespace, field_manager)``."""

_default_client_override: list[ClientFactory] = []
"""Set by ``k8s_labels.testing`` only: the consumers' default client reaches a fake cluster.

A stack, so nested fakes restore the outer one. A module global, not a ContextVar: a test
may run the charm in another thread.
"""

NO_CLUSTER_HINT = (
    'in unit tests, give the charm a fake cluster with k8s_labels.testing.FakeCluster '
    "(the k8s_labels README, 'Test your charm')"
)


def default_client(namespace: str, field_manager: str) -> lightkube.Client:
    """The client a consumer uses unless given a ``client_factory``.

    On Juju: the pod's service account. In a test under :class:`k8s_labels.testing.FakeCluster`:
    a real lightkube client whose requests reach the fake.

    Raises:
        ClusterUnreachableError: neither a service account nor a kubeconfig exists.
    """
    if _default_client_override:
        return _default_client_override[-1](namespace, field_manager)
    try:
        return lightkube.Client(namespace=namespace, field_manager=field_manager)
    except lightkube.ConfigError as e:
        raise _errors.ClusterUnreachableError(
            'no Kubernetes cluster to reach: not running in a Juju pod (no service account '
            f'token) and no kubeconfig ({e}); {NO_CLUSTER_HINT}'
        ) from None


SERVICE_ACCOUNT_TOKEN = pathlib.Path('/var/run/secrets/kubernetes.io/serviceaccount/token')
"""Present in every pod (so on Juju); lightkube reads it before any kubeconfig."""


def _unreachable(error: _errors.TransientError) -> _errors.TransientError:
    """The same error, saying plainly when no API server answered at all."""
    if not isinstance(error.__cause__, httpx2.ConnectError):
        return error
    message = f'cannot connect to the Kubernetes API ({error})'
    if not SERVICE_ACCOUNT_TOKEN.exists():
        # Not in a pod: a kubeconfig pointed somewhere that does not answer.
        message += f'; {NO_CLUSTER_HINT}'
    return _errors.TransientError(message)


def _refuse_mock(client: object) -> None:
    """A mock answers every call with another mock, which reads as a corrupt ledger: say so."""
    mock = sys.modules.get('unittest.mock')
    if mock is not None and isinstance(client, mock.NonCallableMock):
        raise _errors.ClusterUnreachableError(
            f'the lightkube client is a mock ({type(client).__name__}), which cannot answer '
            f'like a cluster; {NO_CLUSTER_HINT}'
        )


def trust_message(app: str) -> str:
    """The BlockedStatus text shown when the API answers 403."""
    return f'cannot manage pod labels: run juju trust {app} --scope=cluster'


def parse_provider_data(databag: Mapping[str, str]) -> dict[str, str]:
    """Decode and validate one provider application databag.

    The wire format of istio-beacon-k8s: ``labels`` is a JSON object of strings and
    ``mesh_type`` a JSON string; other keys are tolerated. An empty databag (the provider
    has not published yet) means no labels.

    Raises:
        InvalidRelationDataError: a field is not JSON or has the wrong type.
        InvalidLabelsError: a label key or value is invalid or refused.
    """
    labels: dict[str, object] = {}
    if 'labels' in databag:
        try:
            decoded = _json.loads(databag['labels'])
        except _json.TooDeepError as e:
            raise _errors.InvalidRelationDataError(
                'labels', f'relation field "labels" is {e}'
            ) from None
        except ValueError:
            raise _errors.InvalidRelationDataError(
                'labels', 'relation field "labels" is not valid JSON'
            ) from None
        if not isinstance(decoded, dict):
            raise _errors.InvalidRelationDataError(
                'labels',
                f'relation field "labels" must be a JSON object, not {_json_type(decoded)}',
            )
        labels = {str(k): v for k, v in typing.cast('dict[object, object]', decoded).items()}
    if 'mesh_type' in databag:
        try:
            mesh_type = _json.loads(databag['mesh_type'])
        except _json.TooDeepError as e:
            raise _errors.InvalidRelationDataError(
                'mesh_type', f'relation field "mesh_type" is {e}'
            ) from None
        except ValueError:
            raise _errors.InvalidRelationDataError(
                'mesh_type', 'relation field "mesh_type" is not valid JSON'
            ) from None
        if not isinstance(mesh_type, str):
            raise _errors.InvalidRelationDataError(
                'mesh_type',
                f'relation field "mesh_type" must be a JSON string, not {_json_type(mesh_type)}',
            )
    return _validation.validate_labels(labels)


def _json_type(value: object) -> str:
    if value is None:
        return 'null'
    if isinstance(value, dict):
        return 'an object'
    if isinstance(value, list):
        return 'an array'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, bool):
        return 'a boolean'
    return 'a number'


class ServiceMeshConsumer(ops.Object):
    """Keep the labels a service mesh asks for on this application's pods and Service.

    Build it in the charm's ``__init__``. It observes the events that can change what
    the labels should be (relation created, changed and broken on ``endpoint``,
    leader-elected, upgrade-charm, start, config-changed, update-status) and, on the
    leader only, reconciles the objects with the provider's current data. Problems
    (invalid relation data, a corrupt ledger, a missing ``juju trust``) are reported as
    a BlockedStatus through collect-status on every hook until they are fixed; the
    charm adds nothing for it. Transient API failures fail the hook so Juju retries it.

    Args:
        charm: the charm.
        endpoint: the ``service_mesh`` requires endpoint in ``charmcraft.yaml``.
        policies: what applications related on other endpoints of this charm may reach
            in it (:class:`AppPolicy`, :class:`UnitPolicy`; upstream's objects are accepted
            too). The leader publishes them on ``endpoint`` as the ``policies`` field, in the
            format of charmlibs-interfaces-service-mesh, for the mesh to enforce.
        cross_model_mesh_requires_name: a ``cross_model_mesh`` requires endpoint, if the
            charm declares it: the leader sends its application and model name on it, so
            a consumer in another model can name it in its policies.
        cross_model_mesh_provides_name: a ``cross_model_mesh`` provides endpoint, if the
            charm declares it: the names received on it replace the offer's local alias
            in the policies.
        client_factory: builds the lightkube client; default
            ``lightkube.Client(namespace=<model>, field_manager=<app>-k8s-labels)``,
            which uses the pod's service account on Juju.
        retry_delays: seconds to wait before each retry of a call that failed with a
            5xx or a connection error.

    Raises:
        ValueError: a policy names a relation the charm does not declare.
        TypeError: a policy is neither an AppPolicy nor a UnitPolicy.
    """

    _stored = ops.StoredState()

    manager_class: type[_manager.LabelManager] = _manager.LabelManager
    """The LabelManager class used; a subclass may replace it (the tests' broken variants)."""

    def __init__(
        self,
        charm: ops.CharmBase,
        endpoint: str = 'service-mesh',
        *,
        policies: Iterable[_policies.AppPolicy | _policies.UnitPolicy | object] = (),
        cross_model_mesh_requires_name: str = 'require-cmr-mesh',
        cross_model_mesh_provides_name: str = 'provide-cmr-mesh',
        client_factory: Callable[[], lightkube.Client] | None = None,
        retry_delays: tuple[float, ...] = (0.5, 2.0),
    ):
        super().__init__(charm, endpoint)
        self._charm = charm
        self._endpoint = endpoint
        self._client_factory = client_factory
        self._retry_delays = retry_delays
        self._policies = [_policies.coerce_policy(p) for p in policies]
        declared = charm.meta.relations
        for policy in self._policies:
            if policy.relation not in declared:
                raise ValueError(
                    f'policy relation {policy.relation!r} is not an endpoint of '
                    f'{charm.meta.name} (charmcraft.yaml declares: {", ".join(sorted(declared))})'
                )
        # Upstream requires both cross-model endpoints; here they are optional.
        self._cmr_requires = (
            cross_model_mesh_requires_name if cross_model_mesh_requires_name in declared else None
        )
        self._cmr_provides = (
            cross_model_mesh_provides_name if cross_model_mesh_provides_name in declared else None
        )
        self._stored.set_default(problem='', departing=False)
        on = charm.on
        events = [
            on[endpoint].relation_created,
            on[endpoint].relation_changed,
            on[endpoint].relation_broken,
            on.leader_elected,
            on.upgrade_charm,
            on.start,
            on.config_changed,
            on.update_status,
        ]
        # As upstream: policies follow the relations they name, and the cross-model names.
        for name in sorted({p.relation for p in self._policies} - {endpoint}):
            events += [on[name].relation_created, on[name].relation_broken]
        if self._cmr_provides is not None:
            events += [on[self._cmr_provides].relation_changed]
        if self._cmr_requires is not None:
            events += [on[self._cmr_requires].relation_created]
        for event in events:
            self.framework.observe(event, self._on_event)
        self.framework.observe(on[endpoint].relation_departed, self._on_departed)
        self.framework.observe(on.collect_unit_status, self._on_collect_unit_status)

    @property
    def problem(self) -> str | None:
        """Why the labels could not be applied at the last reconcile, or None."""
        return str(self._stored.problem) or None

    @property
    def enabled(self) -> bool:
        """Whether a mesh is related (upstream's ``enabled``)."""
        return bool(self.model.relations[self._endpoint])

    def mesh_type(self) -> str | None:
        """The provider's ``mesh_type`` (``'istio'``), or None before it publishes one."""
        for relation in self.model.relations[self._endpoint]:
            raw = relation.data[relation.app].get('mesh_type')
            if raw is not None:
                try:
                    value = _json.loads(raw)
                except ValueError:
                    return None
                return value if isinstance(value, str) else None
        return None

    def mesh_policies(self) -> list[dict[str, object]]:
        """The ``policies`` this unit's leader publishes, as upstream's ``MeshPolicy`` dicts."""
        cross_model = (
            _policies.cross_model_sources(self.model.relations[self._cmr_provides])
            if self._cmr_provides is not None
            else {}
        )
        return _policies.mesh_policies(
            self._policies,
            self.model.relations,
            app=self._charm.app.name,
            namespace=self.model.name,
            cross_model=cross_model,
        )

    def update_service_mesh(self) -> None:
        """Publish the policies and cross-model data now (leader only; upstream's name).

        The consumer already does this on its events. A field that holds the value already
        is not written again.
        """
        if not self._charm.unit.is_leader():
            return
        app = self._charm.app
        policies = json.dumps(self.mesh_policies())
        for relation in self.model.relations[self._endpoint]:
            _set_field(relation.data[app], 'policies', policies)
        if self._cmr_requires is not None:
            source = _policies.CrossModelSource(app.name, self.model.name).to_wire()
            for relation in self.model.relations[self._cmr_requires]:
                _set_field(relation.data[app], 'cmr_data', source)

    def labels(self) -> dict[str, str]:
        """The labels the provider asks for now (empty with no relation).

        Raises:
            InvalidRelationDataError: a field is not JSON or has the wrong type.
            InvalidLabelsError: a label is invalid, refused, or two relations disagree.
        """
        merged: dict[str, str] = {}
        for relation in self.model.relations[self._endpoint]:
            labels = parse_provider_data(relation.data[relation.app])
            for key, value in labels.items():
                if merged.get(key, value) != value:
                    raise _errors.InvalidLabelsError(
                        key, f'label {key!r}: related applications ask for different values'
                    )
                merged[key] = value
        return merged

    def reconcile(self) -> None:
        """Reconcile now (leader only); the consumer already does this on its events.

        Records any problem for collect-status; lets :class:`TransientError` out so the
        hook fails and Juju retries it.
        """
        if not self._charm.unit.is_leader():
            return
        refused = ''
        try:
            desired = self.labels()
        except (_errors.InvalidRelationDataError, _errors.InvalidLabelsError) as e:
            # Nothing of this data is applied; a batch a leader left half done (killed or
            # deposed as the data changed) is finished, so no object keeps a mix.
            refused = f'{self._endpoint} relation data: {e}'
            desired = None
        try:
            problem = self._reconcile_objects(desired)
        except _errors.ClusterUnreachableError:
            if not refused:
                raise
            # No cluster, so no ledger and no batch to finish (a charm's unit test without
            # FakeCluster): the data is what to fix.
            problem = None
        if refused:
            self._set_problem(refused)
        elif problem is not None:
            self._set_problem(problem)

    def _reconcile_objects(self, desired: Mapping[str, str] | None) -> str | None:
        """Reconcile to ``desired`` (None: only finish a batch left open).

        Returns the problem to show ('' for none), or None to leave it as it is (leadership
        was lost on the way). Lets :class:`TransientError` out.
        """
        try:
            with self._client() as client:
                manager = self._manager(client)
                if desired is None:
                    result = manager.finish_open_batch()
                else:
                    result = manager.reconcile(desired)
        except _errors.InvalidLabelsError as e:
            return f'{self._endpoint} relation data: {e}'
        except (_errors.LedgerCorruptError, _errors.ApiRefusedError) as e:
            return str(e)
        except _errors.PermissionDeniedError as e:
            logger.warning('Kubernetes API refused: %s', e)
            return trust_message(self._charm.app.name)
        except _errors.TransientError as e:
            unreachable = _unreachable(e)
            if unreachable is e:
                raise
            raise unreachable from e
        return None if result.outcome is _manager.Outcome.NOT_LEADER else ''

    def _set_problem(self, problem: str) -> None:
        problem = _errors.bounded(problem)
        if problem:
            logger.warning('labels not applied: %s', problem)
        self._stored.problem = problem

    def _on_event(self, event: ops.EventBase) -> None:
        if self._stored.departing or (
            isinstance(event, ops.RelationBrokenEvent) and self._removed_by_juju()
        ):
            # This unit is being removed: its relation-broken is its own leaving, not the
            # relation's removal, and it may still be leader then (Juju's lease runs on).
            # The next leader reconciles from its election.
            return
        self.update_service_mesh()
        self.reconcile()

    def _removed_by_juju(self) -> bool:
        """Whether Juju is removing this unit, asked of the controller (goal-state).

        The departing mark is StoredState, lost with the pod: a unit whose pod is deleted
        between its relation-departed and relation-broken comes back without it. Juju
        removes the highest ordinals, unit ``app/N`` being pod ``app-N`` (juju
        caas/kubernetes/provider/application ``UnitsToRemove``), and planned units count
        the units that are not Dying (juju apiserver/facades/agent/uniter
        ``goalStateUnits``; ops ``Application.planned_units``): none when the application
        is being removed.
        """
        number = int(self._charm.unit.name.rpartition('/')[2])
        return number >= self._charm.app.planned_units()

    def _on_departed(self, event: ops.RelationDepartedEvent) -> None:
        # Juju names the local unit as the departing one when this unit or its
        # application is no longer alive (scale-down, remove-application; juju
        # internal/worker/uniter/relation/resolver.go nextHookForRelation), and this
        # unit's relation-broken follows.
        if event.departing_unit == self._charm.unit:
            self._stored.departing = True

    def _on_collect_unit_status(self, event: ops.CollectStatusEvent) -> None:
        if self.problem and self._charm.unit.is_leader():
            event.add_status(ops.BlockedStatus(self.problem))

    def _client(self) -> contextlib.AbstractContextManager[lightkube.Client]:
        """The factory's client as it is, or a default client closed after the reconcile."""
        if self._client_factory is not None:
            client = self._client_factory()
            _refuse_mock(client)
            return contextlib.nullcontext(client)
        app = self._charm.app.name
        client = default_client(self.model.name, f'{app}-k8s-labels')
        _refuse_mock(client)
        return contextlib.closing(client)

    def _manager(self, client: lightkube.Client) -> _manager.LabelManager:
        app = self._charm.app.name
        unit = self._charm.unit
        return self.manager_class(
            OWNER,
            namespace=self.model.name,
            app=app,
            client=client,
            writer=unit.name,
            is_leader=unit.is_leader,
            legacy_configmap=LEGACY_CONFIGMAP.format(app=app),
            retry_delays=self._retry_delays,
        )


def _set_field(databag: ops.RelationDataContent, key: str, value: str) -> None:
    if databag.get(key) != value:
        databag[key] = value


class ServiceMeshProvider(ops.Object):
    """Publish the labels consumers must carry to join the mesh.

    The charm calls :meth:`publish` from its own event handlers (for example on
    relation-created and config-changed); only the leader writes.

    Args:
        charm: the charm.
        endpoint: the ``service_mesh`` provides endpoint in ``charmcraft.yaml``.
    """

    def __init__(self, charm: ops.CharmBase, endpoint: str = 'service-mesh'):
        super().__init__(charm, f'{endpoint}-provider')
        self._charm = charm
        self._endpoint = endpoint

    def publish(
        self, labels: Mapping[str, str], *, mesh_type: str = 'istio', validate: bool = True
    ) -> None:
        """Write ``labels`` and ``mesh_type`` to every relation on the endpoint.

        Does nothing on a unit that is not the leader. A field that already holds the
        value is not written again (ops' ``RelationDataContent.update`` sends only the
        keys that change to ``relation-set``), so a charm may call this on every event.
        Label keys are sorted in the JSON, so the same labels in another order are the
        same value. Other keys in the databag are left as they are.

        Args:
            labels: the labels consumers must carry.
            mesh_type: the mesh kind, sent as a JSON string.
            validate: check ``labels`` with :func:`validate_labels` first (tests that
                need to send bad data to a consumer turn it off).

        Raises:
            InvalidLabelsError: ``validate`` is true and a label is invalid or refused.
        """
        data = _validation.validate_labels(labels) if validate else dict(labels)
        if not self._charm.unit.is_leader():
            return
        fields = {'labels': json.dumps(data, sort_keys=True), 'mesh_type': json.dumps(mesh_type)}
        for relation in self.model.relations[self._endpoint]:
            relation.data[self._charm.app].update(fields)
