"""The StatefulSet controller (and the garbage collector), stepped one action at a time.

Rules follow https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/ and
``pkg/controller/statefulset/stateful_set_control.go``; each cites its section. A simulator
decides when the controller acts by calling ``step()``; every write goes through the store
(bumping resourceVersion) and is logged under ``statefulset-controller``.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Generator
from typing import Any

from . import _json, _log, _resources, _store

CONTROLLER = 'statefulset-controller'
"""The caller name of the StatefulSet controller's writes."""
GARBAGE_COLLECTOR = 'garbage-collector'
"""The caller name of the garbage collector's deletes."""

REVISION_LABEL = 'controller-revision-hash'
POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name'
POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index'
HASH_LABEL = 'controller.kubernetes.io/hash'

_IDLE = object()
_STS = _resources.resource_for_kind('StatefulSet')
_POD = _resources.resource_for_kind('Pod')
_REVISION = _resources.resource_for_kind('ControllerRevision')
# What one StatefulSet's sync read: each object (None: no object there) and its version.
_Inputs = list[tuple[_json.Obj | None, object]]


@functools.lru_cache(maxsize=256)
def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: Any) -> str:
    """The revision hash of a pod template.

    Like ``controller/history.HashControllerRevision``: FNV-32a of the revision data, its
    decimal form passed through ``rand.SafeEncodeString``.
    """
    digits = str(_fnv32a(_json.canonical(template).encode()))
    return ''.join(_store.SAFE_ALPHABET[ord(c) % len(_store.SAFE_ALPHABET)] for c in digits)


def _meta(obj: _json.Obj) -> _json.Obj:
    return _json.as_map(obj.get('metadata')) or {}


def _owned_by(obj: _json.Obj, uid: str) -> bool:
    refs = _json.as_list(_meta(obj).get('ownerReferences')) or []
    return any(_json.dig(r, 'uid') == uid and _json.dig(r, 'controller') is True for r in refs)


def is_ready(pod: _json.Obj) -> bool:
    """Running and Ready (``isRunningAndReady`` in statefulset/stateful_set_utils.go)."""
    if _json.dig(pod, 'status', 'phase') != 'Running':
        return False
    if _meta(pod).get('deletionTimestamp'):
        return False
    conditions = _json.as_list(_json.dig(pod, 'status', 'conditions')) or []
    return any(
        _json.dig(c, 'type') == 'Ready' and _json.dig(c, 'status') == 'True' for c in conditions
    )


def is_terminating(pod: _json.Obj) -> bool:
    """Deleted gracefully and not yet gone (``isTerminating`` in stateful_set_utils.go)."""
    return bool(_meta(pod).get('deletionTimestamp'))


def _owner_ref(sts: _json.Obj) -> _json.Obj:
    meta = _meta(sts)
    return {
        'apiVersion': 'apps/v1',
        'kind': 'StatefulSet',
        'name': meta.get('name'),
        'uid': meta.get('uid'),
        'controller': True,
        'blockOwnerDeletion': True,
    }


class StatefulSetController:
    """Reconciles every StatefulSet, one write per ``step()``."""

    def __init__(self, store: _store.Store, log: _log.RequestLog):
        self._store = store
        self._log = log
        # The StatefulSet acted on last: its uid, the store's resourceVersion after the
        # action, and its remaining actions (valid while nobody else has written).
        self._cached: tuple[str, int, Generator[None, None, None]] | None = None
        # Under graceful pod deletion: per StatefulSet uid, what its last sync read when it
        # found nothing to do (see _inputs); while that is unchanged it has nothing to do.
        self._idle: dict[str, _Inputs] = {}

    def _record(self, verb: str, kind: str, namespace: str, name: str, caller: str) -> None:
        self._log.add(
            caller=caller,
            verb=verb,
            kind=kind,
            namespace=namespace,
            name=name,
            status=201 if verb == 'create' else 200,
            applied=True,
        )

    def step(self) -> bool:
        """Take one action (a create, delete or status write); True if one was taken.

        The same action :meth:`step_reference` takes. A StatefulSet's state is kept from one
        step to the next while nothing else has written, so stepping a rollout through costs
        linear time, not quadratic. With graceful pod deletion (terminating pods, which the
        kept state does not model) it is :meth:`step_reference`, skipping the StatefulSets
        whose inputs have not changed since their last sync found nothing to do.
        """
        if self._store.graceful_pods:
            return self._step_skipping_idle()
        for sts in list(self._store.list(_STS, None)):
            uid = str(_meta(sts).get('uid'))
            cached = self._cached
            self._cached = None
            acted = False
            actions: Generator[None, None, None] | None = None
            if cached is not None and cached[:2] == (uid, self._store.resource_version):
                actions = cached[2]
                acted = next(actions, _IDLE) is not _IDLE
            if not acted:
                # Nothing kept, or the kept actions ended (after a new revision or a history
                # trim, which end a run early): look at the store afresh.
                actions = _FastSync(self, sts).actions()
                acted = next(actions, _IDLE) is not _IDLE
            if acted and actions is not None:
                self._cached = (uid, self._store.resource_version, actions)
                return True
        # Dependents whose owners never existed or vanished: the garbage collector.
        return self._collect_garbage_step(self._store.resource_version)

    def step_reference(self) -> bool:
        """One action, worked out afresh from the store.

        The reference :meth:`step` is tested against, and what it does under graceful pod
        deletion.
        """
        for sts in list(self._store.list(_STS, None)):
            if self._sync(sts):
                return True
        # Dependents whose owners never existed or vanished: the garbage collector.
        return self._collect_garbage_step(self._store.resource_version)

    def _step_skipping_idle(self) -> bool:
        """One action as :meth:`step_reference` takes it, with less reading.

        Each StatefulSet whose inputs are as they were when its last sync found nothing to
        do is skipped: most steps act on one StatefulSet, and the others were idle.
        """
        stateful_sets = list(self._store.list(_STS, None))
        live = {str(_meta(sts).get('uid')) for sts in stateful_sets}
        for uid in [u for u in self._idle if u not in live]:
            del self._idle[uid]
        for sts in stateful_sets:
            uid = str(_meta(sts).get('uid'))
            inputs = self._inputs(sts, uid)
            if _same_inputs(self._idle.get(uid), inputs):
                continue
            if self._sync(sts):
                self._idle.pop(uid, None)
                return True
            self._idle[uid] = inputs
        return self._collect_garbage_step(self._store.resource_version)

    def _inputs(self, sts: _json.Obj, uid: str) -> _Inputs:
        """Everything :meth:`_sync` reads for ``sts``, with each object's resourceVersion.

        The StatefulSet itself; every object it owns (its pods, its ControllerRevisions);
        and whatever holds each pod name below ``spec.replicas`` (a pod it does not own
        there blocks it). The store replaces an object on each write, or bumps its
        resourceVersion where it changes one in place (a pod marked terminating), so the
        same objects with the same versions are the same inputs. Objects, not versions
        alone: a store restored from a copy may reuse a version for other contents.
        """
        meta = _meta(sts)
        namespace, name = str(meta['namespace']), str(meta['name'])
        replicas = int(_json.dig(sts, 'spec', 'replicas') or 0)
        read: list[_json.Obj | None] = [sts, *self._store.dependents(uid)]
        read.extend(
            self._store.find(_POD, namespace, f'{name}-{ordinal}') for ordinal in range(replicas)
        )
        return [(obj, None if obj is None else _meta(obj).get('resourceVersion')) for obj in read]

    def settle(self, max_steps: int = 10_000) -> int:
        """Step until nothing is left to do; return the number of actions taken.

        The same actions, in the same order, as calling :meth:`step` until it returns
        False, at a cost linear in the pods: each StatefulSet's pods are read once and
        its status counted incrementally, where ``step`` re-reads everything per action.

        Raises:
            RuntimeError: if the controller is still acting after ``max_steps`` actions.
        """
        taken = self.run(max_steps)
        if taken is None:
            raise RuntimeError(f'controllers still acting after {max_steps} steps')
        return taken

    def run(self, budget: int) -> int | None:
        """Act as :meth:`settle` does, at most ``budget`` times.

        Returns:
            The number of actions taken if the controller is now idle; None if the budget
            ran out first (call again to go on).
        """
        taken = 0
        if self._store.graceful_pods:
            # Terminating pods are the reference's alone (see step()).
            while taken < budget:
                if not self._step_skipping_idle():
                    return taken
                taken += 1
            return None
        while True:
            acted = False
            for sts in list(self._store.list(_STS, None)):
                done = 0
                for _ in _FastSync(self, sts).actions():
                    done += 1
                    if taken + done >= budget:
                        return None
                taken += done
                if done:
                    acted = True
                    break  # as step() does: start again from the first StatefulSet
            if acted:
                continue
            if taken >= budget:
                return None
            before = self._store.resource_version
            if not self._collect_garbage_step(before):
                return taken
            taken += 1

    def _collect_garbage_step(self, before: int) -> bool:
        if not self._store.collect_garbage(GARBAGE_COLLECTOR):
            return False
        self._log.add(
            caller=GARBAGE_COLLECTOR,
            verb='delete',
            kind='',
            namespace='',
            name='',
            status=200,
            applied=self._store.resource_version != before,
        )
        return True

    # -- one StatefulSet ---------------------------------------------------------------------

    def _sync(self, sts: _json.Obj) -> bool:
        meta = _meta(sts)
        namespace, name, uid = str(meta['namespace']), str(meta['name']), str(meta['uid'])
        spec = _json.as_map(sts.get('spec')) or {}
        template = _json.as_map(spec.get('template')) or {}
        revisions = [r for r in self._store.list(_REVISION, namespace) if _owned_by(r, uid)]
        update_rev = f'{name}-{template_hash(template)}'
        if self._ensure_revision(sts, template, revisions, update_rev):
            return True
        revision_names = {str(_meta(r).get('name')) for r in revisions}
        stored_current = _json.dig(sts, 'status', 'currentRevision')
        current_rev = stored_current if stored_current in revision_names else update_rev
        pods = self._pods(namespace, name, uid)
        status = self._status(sts, pods, current_rev, update_rev)
        have = _json.as_map(sts.get('status')) or {}
        if any(have.get(k) != v for k, v in status.items()):
            new = _json.deep_copy(sts)
            new['status'] = {**have, **status}
            self._store.update(_STS, namespace, name, new, caller=CONTROLLER, subresource='status')
            self._record('update', 'StatefulSet', namespace, name, CONTROLLER)
            return True
        if self._pod_action(sts, pods, revisions, str(status['currentRevision']), update_rev):
            return True
        return self._truncate_history(sts, revisions, pods, status)

    def _ensure_revision(
        self,
        sts: _json.Obj,
        template: _json.Obj,
        revisions: list[_json.Obj],
        update_rev: str,
    ) -> bool:
        # Every template version is kept as a ControllerRevision owned by the StatefulSet
        # (https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#rolling-updates;
        # stateful_set_control.go getStatefulSetRevisions).
        meta = _meta(sts)
        namespace = str(meta['namespace'])
        numbers = [int(r.get('revision') or 0) for r in revisions]
        top = max(numbers, default=0)
        existing = next((r for r in revisions if _meta(r).get('name') == update_rev), None)
        if existing is None:
            labels = _json.str_map(_json.dig(template, 'metadata', 'labels'))
            labels[HASH_LABEL] = update_rev.rsplit('-', 1)[1]
            revision: _json.Obj = {
                'apiVersion': 'apps/v1',
                'kind': 'ControllerRevision',
                'metadata': {
                    'name': update_rev,
                    'namespace': namespace,
                    'labels': labels,
                    'ownerReferences': [_owner_ref(sts)],
                },
                'data': {'spec': {'template': {**template, '$patch': 'replace'}}},
                'revision': top + 1,
            }
            self._store.create(_REVISION, namespace, revision, caller=CONTROLLER)
            self._record('create', 'ControllerRevision', namespace, update_rev, CONTROLLER)
            return True
        if int(existing.get('revision') or 0) < top:
            # A template rolled back to an earlier revision re-uses it with the next number
            # (stateful_set_control.go: history.FindEqualRevisions then UpdateControllerRevision).
            new = _json.deep_copy(existing)
            new['revision'] = top + 1
            self._store.update(_REVISION, namespace, update_rev, new, caller=CONTROLLER)
            self._record('update', 'ControllerRevision', namespace, update_rev, CONTROLLER)
            return True
        return False

    def _pods(self, namespace: str, name: str, uid: str) -> dict[int, _json.Obj]:
        pods: dict[int, _json.Obj] = {}
        prefix = f'{name}-'
        for pod in self._store.list(_POD, namespace):
            pod_name = str(_meta(pod).get('name'))
            ordinal = pod_name[len(prefix) :]
            if pod_name.startswith(prefix) and ordinal.isdigit() and _owned_by(pod, uid):
                pods[int(ordinal)] = pod
        return pods

    @staticmethod
    def _status(
        sts: _json.Obj, pods: dict[int, _json.Obj], current_rev: str, update_rev: str
    ) -> dict[str, Any]:
        # stateful_set_control.go updateStatefulSet / computeReplicaStatus.
        revs = [_json.str_map(_meta(p).get('labels')).get(REVISION_LABEL) for p in pods.values()]
        ready = sum(1 for p in pods.values() if is_ready(p))
        status: dict[str, Any] = {
            'observedGeneration': _meta(sts).get('generation'),
            'replicas': len(pods),
            'readyReplicas': ready,
            'availableReplicas': ready,
            'currentReplicas': sum(1 for r in revs if r == current_rev),
            'updatedReplicas': sum(1 for r in revs if r == update_rev),
            'currentRevision': current_rev,
            'updateRevision': update_rev,
            'collisionCount': 0,
        }
        strategy = _json.dig(sts, 'spec', 'updateStrategy', 'type')
        wanted = _json.dig(sts, 'spec', 'replicas')
        if (
            strategy == 'RollingUpdate'
            and status['updatedReplicas'] == status['replicas'] == wanted
            and ready == status['replicas']
        ):
            # completeRollingUpdate: once every pod runs the update revision it is current.
            # A pod being replaced gracefully still counts; an immediate deletion does not,
            # hence the extra check against spec.replicas.
            status['currentRevision'] = update_rev
            status['currentReplicas'] = status['updatedReplicas']
        return status

    def _template_of(self, revisions: list[_json.Obj], revision: str) -> _json.Obj | None:
        for r in revisions:
            if _meta(r).get('name') == revision:
                template = _json.as_map(_json.dig(r, 'data', 'spec', 'template'))
                if template is not None:
                    return {k: v for k, v in template.items() if k != '$patch'}
        return None

    def _pod_action(
        self,
        sts: _json.Obj,
        pods: dict[int, _json.Obj],
        revisions: list[_json.Obj],
        current_rev: str,
        update_rev: str,
    ) -> bool:
        meta = _meta(sts)
        namespace, name = str(meta['namespace']), str(meta['name'])
        spec = _json.as_map(sts.get('spec')) or {}
        replicas = int(spec.get('replicas') or 0)
        # OrderedReady (the default) waits for each pod to be Running and Ready before the
        # next; Parallel does not (statefulset docs, "Pod Management Policies").
        ordered = spec.get('podManagementPolicy', 'OrderedReady') == 'OrderedReady'
        strategy = _json.dig(spec, 'updateStrategy', 'type') or 'RollingUpdate'
        partition = int(_json.dig(spec, 'updateStrategy', 'rollingUpdate', 'partition') or 0)
        for ordinal in range(replicas):
            pod = pods.get(ordinal)
            if pod is None:
                # "Deployment and Scaling Guarantees": pods are created in order 0..N-1, and a
                # deleted pod is recreated. Below the partition a pod keeps the current
                # revision ("Partitioned rolling updates"); at or above it, the update one.
                revision = current_rev if ordinal < partition else update_rev
                template = self._template_of(revisions, revision)
                if template is None:
                    template = _json.as_map(spec.get('template')) or {}
                    revision = update_rev
                if self._store.find(_POD, namespace, f'{name}-{ordinal}') is not None:
                    return False  # a pod of that name this StatefulSet does not own: stuck
                self._create_pod(sts, ordinal, template, revision)
                return True
            if ordered and not is_ready(pod):
                return False
        condemned = sorted((o for o in pods if o >= replicas), reverse=True)
        for ordinal in condemned:
            # Scaling down terminates pods from the highest ordinal; OrderedReady one at a
            # time, waiting for each to be gone, Parallel all at once (stateful_set_control.go
            # processCondemned: a terminating pod blocks only a monotonic, ordered set).
            if is_terminating(pods[ordinal]):
                if ordered:
                    return False
                continue
            self._delete_pod(namespace, pods[ordinal])
            return True
        if strategy != 'RollingUpdate':
            return False  # OnDelete: pods change only when someone deletes them.
        for ordinal in range(replicas - 1, partition - 1, -1):
            pod = pods[ordinal]
            revision = _json.str_map(_meta(pod).get('labels')).get(REVISION_LABEL)
            if revision != update_rev and not is_terminating(pod):
                # "Rolling Updates": the controller deletes and recreates each pod, from the
                # highest ordinal to the lowest, one at a time, waiting for each to be
                # Running and Ready before updating its predecessor.
                self._delete_pod(namespace, pod)
                return True
            if not is_ready(pod):
                return False
        return False

    def _create_pod(
        self, sts: _json.Obj, ordinal: int, template: _json.Obj, revision: str
    ) -> None:
        # stateful_set_utils.go newVersionedStatefulSetPod: template labels and annotations,
        # the identity labels (pod-index since v1.28), hostname/subdomain, controller ref.
        meta = _meta(sts)
        namespace, name = str(meta['namespace']), str(meta['name'])
        pod_name = f'{name}-{ordinal}'
        template_meta = _json.as_map(template.get('metadata')) or {}
        labels = _json.str_map(template_meta.get('labels'))
        labels.update(
            {
                REVISION_LABEL: revision,
                POD_NAME_LABEL: pod_name,
                POD_INDEX_LABEL: str(ordinal),
            }
        )
        pod_meta: _json.Obj = {
            'name': pod_name,
            'namespace': namespace,
            'labels': labels,
            'ownerReferences': [_owner_ref(sts)],
        }
        annotations = _json.str_map(template_meta.get('annotations'))
        if annotations:
            pod_meta['annotations'] = annotations
        pod_spec = _json.deep_copy(_json.as_map(template.get('spec')) or {})
        pod_spec['hostname'] = pod_name
        service = _json.dig(sts, 'spec', 'serviceName')
        if service:
            pod_spec['subdomain'] = service
        conditions = [
            {'type': t, 'status': 'True'}
            for t in ('PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady')
        ]
        conditions.append({'type': 'PodScheduled', 'status': 'True'})
        pod: _json.Obj = {
            'apiVersion': 'v1',
            'kind': 'Pod',
            'metadata': pod_meta,
            'spec': pod_spec,
            # The kubelet's part, done at once: the simulator decides timing by stepping.
            'status': {'phase': 'Running', 'conditions': conditions},
        }
        self._store.create(_POD, namespace, pod, caller=CONTROLLER, keep_status=True)
        self._record('create', 'Pod', namespace, pod_name, CONTROLLER)

    def _delete_pod(self, namespace: str, pod: _json.Obj) -> None:
        pod_name = str(_meta(pod).get('name'))
        self._store.delete(_POD, namespace, pod_name, caller=CONTROLLER)
        self._record('delete', 'Pod', namespace, pod_name, CONTROLLER)

    def _truncate_history(
        self,
        sts: _json.Obj,
        revisions: list[_json.Obj],
        pods: dict[int, _json.Obj],
        status: dict[str, Any],
    ) -> bool:
        # stateful_set_control.go truncateHistory: keep revisionHistoryLimit revisions that
        # no pod, nor the current or update revision, uses; delete the oldest beyond it.
        limit = int(_json.dig(sts, 'spec', 'revisionHistoryLimit') or 10)
        live = {status['currentRevision'], status['updateRevision']}
        live.update(
            _json.str_map(_meta(p).get('labels')).get(REVISION_LABEL) for p in pods.values()
        )
        idle = sorted(
            (r for r in revisions if _meta(r).get('name') not in live),
            key=lambda r: int(r.get('revision') or 0),
        )
        if len(idle) <= limit:
            return False
        namespace = str(_meta(sts)['namespace'])
        doomed = str(_meta(idle[0]).get('name'))
        self._store.delete(_REVISION, namespace, doomed, caller=CONTROLLER)
        self._record('delete', 'ControllerRevision', namespace, doomed, CONTROLLER)
        return True


def _same_inputs(before: _Inputs | None, now: _Inputs) -> bool:
    return (
        before is not None
        and len(before) == len(now)
        and all(a is b and va == vb for (a, va), (b, vb) in zip(before, now, strict=True))
    )


def _first_gap(ordinals: list[int]) -> int:
    """The lowest ordinal >= 0 not in ``ordinals`` (sorted, distinct, >= 0): O(log n).

    ``ordinals[i] - i`` never decreases, so the first ``i`` with ``ordinals[i] > i`` is the
    gap, found by bisection.
    """
    low, high = 0, len(ordinals)
    while low < high:
        middle = (low + high) // 2
        if ordinals[middle] > middle:
            high = middle
        else:
            low = middle + 1
    return low


class _FastSync:
    """One StatefulSet's consecutive actions, as repeated ``_sync`` calls take them.

    ``_sync`` (``step_reference``) recomputes the pods, the status and the next pod action
    from the store for every action: quadratic in the replicas over a whole rollout. Here the
    pods are read once and kept in step with each action this object takes (valid while
    nobody else writes: ``step`` checks the store's resourceVersion), with the status counted
    incrementally and the next ordinal to act on found from sorted lists, so a rollout costs
    O(n log n).
    """

    def __init__(self, controller: StatefulSetController, sts: _json.Obj):
        self.controller = controller
        self.store = controller._store
        self.sts = sts

    def actions(self) -> Generator[None, None, None]:
        """Take this StatefulSet's actions one by one, yielding after each; end when idle."""
        controller = self.controller
        meta = _meta(self.sts)
        namespace, name, uid = str(meta['namespace']), str(meta['name']), str(meta['uid'])
        spec = _json.as_map(self.sts.get('spec')) or {}
        template = _json.as_map(spec.get('template')) or {}
        revisions = [r for r in self.store.list(_REVISION, namespace) if _owned_by(r, uid)]
        update_rev = f'{name}-{template_hash(template)}'
        if controller._ensure_revision(self.sts, template, revisions, update_rev):
            yield  # then end: the next run starts again, with the new revision listed
            return
        revision_names = {str(_meta(r).get('name')) for r in revisions}
        pods = controller._pods(namespace, name, uid)
        replicas = int(spec.get('replicas') or 0)
        ordered = spec.get('podManagementPolicy', 'OrderedReady') == 'OrderedReady'
        strategy = _json.dig(spec, 'updateStrategy', 'type') or 'RollingUpdate'
        partition = int(_json.dig(spec, 'updateStrategy', 'rollingUpdate', 'partition') or 0)
        rev_of = {
            o: _json.str_map(_meta(p).get('labels')).get(REVISION_LABEL) for o, p in pods.items()
        }
        rev_counts: dict[str | None, int] = {}
        for rev in rev_of.values():
            rev_counts[rev] = rev_counts.get(rev, 0) + 1
        not_ready = {o for o, p in pods.items() if not is_ready(p)}
        ordinals = sorted(pods)  # every ordinal present, for the highest condemned one
        outdated = sorted(o for o, r in rev_of.items() if r != update_rev)
        while True:
            # -- the status write, as _sync does it first ------------------------------------
            stored_current = _json.dig(self.sts, 'status', 'currentRevision')
            current_rev = stored_current if stored_current in revision_names else update_rev
            ready = len(pods) - len(not_ready)
            status = self._status(
                len(pods),
                ready,
                rev_counts.get(current_rev, 0),
                rev_counts.get(update_rev, 0),
                current_rev,
                update_rev,
            )
            have = _json.as_map(self.sts.get('status')) or {}
            if any(have.get(k) != v for k, v in status.items()):
                new = _json.deep_copy(self.sts)
                new['status'] = {**have, **status}
                self.sts = self.store.update(
                    _STS, namespace, name, new, caller=CONTROLLER, subresource='status'
                )
                controller._record('update', 'StatefulSet', namespace, name, CONTROLLER)
                yield
                continue
            current_rev = str(status['currentRevision'])
            # -- the pod action (_pod_action) ----------------------------------------------
            action: tuple[str, int] | None = None
            gap = _first_gap(ordinals)
            first_missing = gap if gap < replicas else None
            bound = min(gap, replicas)  # ordered: a pod below it that is not ready blocks
            blocked = ordered and any(o < bound for o in not_ready)
            if first_missing is not None and not blocked:
                action = ('create', first_missing)
            elif not blocked:
                if ordinals and ordinals[-1] >= replicas:
                    action = ('delete', ordinals[-1])
                elif strategy == 'RollingUpdate':
                    low = max(partition, 0)
                    index = bisect.bisect_left(outdated, replicas) - 1
                    top_outdated = (
                        outdated[index] if index >= 0 and outdated[index] >= low else None
                    )
                    top_unready = max((o for o in not_ready if low <= o < replicas), default=None)
                    if top_outdated is not None and (
                        top_unready is None or top_outdated >= top_unready
                    ):
                        action = ('delete', top_outdated)
            if action is None:
                # -- history, then idle (_truncate_history) --------------------------------
                if self._truncate(revisions, rev_counts, status):
                    yield
                return
            verb, ordinal = action
            if verb == 'create':
                revision = current_rev if ordinal < partition else update_rev
                pod_template = controller._template_of(revisions, revision)
                if pod_template is None:
                    pod_template = template
                    revision = update_rev
                if self.store.find(_POD, namespace, f'{name}-{ordinal}') is not None:
                    return  # a pod of that name this StatefulSet does not own: stuck
                controller._create_pod(self.sts, ordinal, pod_template, revision)
                pod = self.store.get(_POD, namespace, f'{name}-{ordinal}')
                pods[ordinal] = pod
                bisect.insort(ordinals, ordinal)
                rev_of[ordinal] = revision
                rev_counts[revision] = rev_counts.get(revision, 0) + 1
                if revision != update_rev:
                    bisect.insort(outdated, ordinal)
                if not is_ready(pod):
                    not_ready.add(ordinal)
            else:
                controller._delete_pod(namespace, pods.pop(ordinal))
                del ordinals[bisect.bisect_left(ordinals, ordinal)]
                revision = rev_of.pop(ordinal)
                rev_counts[revision] -= 1
                index = bisect.bisect_left(outdated, ordinal)
                if index < len(outdated) and outdated[index] == ordinal:
                    outdated.pop(index)
                not_ready.discard(ordinal)
            yield

    def _status(
        self, count: int, ready: int, current: int, updated: int, current_rev: str, update_rev: str
    ) -> dict[str, Any]:
        # StatefulSetController._status, from counts.
        status: dict[str, Any] = {
            'observedGeneration': _meta(self.sts).get('generation'),
            'replicas': count,
            'readyReplicas': ready,
            'availableReplicas': ready,
            'currentReplicas': current,
            'updatedReplicas': updated,
            'currentRevision': current_rev,
            'updateRevision': update_rev,
            'collisionCount': 0,
        }
        strategy = _json.dig(self.sts, 'spec', 'updateStrategy', 'type')
        wanted = _json.dig(self.sts, 'spec', 'replicas')
        if strategy == 'RollingUpdate' and updated == count == wanted and ready == count:
            status['currentRevision'] = update_rev
            status['currentReplicas'] = updated
        return status

    def _truncate(
        self, revisions: list[_json.Obj], rev_counts: dict[str | None, int], status: dict[str, Any]
    ) -> bool:
        # StatefulSetController._truncate_history, with the pods' revisions from the counts.
        limit = int(_json.dig(self.sts, 'spec', 'revisionHistoryLimit') or 10)
        live = {status['currentRevision'], status['updateRevision']}
        live.update(rev for rev, n in rev_counts.items() if n > 0)
        idle = sorted(
            (r for r in revisions if _meta(r).get('name') not in live),
            key=lambda r: int(r.get('revision') or 0),
        )
        if len(idle) <= limit:
            return False
        namespace = str(_meta(self.sts)['namespace'])
        doomed = str(_meta(idle[0]).get('name'))
        self.store.delete(_REVISION, namespace, doomed, caller=CONTROLLER)
        self.controller._record('delete', 'ControllerRevision', namespace, doomed, CONTROLLER)
        return True
