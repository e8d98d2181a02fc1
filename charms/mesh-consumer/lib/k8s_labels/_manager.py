"""LabelManager: keeps one owner's labels on an application's Kubernetes objects."""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable, Mapping, Sequence

import lightkube

from . import _validation


class Outcome(enum.Enum):
    """What a reconcile did."""

    UNCHANGED = 'unchanged'
    """Every object already matched; nothing was written."""
    APPLIED = 'applied'
    """At least one write was made; the objects now match."""
    NOT_LEADER = 'not-leader'
    """Leadership was lost before or during the reconcile; it stopped writing."""
    GONE = 'gone'
    """The StatefulSet does not exist (the application is being removed)."""


@dataclasses.dataclass(frozen=True)
class ReconcileResult:
    """The result of :meth:`LabelManager.reconcile`.

    Attributes:
        outcome: what the reconcile did.
        attempts: how many read-plan-write rounds it took (more than one after a 409).
    """

    outcome: Outcome
    attempts: int


class LabelManager:
    """Keep an owner's labels on an application's StatefulSet template, Pods and Service.

    General: any charm library can use it under its own ``owner`` name. Labels written by
    anything else are left alone unless the owner's desired labels name the same key;
    then the key is taken over while desired and its earlier value given back on release.
    State lives in a ledger ConfigMap, ``{app}-k8s-labels-{owner}``, owned by the
    StatefulSet, so it survives leader changes and pod restarts.

    Args:
        owner: a short name for the library using the manager (lowercase letters, digits,
            ``-``); each owner has its own ledger and never touches another owner's keys.
        namespace: the application's namespace (the Juju model name).
        app: the application name: StatefulSet ``{app}``, Service ``{app}``, Pods
            selected by ``app.kubernetes.io/name={app}``.
        client: a lightkube client allowed to read and patch those objects and to
            manage ConfigMaps in the namespace.
        writer: who is writing: the unit name. Combined with the uid of ``writer_pod``
            it tells one incarnation of a unit from the next.
        writer_pod: the name of the pod this code runs in, if any.
        is_leader: called before each write batch and after every conflict; when it
            returns False the reconcile stops writing. On Juju pass
            ``charm.unit.is_leader``.
        legacy_configmap: the name of a ConfigMap left by the upstream ``service_mesh``
            library (``data.labels`` = JSON object); read once when this owner's ledger
            does not exist yet, its keys adopted as previously managed, then deleted.
        max_attempts: read-plan-write rounds before giving up on conflicts (409).
        retry_delays: seconds to wait before each retry of a call that failed with a
            5xx or a connection error; one retry per entry.
        sleep: how to wait (tests pass a no-op).
    """

    def __init__(
        self,
        owner: str,
        *,
        namespace: str,
        app: str,
        client: lightkube.Client,
        writer: str,
        writer_pod: str | None = None,
        is_leader: Callable[[], bool] = lambda: True,
        legacy_configmap: str | None = None,
        max_attempts: int = 5,
        retry_delays: Sequence[float] = (0.5, 2.0),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.owner = owner
        self.namespace = namespace
        self.app = app
        self.client = client
        self.writer = writer
        self.writer_pod = writer_pod
        self.is_leader = is_leader
        self.legacy_configmap = legacy_configmap
        self.max_attempts = max_attempts
        self.retry_delays = tuple(retry_delays)
        self.sleep = sleep

    @property
    def ledger_name(self) -> str:
        """The name of this owner's ledger ConfigMap."""
        return f'{self.app}-k8s-labels-{self.owner}'

    def reconcile(self, desired: Mapping[str, str]) -> ReconcileResult:
        """Make the objects carry exactly ``desired`` among this owner's labels.

        Validates ``desired`` before any API call.

        Raises:
            InvalidLabelsError: ``desired`` is invalid; nothing was read or written.
            LedgerCorruptError: the ledger cannot be parsed; nothing was written.
            PermissionDeniedError: the API answered 403.
            TransientError: retries ran out; the hook should fail so Juju retries it.
        """
        _validation.validate_labels(desired)
        raise NotImplementedError
