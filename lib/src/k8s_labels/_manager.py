"""LabelManager: keeps one owner's labels on an application's Kubernetes objects."""

from __future__ import annotations

import dataclasses
import enum
import logging
import re
import time
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from http import HTTPStatus
from typing import TypeVar

import httpx2
import lightkube
from lightkube import types
from lightkube.models import meta_v1
from lightkube.resources import apps_v1, core_v1

from . import _errors, _ledger, _plan, _validation

logger = logging.getLogger(__name__)

_T = TypeVar('_T')
_Res = TypeVar('_Res', core_v1.ConfigMap, apps_v1.StatefulSet, core_v1.Service, core_v1.Pod)

APP_LABEL = 'app.kubernetes.io/name'
"""Juju's label that selects an application's pods (and the ledger's, for finding it)."""

OWNER_LABEL = 'k8s-labels/owner'
"""A label on the ledger ConfigMap naming its owner."""

FENCE_PREFIX = 'k8s-labels'
"""The prefix of the fence annotation (``k8s-labels/fence.<owner>``)."""

_OWNER_RE = re.compile(r'[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?')


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
        writer: who is writing: the unit name. A writer other than the one the ledger
            names claims the ledger before writing, and fences the objects if the other
            writer's last batch may still be in flight. (A restarted pod of the same unit
            need not: a StatefulSet runs at most one pod per identity, so the old process
            is gone, https://kubernetes.io/docs/tasks/run-application/force-delete-stateful-set-pod/.)
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
        self.is_leader = is_leader
        self.legacy_configmap = legacy_configmap
        self.max_attempts = max_attempts
        self.retry_delays = tuple(retry_delays)
        self.sleep = sleep
        if not _OWNER_RE.fullmatch(owner):
            raise ValueError(
                f'owner {owner!r}: use 1-40 lowercase letters, digits and "-", '
                'starting and ending with a letter or digit'
            )

    @property
    def ledger_name(self) -> str:
        """The name of this owner's ledger ConfigMap."""
        return f'{self.app}-k8s-labels-{self.owner}'

    @property
    def fence_annotation(self) -> str:
        """The annotation a new writer bumps on each object to fence a stale writer."""
        return f'{FENCE_PREFIX}/fence.{self.owner}'

    def reconcile(self, desired: Mapping[str, str]) -> ReconcileResult:
        """Make the objects carry exactly ``desired`` among this owner's labels.

        Validates ``desired`` before any API call. Reads the ledger, the StatefulSet, the
        Service and the Pods once per attempt; writes nothing when nothing differs.

        Raises:
            InvalidLabelsError: ``desired`` is invalid (nothing was read or written), or
                its ledger would not fit in a ConfigMap (nothing was written).
            LedgerCorruptError: the ledger cannot be parsed, or is another application's;
                nothing was written.
            PermissionDeniedError: the API answered 403.
            ApiRefusedError: the API refused a request with an answer retrying will not
                change (400, 422, a 404 on the Pod list, ...).
            TransientError: retries ran out; the hook should fail so Juju retries it.
        """
        wanted = _validation.validate_labels(desired)
        for attempt in range(1, self.max_attempts + 1):
            # Before each batch and after every conflict: ops re-asks Juju once its cached
            # answer is older than the 30 s lease guarantee (ops/model.py,
            # _ModelBackend.is_leader and LEASE_RENEWAL_PERIOD), so a leader that stalled
            # past its lease learns it here.
            if not self.is_leader():
                return ReconcileResult(Outcome.NOT_LEADER, attempt)
            snapshot = self._read()
            if snapshot is None:
                return ReconcileResult(Outcome.GONE, attempt)
            plan = self._plan(snapshot, wanted)
            if plan.writes == 0:
                return ReconcileResult(Outcome.UNCHANGED, attempt)
            _check_size(plan, wanted)
            if not self.is_leader():
                return ReconcileResult(Outcome.NOT_LEADER, attempt)
            try:
                self._execute(plan, snapshot)
            except _ConflictError as e:
                logger.info('reconcile of %s labels: %s; re-reading', self.owner, e)
                continue
            return ReconcileResult(Outcome.APPLIED, attempt)
        # After the last conflict too: a leader deposed while it retried has nothing to
        # retry, and failing its hook would only put it in error (chaos seed 2026, 549).
        if not self.is_leader():
            return ReconcileResult(Outcome.NOT_LEADER, self.max_attempts)
        raise _errors.TransientError(
            f'{self.owner} labels: gave up after {self.max_attempts} attempts that each '
            'met a conflicting write (409)'
        )

    def finish_open_batch(self) -> ReconcileResult:
        """Finish a write batch that was cut short, to the labels it set out to apply.

        For when the labels asked for now cannot be applied (the caller refused them): a
        writer killed or deposed mid-batch leaves some objects with the new labels and
        some with the old; this makes every object carry the batch's labels. Writes
        nothing when no batch is open (or the ledger predates recorded targets).

        Raises:
            The errors of :meth:`reconcile`.
        """
        if not self.is_leader():
            return ReconcileResult(Outcome.NOT_LEADER, 1)
        # Only the ledger says whether a batch is open: the objects are read (and the
        # ledger checked as this application's) by the reconcile that finishes it.
        cm = self._get(core_v1.ConfigMap, self.ledger_name)
        text = _data(cm).get(_ledger.DATA_KEY) if cm is not None else None
        if text is None:
            return ReconcileResult(Outcome.UNCHANGED, 1)
        ledger = _ledger.loads(text, configmap=f'{self.namespace}/{self.ledger_name}')
        if not ledger.open or ledger.target is None:
            return ReconcileResult(Outcome.UNCHANGED, 1)
        logger.info('finishing the %s labels batch %s left open', self.owner, ledger.writer)
        return self.reconcile(ledger.target)

    def _plan(self, snapshot: _Snapshot, desired: Mapping[str, str]) -> _plan.Plan:
        return _plan.plan(
            snapshot.ledger,
            desired,
            snapshot.objects,
            writer=self.writer,
            legacy=snapshot.legacy,
            app=self.app,
        )

    # Reading.

    def _read(self) -> _Snapshot | None:
        ledger: _ledger.Ledger | None = None
        legacy: tuple[str, dict[str, str]] | None = None
        cm = self._get(core_v1.ConfigMap, self.ledger_name)
        old: core_v1.ConfigMap | None = None
        if cm is None and self.legacy_configmap is not None:
            old = self._get(core_v1.ConfigMap, self.legacy_configmap)
        sts = self._get(apps_v1.StatefulSet, self.app)
        if sts is None:
            return None
        if cm is not None:
            ledger = self._load_ledger(cm, sts)
        elif old is not None and self.legacy_configmap is not None:
            old_where = f'{self.namespace}/{self.legacy_configmap}'
            labels = _ledger.loads_legacy(_data(old).get('labels'), configmap=old_where)
            legacy = (self.legacy_configmap, labels)
        objects = [self._observe_statefulset(sts)]
        service = self._get(core_v1.Service, self.app)
        if service is not None:
            objects.append(self._observe(_plan.Kind.SERVICE, service.metadata))
        # Any answer but a list is an error here: even a namespace with no pods lists as [].
        pods = self._call(
            'list Pod',
            lambda: list(
                self.client.list(  # pyright: ignore[reportUnknownMemberType]
                    core_v1.Pod, namespace=self.namespace, labels={APP_LABEL: self.app}
                )
            ),
        )
        for pod in sorted(pods, key=lambda p: (p.metadata and p.metadata.name) or ''):
            meta = pod.metadata
            if meta is None or meta.deletionTimestamp is not None:
                # Going away: its labels die with it.
                continue
            objects.append(self._observe(_plan.Kind.POD, meta))
        owner_uid = sts.metadata.uid if sts.metadata and sts.metadata.uid else ''
        rv = cm.metadata.resourceVersion if cm is not None and cm.metadata else None
        return _Snapshot(ledger, rv, legacy, objects, owner_uid)

    def _load_ledger(self, cm: core_v1.ConfigMap, sts: apps_v1.StatefulSet) -> _ledger.Ledger:
        """Parse the ledger, refusing one that is not this application's.

        A ledger copied from another application would have the library remove that
        application's labels here: its ownerReference names the other StatefulSet, and
        its ``app`` field the other application.
        """
        where = f'{self.namespace}/{self.ledger_name}'

        def corrupt(problem: str) -> _errors.LedgerCorruptError:
            return _errors.LedgerCorruptError(
                where, f'ConfigMap {where} is corrupt: {problem}; fix or delete it'
            )

        text = _data(cm).get(_ledger.DATA_KEY)
        if text is None:
            raise corrupt(f'it has no data field {_ledger.DATA_KEY!r}')
        ledger = _ledger.loads(text, configmap=where)
        sts_uid = sts.metadata.uid if sts.metadata else None
        refs = [
            ref
            for ref in (cm.metadata.ownerReferences if cm.metadata else None) or []
            if ref.kind == 'StatefulSet'
        ]
        for ref in refs:
            if ref.name != self.app or (sts_uid and ref.uid != sts_uid):
                raise corrupt(
                    f'it is owned by StatefulSet {_errors.shown(ref.name)} '
                    f'(uid {_errors.shown(ref.uid)}), not by {self.app!r} (uid {sts_uid})'
                )
        if ledger.app and ledger.app != self.app:
            raise corrupt(f'it records application {_errors.shown(ledger.app)}, not {self.app!r}')
        if not ledger.app and not refs:
            raise corrupt('it names neither its application nor its owner StatefulSet')
        if ledger.legacy is not None and ledger.legacy != self.legacy_configmap:
            # The library deletes the ConfigMap this names: never one it did not adopt.
            raise corrupt(
                f'field "legacy" names {_errors.shown(ledger.legacy)}, not the upstream '
                f'ConfigMap {self.legacy_configmap!r}'
            )
        return ledger

    def _observe_statefulset(self, sts: apps_v1.StatefulSet) -> _plan.Observed:
        template = sts.spec.template.metadata if sts.spec and sts.spec.template else None
        return _observed(_plan.Kind.TEMPLATE, sts.metadata, template, self.fence_annotation)

    def _observe(self, kind: _plan.Kind, meta: meta_v1.ObjectMeta | None) -> _plan.Observed:
        return _observed(kind, meta, meta, self.fence_annotation)

    def _reread(self, target: _plan.Observed) -> _plan.Observed | None:
        """Read one object again, after a conflict on it; None if it is gone."""
        if target.kind is _plan.Kind.TEMPLATE:
            sts = self._get(apps_v1.StatefulSet, target.name)
            return None if sts is None else self._observe_statefulset(sts)
        if target.kind is _plan.Kind.SERVICE:
            service = self._get(core_v1.Service, target.name)
            return None if service is None else self._observe(target.kind, service.metadata)
        pod = self._get(core_v1.Pod, target.name)
        if pod is None or pod.metadata is None or pod.metadata.deletionTimestamp is not None:
            return None
        return self._observe(target.kind, pod.metadata)

    def _get(self, res: type[_Res], name: str) -> _Res | None:
        try:
            return self._call(
                f'get {res.__name__} {name}',
                lambda: self.client.get(res, name, namespace=self.namespace),
                handled={HTTPStatus.NOT_FOUND},
            )
        except httpx2.HTTPStatusError as e:
            if e.response.status_code == HTTPStatus.NOT_FOUND:
                return None
            raise

    # Writing.

    def _execute(self, plan: _plan.Plan, snapshot: _Snapshot) -> None:
        rv = snapshot.ledger_rv
        if plan.before is not None:
            rv = self._write_ledger(plan.before, rv, snapshot.owner_uid)
        if plan.delete_legacy is not None:
            self._delete_legacy(plan.delete_legacy)
        epoch = plan.after.epoch if plan.after is not None else 0
        for patch in plan.patches:
            self._patch(patch, epoch)
        if plan.after is not None:
            self._write_ledger(plan.after, rv, snapshot.owner_uid)

    def _write_ledger(self, ledger: _ledger.Ledger, rv: str | None, owner_uid: str) -> str:
        data = {_ledger.DATA_KEY: _ledger.dumps(ledger)}
        if rv is None:
            body = core_v1.ConfigMap(
                metadata=meta_v1.ObjectMeta(
                    name=self.ledger_name,
                    namespace=self.namespace,
                    labels={APP_LABEL: self.app, OWNER_LABEL: self.owner},
                    # Garbage-collected with the StatefulSet, so with the application
                    # (https://kubernetes.io/docs/concepts/architecture/garbage-collection/).
                    ownerReferences=[
                        meta_v1.OwnerReference(
                            apiVersion='apps/v1',
                            kind='StatefulSet',
                            name=self.app,
                            uid=owner_uid,
                        )
                    ],
                ),
                data=data,
            )
            created = self._write(
                f'create ConfigMap {self.ledger_name}', lambda: self.client.create(body)
            )
            return _rv(created.metadata if created else None)
        # A patch carrying metadata.resourceVersion is conditional: the API server answers
        # 409 if the object changed since that version (kubernetes/community
        # contributors/devel/sig-architecture/api-conventions.md, "Concurrency Control and
        # Consistency"; kubernetes/kubernetes#63104).
        patched = self._write(
            f'patch ConfigMap {self.ledger_name}',
            lambda: self.client.patch(  # pyright: ignore[reportUnknownMemberType]
                core_v1.ConfigMap,
                self.ledger_name,
                {'metadata': {'resourceVersion': rv}, 'data': data},
                namespace=self.namespace,
                patch_type=types.PatchType.MERGE,
            ),
        )
        return _rv(patched.metadata if patched else None)

    def _delete_legacy(self, name: str) -> None:
        try:
            self._call(
                f'delete ConfigMap {name}',
                lambda: self.client.delete(core_v1.ConfigMap, name, namespace=self.namespace),
                handled={HTTPStatus.NOT_FOUND},
            )
        except httpx2.HTTPStatusError as e:
            if e.response.status_code != HTTPStatus.NOT_FOUND:
                raise

    def _patch(self, patch: _plan.Patch, epoch: int) -> None:
        """Write one object, conditional on the resourceVersion it was read at.

        On a 409, if this unit is still the leader and the object's uid, labels and fence
        annotation are as they were (a status update, a controller's write: the plan
        for it is unchanged), write again at the new resourceVersion. Anything else
        raises a conflict and the reconcile starts over.
        """
        target = patch.target
        for _ in range(self.max_attempts):
            try:
                self._patch_once(patch, target, epoch)
                return
            except _ConflictError:
                # Leadership first: a stale leader must not chase the objects it was
                # fenced from.
                if not self.is_leader():
                    raise
                fresh = self._reread(target)
                if fresh is None and target.kind is _plan.Kind.POD:
                    return  # the pod went away, and its labels with it
                unchanged = fresh is not None and (fresh.uid, fresh.labels, fresh.fence) == (
                    target.uid,
                    target.labels,
                    target.fence,
                )
                if not unchanged or fresh is None:
                    raise
                target = fresh
        raise _ConflictError(f'{target.kind.value} {target.name}: keeps changing')

    def _patch_once(self, patch: _plan.Patch, target: _plan.Observed, epoch: int) -> None:
        metadata: dict[str, object] = {'resourceVersion': target.resource_version}
        if patch.fence:
            metadata['annotations'] = {self.fence_annotation: str(epoch)}
        body: dict[str, object] = {'metadata': metadata}
        labels = dict(patch.labels)
        res: type[apps_v1.StatefulSet | core_v1.Service | core_v1.Pod]
        if target.kind is _plan.Kind.TEMPLATE:
            res = apps_v1.StatefulSet
            if labels:
                # Changing the pod template rolls every pod; it is still written so that
                # pods created later carry the labels.
                body['spec'] = {'template': {'metadata': {'labels': labels}}}
        else:
            res = core_v1.Service if target.kind is _plan.Kind.SERVICE else core_v1.Pod
            if labels:
                metadata['labels'] = labels
        self._write(
            f'patch {res.__name__} {target.name}',
            lambda: self.client.patch(  # pyright: ignore[reportUnknownMemberType]
                res,
                target.name,
                body,
                namespace=self.namespace,
                patch_type=types.PatchType.MERGE,
            ),
            # A pod deleted since the read takes its labels with it.
            missing_ok=target.kind is _plan.Kind.POD,
        )

    def _write(self, what: str, fn: Callable[[], _T], *, missing_ok: bool = False) -> _T | None:
        """Run a conditional write; 409, and 404 unless ``missing_ok``, become conflicts."""
        try:
            return self._call(what, fn, handled={HTTPStatus.CONFLICT, HTTPStatus.NOT_FOUND})
        except httpx2.HTTPStatusError as e:
            code = e.response.status_code
            if code == HTTPStatus.NOT_FOUND and missing_ok:
                return None
            if code in (HTTPStatus.CONFLICT, HTTPStatus.NOT_FOUND):
                raise _ConflictError(f'{what}: {code}') from e
            raise

    def _call(self, what: str, fn: Callable[[], _T], *, handled: Collection[int] = ()) -> _T:
        """Run one API call and map every answer to an outcome.

        - 2xx: the result.
        - a status in ``handled``: the ``HTTPStatusError``, for the caller (404 on a get,
          409 on a conditional write, ...).
        - 403: :class:`PermissionDeniedError`.
        - 5xx, 429, 408, 410, a connection error, or an answer lightkube cannot read:
          retried a bounded number of times, then :class:`TransientError`.
        - any other status (400, 401, 404 unhandled, 405, 413, 422, ...):
          :class:`ApiRefusedError`: the same request would be refused again.

        A retried write is still conditional on the resourceVersion it carries, so if the
        first attempt was applied and only its response lost, the retry gets 409 and the
        reconcile re-reads.
        """
        delays = [*self.retry_delays, None]
        for delay in delays:
            try:
                return fn()
            except httpx2.HTTPStatusError as e:
                code = e.response.status_code
                if code in handled:
                    raise
                if code == HTTPStatus.FORBIDDEN:
                    raise _errors.PermissionDeniedError(f'{what}: {_message(e)}') from e
                if code < HTTPStatus.INTERNAL_SERVER_ERROR and code not in _RETRIED:
                    raise _errors.ApiRefusedError(
                        code, f'Kubernetes API refused to {what}: {_message(e)}'
                    ) from e
                failure: Exception = e
            except httpx2.TransportError as e:
                failure = e
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                # A 2xx whose body is not JSON or not the object asked for (lightkube
                # decodes it inside the call): as unreliable as a lost response.
                failure = e
            if delay is None:
                raise _errors.TransientError(
                    f'{what}: failed {len(delays)} times, last: {_message(failure)}'
                ) from failure
            logger.info('%s failed (%s); retrying in %ss', what, _message(failure), delay)
            self.sleep(delay)
        raise AssertionError('unreachable')


_RETRIED = frozenset(
    {
        HTTPStatus.TOO_MANY_REQUESTS,
        HTTPStatus.REQUEST_TIMEOUT,
        # A list's continue token expired (apimachinery StatusReasonExpired): list again.
        HTTPStatus.GONE,
    }
)
"""Statuses under 500 that a later attempt may not get."""


def _check_size(plan: _plan.Plan, desired: Mapping[str, str]) -> None:
    """Refuse, before any write, a plan whose ledger a ConfigMap could not store."""
    for ledger in (plan.before, plan.after):
        if ledger is None:
            continue
        size = len(_ledger.dumps(ledger).encode())
        if size > _ledger.MAX_BYTES:
            raise _errors.InvalidLabelsError(
                '',
                f'the {len(desired)} labels asked for need a ledger of {size} bytes, more '
                f'than a ConfigMap holds ({_ledger.MAX_BYTES} bytes): ask for fewer or '
                'shorter labels',
            )


class _ConflictError(Exception):
    """A conditional write met a newer object (409), or its object went away (404)."""


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    ledger: _ledger.Ledger | None
    ledger_rv: str | None
    legacy: tuple[str, dict[str, str]] | None
    objects: list[_plan.Observed]
    owner_uid: str


def _observed(
    kind: _plan.Kind,
    meta: meta_v1.ObjectMeta | None,
    label_meta: meta_v1.ObjectMeta | None,
    fence_annotation: str,
) -> _plan.Observed:
    if meta is None:
        raise _errors.TransientError(f'{kind.value} object without metadata')
    annotations = _str_map(meta.annotations)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    return _plan.Observed(
        kind=kind,
        name=meta.name or '',
        uid=meta.uid or '',
        resource_version=_rv(meta),
        labels=_str_map(label_meta.labels if label_meta else None),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        fence=annotations.get(fence_annotation, ''),
    )


def _data(cm: core_v1.ConfigMap) -> dict[str, str]:
    return _str_map(cm.data)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]


def _str_map(value: object) -> dict[str, str]:
    # lightkube's models type these maps as bare ``dict``.
    if not isinstance(value, dict):
        return {}
    items = typing.cast('dict[object, object]', value).items()
    return {str(k): str(v) for k, v in items}


def _rv(meta: meta_v1.ObjectMeta | None) -> str:
    if meta is None or not meta.resourceVersion:
        raise _errors.TransientError('the API returned an object without a resourceVersion')
    return meta.resourceVersion


def _message(e: Exception) -> str:
    """The API's answer in a line, its message cut (a 422 can quote the whole object)."""
    if isinstance(e, lightkube.ApiError) and e.status.message:
        text = f'{e.status.code} {e.status.message}'
    elif isinstance(e, httpx2.HTTPStatusError):
        text = f'{e.response.status_code} {e.response.reason_phrase}'
    else:
        text = f'{type(e).__name__}: {e}'
    return text if len(text) <= _MESSAGE_CHARS else f'{text[:_MESSAGE_CHARS]}... (cut)'


_MESSAGE_CHARS = 300
