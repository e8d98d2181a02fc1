"""Weakened copies of the k8s_labels library: one per safety mechanism lib/README.md names.

Each copy is made at test time from the current ``lib/src/k8s_labels`` by replacing an
anchor text with a weakened version. The library is still being changed, so an anchor
that is no longer found exactly as often as expected raises :class:`AnchorMissingError`
instead of silently producing an unweakened copy: update the anchor, never delete the
check.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil

ROOT = pathlib.Path(__file__).parents[2]
LIBRARY = ROOT / 'lib' / 'src' / 'k8s_labels'
MESH_CONSUMER = ROOT / 'charms' / 'mesh-consumer'


class AnchorMissingError(AssertionError):
    """A weakening's anchor text is not in the library as expected: the library changed."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Edit:
    """Replace ``anchor`` by ``replacement`` in ``file``, which must hold it ``count`` times."""

    file: str
    anchor: str
    replacement: str
    count: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class Weakening:
    """One safety mechanism switched off.

    Attributes:
        name: a short id (test ids, reports).
        mechanism: the mechanism, in lib/README.md's words.
        edits: the source edits that switch it off.
    """

    name: str
    mechanism: str
    edits: tuple[Edit, ...]


WEAKENINGS: tuple[Weakening, ...] = (
    Weakening(
        name='no-write-ahead',
        mechanism='the ledger is written before any object (step 1)',
        edits=(
            Edit(
                file='_manager.py',
                anchor=(
                    '        if plan.before is not None:\n'
                    '            rv = self._write_ledger(plan.before, rv, snapshot.owner_uid)\n'
                ),
                replacement='',
            ),
        ),
    ),
    Weakening(
        name='write-ahead-lists-only-new-values',
        mechanism='the ledger written ahead lists both the old and the new value (step 1)',
        edits=(
            Edit(
                file='_plan.py',
                anchor='{desired, current} if ours and current is not None else {desired}',
                replacement='{desired}',
            ),
        ),
    ),
    Weakening(
        name='release-without-ownership-check',
        mechanism='release gives back only a value the entry lists (the ownership rule)',
        edits=(
            Edit(
                file='_plan.py',
                anchor='current is None or not ours or current == entry.foreign:',
                replacement='current is None or current == entry.foreign:',
            ),
        ),
    ),
    Weakening(
        name='release-deletes-foreign-value',
        mechanism='on release the earlier (foreign) value is written back',
        edits=(
            Edit(
                file='_plan.py',
                anchor=(
                    'return KeyPlan(True, entry.foreign, '
                    '_ledger.Entry(frozenset({current}), entry.foreign), None)'
                ),
                replacement=(
                    'return KeyPlan(True, None, '
                    '_ledger.Entry(frozenset({current}), entry.foreign), None)'
                ),
            ),
        ),
    ),
    Weakening(
        name='no-compaction',
        mechanism='after the objects, the ledger is written again, compacted to exactly what '
        'is on them (step 3)',
        edits=(
            Edit(
                file='_manager.py',
                anchor=(
                    '        if plan.after is not None:\n'
                    '            self._write_ledger(plan.after, rv, snapshot.owner_uid)\n'
                ),
                replacement='',
            ),
        ),
    ),
    Weakening(
        name='unconditional-ledger-writes',
        mechanism='every ledger write carries the resourceVersion read',
        edits=(
            Edit(
                file='_manager.py',
                anchor="{'metadata': {'resourceVersion': rv}, 'data': data}",
                replacement="{'data': data}",
            ),
        ),
    ),
    Weakening(
        name='no-409-retry',
        mechanism='a 409 re-reads and re-plans, up to 5 attempts',
        edits=(
            Edit(
                file='_manager.py',
                anchor=(
                    "                logger.info('reconcile of %s labels: %s; re-reading', "
                    'self.owner, e)\n'
                    '                continue\n'
                ),
                replacement='                raise _errors.TransientError(str(e)) from e\n',
            ),
        ),
    ),
    Weakening(
        name='blind-409-rewrite',
        mechanism="after a 409 on an object, the write is retried only if the object's uid, "
        'labels and fence are as read; otherwise the reconcile starts over',
        edits=(
            Edit(
                file='_manager.py',
                anchor='                if not unchanged or fresh is None:\n',
                replacement='                if fresh is None:\n',
            ),
        ),
    ),
    Weakening(
        name='no-fencing',
        mechanism='a new writer fences the objects when the ledger says a batch was open',
        edits=(
            Edit(
                file='_plan.py',
                anchor='fence = (claim and base.open) or base.fence_pending',
                replacement='fence = False',
            ),
        ),
    ),
    Weakening(
        name='claim-keeps-the-epoch',
        mechanism="a unit whose name differs from the ledger's writer first claims it "
        '(epoch + 1), and fences at that epoch: a fence written again at an epoch an object '
        'already carries moves no resourceVersion',
        edits=(
            Edit(
                file='_plan.py',
                anchor='    epoch = base.epoch + 1 if claim else base.epoch\n',
                replacement='    epoch = base.epoch\n',
            ),
        ),
    ),
    Weakening(
        name='pod-409-taken-for-gone',
        mechanism='after a 409 on an object, the write is retried if the unit is still '
        "leader and the object's uid, labels and fence are as read; a pod is given up only "
        'when it is gone',
        edits=(
            Edit(
                file='_manager.py',
                anchor='                if fresh is None and target.kind is _plan.Kind.POD:\n',
                replacement='                if target.kind is _plan.Kind.POD:\n',
            ),
        ),
    ),
    Weakening(
        name='never-rechecks-leadership',
        mechanism='leadership is checked before each write batch and after every conflict, '
        'and a unit that lost it stops (a stale leader fenced by a 409 gives up)',
        edits=(
            Edit(
                file='_manager.py',
                anchor='        self.is_leader = is_leader\n',
                replacement='        self.is_leader = lambda: True\n',
            ),
        ),
    ),
    Weakening(
        name='claim-drops-values-in-flight',
        mechanism='a claim of a ledger whose batch is open keeps every value the ledger lists '
        'until a batch has fenced every object',
        edits=(
            Edit(
                file='_plan.py',
                anchor='            if fence and key in entries:\n',
                replacement='            if False:\n',
            ),
        ),
    ),
    Weakening(
        name='forgets-unfinished-fence',
        mechanism='while fence_pending is set, every reconcile, by any unit, writes every '
        'object before it may compact',
        edits=(
            Edit(
                file='_plan.py',
                anchor='fence = (claim and base.open) or base.fence_pending',
                replacement='fence = claim and base.open',
            ),
        ),
    ),
    Weakening(
        name='no-leader-elected',
        mechanism='the leader reconciles on leader-elected (a new leader finishes what a '
        'deposed one left half done)',
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor='            on.leader_elected,\n',
                replacement='',
            ),
        ),
    ),
    Weakening(
        name='no-config-changed',
        mechanism='the leader reconciles on config-changed (Juju runs it on every unit once '
        'trust is granted: the fix for "run juju trust")',
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor='            on.config_changed,\n',
                replacement='',
            ),
        ),
    ),
    Weakening(
        name='untrusted-says-nothing',
        mechanism='a 403 leaves the leader Blocked naming juju trust (Behaviour on failure)',
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor='            return trust_message(self._charm.app.name)\n',
                replacement="            return ''\n",
            ),
        ),
    ),
    Weakening(
        name='releases-on-its-own-departure',
        mechanism='a unit being removed reconciles no more (its relation-broken is its own '
        "leaving, not the relation's removal)",
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor='        if self._stored.departing or (\n',
                replacement='        if False and (\n',
            ),
        ),
    ),
    Weakening(
        name='departure-known-from-stored-state-only',
        mechanism='a unit being removed whose pod was deleted before its relation-broken '
        '(its StoredState mark gone) asks Juju whether it is leaving',
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor='isinstance(event, ops.RelationBrokenEvent) and self._removed_by_juju()',
                replacement='False',
            ),
        ),
    ),
    Weakening(
        name='no-relation-broken',
        mechanism='reconcile on relation-broken: a removed relation asks for no labels',
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor='            on[endpoint].relation_broken,\n',
                replacement='',
            ),
        ),
    ),
    Weakening(
        name='refused-data-leaves-a-batch-open',
        mechanism='bad data: a batch a leader left half done is finished to its labels',
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor='            desired = None\n',
                replacement='            self._set_problem(refused)\n            return\n',
            ),
        ),
    ),
    Weakening(
        name='keeps-a-fixed-problem',
        mechanism='a reconcile that applies the data clears the Blocked status refused data '
        'set (Behaviour on failure: "fix the provider; the next event applies it")',
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor="return None if result.outcome is _manager.Outcome.NOT_LEADER else ''",
                replacement='return None',
            ),
        ),
    ),
    Weakening(
        name='swallows-an-outage',
        mechanism='an API still failing after the retries (5xx, 429, ...) fails the hook, '
        'so that Juju retries it (Behaviour on failure: "hook error (TransientError)")',
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor='            if unreachable is e:\n                raise\n',
                replacement='            if unreachable is e:\n                return str(e)\n',
            ),
        ),
    ),
    Weakening(
        name='a-500-taken-for-a-refusal',
        mechanism='every 5xx is retried, then fails the hook (Behaviour on failure): a 500 is '
        'not an answer retrying will not change',
        edits=(
            Edit(
                file='_manager.py',
                anchor='if code < HTTPStatus.INTERNAL_SERVER_ERROR and',
                replacement='if code <= HTTPStatus.INTERNAL_SERVER_ERROR and',
            ),
        ),
    ),
    Weakening(
        name='keeps-the-upstream-configmap',
        mechanism="the upstream library's ConfigMap, once adopted, is deleted (Switching "
        'from the upstream library)',
        edits=(
            Edit(
                file='_plan.py',
                anchor='build(before, open_=True), base.legacy, tuple(patches)',
                replacement='build(before, open_=True), None, tuple(patches)',
            ),
        ),
    ),
    Weakening(
        name='lists-every-pod',
        mechanism="only the application's own Pods are read and written (Juju's selector)",
        edits=(
            Edit(
                file='_manager.py',
                anchor=', labels={APP_LABEL: self.app}',
                replacement='',
            ),
        ),
    ),
    Weakening(
        name='no-validation',
        mechanism='label keys are validated before any API call (reserved keys refused)',
        edits=(Edit(file='_validation.py', anchor='        check_key(key)\n', replacement=''),),
    ),
    Weakening(
        name='value-length-off-by-one',
        mechanism="label values are checked against Kubernetes' syntax before any API call "
        '(at most 63 characters): the API would refuse them, but only after the write-ahead',
        edits=(
            Edit(
                file='_validation.py',
                anchor='    if value and (len(value) > _NAME_MAX or',
                replacement='    if value and (len(value) > _NAME_MAX + 1 or',
            ),
        ),
    ),
    Weakening(
        name='refuses-an-empty-value',
        mechanism="label values are checked against Kubernetes' syntax, which allows an "
        'empty value: valid data is applied, not refused',
        edits=(
            Edit(
                file='_validation.py',
                anchor='    if value and (len(value) > _NAME_MAX or',
                replacement='    if True and (len(value) > _NAME_MAX or',
            ),
        ),
    ),
    Weakening(
        name='mesh-type-only-json',
        mechanism='the provider data is validated whole: a mesh_type that is not a JSON '
        'string is refused',
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor='        if not isinstance(mesh_type, str):\n',
                replacement='        if False:\n',
            ),
        ),
    ),
    Weakening(
        name='reserved-prefix-partly-refused',
        mechanism='keys under the prefixes reserved for Kubernetes (kubernetes.io/, k8s.io/) '
        'are refused, each of them',
        edits=(
            Edit(
                file='_validation.py',
                anchor="frozenset({'kubernetes.io', 'k8s.io'})",
                replacement="frozenset({'kubernetes.io'})",
            ),
        ),
    ),
    Weakening(
        name='null-value-taken-as-absent',
        mechanism='a label value that is not a string is refused, null included (not read '
        'as no label)',
        edits=(
            Edit(
                file='_validation.py',
                anchor='        value = labels[key]\n',
                replacement=(
                    '        value = labels[key]\n'
                    '        if value is None:\n'
                    '            continue\n'
                ),
            ),
        ),
    ),
    Weakening(
        name='coerces-non-string-values',
        mechanism='a label value that is not a string is refused, never turned into one '
        '(Keys refused: the data is refused whole)',
        edits=(
            Edit(
                file='_validation.py',
                anchor='        if not isinstance(value, str):\n',
                replacement=(
                    '        if not isinstance(value, str):\n'
                    '            value = str(value)\n'
                    '        if not isinstance(value, str):\n'
                ),
            ),
        ),
    ),
    Weakening(
        name='pod-entries-ignore-uid',
        mechanism="a pod with no entry of its own inherits the template's entries: it was "
        'created from the template (The ledger; an entry for an earlier pod of that name '
        'is not its own)',
        edits=(
            Edit(
                file='_plan.py',
                anchor='    if record is not None and record.uid == obj.uid:\n',
                replacement='    if record is not None:\n',
            ),
        ),
    ),
    Weakening(
        name='empty-target-not-finished',
        mechanism='a batch a leader left half done is finished to the labels it was '
        'applying, so no object keeps a mix (Behaviour on failure), also when those '
        'labels are none',
        edits=(
            Edit(
                file='_manager.py',
                anchor='        if not ledger.open or ledger.target is None:\n',
                replacement='        if not ledger.open or not ledger.target:\n',
            ),
        ),
    ),
    Weakening(
        name='blocked-on-every-unit',
        mechanism="problems show on the leader's status only: a former leader, which "
        'reconciles no more, shows none once the data is fixed (Behaviour on failure)',
        edits=(
            Edit(
                file='_service_mesh.py',
                anchor='if self.problem and self._charm.unit.is_leader():',
                replacement='if self.problem:',
            ),
        ),
    ),
)


def weaken(library: pathlib.Path, weakening: Weakening) -> None:
    """Apply ``weakening``'s edits to the library package at ``library``, in place.

    Raises:
        AnchorMissingError: an anchor is not found exactly ``count`` times.
    """
    for edit in weakening.edits:
        path = library / edit.file
        text = path.read_text()
        found = text.count(edit.anchor)
        if found != edit.count:
            raise AnchorMissingError(
                f'{weakening.name}: expected {edit.count} of {edit.anchor!r} in '
                f'{path.name}, found {found}: the library changed; update the anchor'
            )
        path.write_text(text.replace(edit.anchor, edit.replacement))


def consumer_copy(target: pathlib.Path, weakening: Weakening | None) -> pathlib.Path:
    """A copy of mesh-consumer at ``target`` with the current library, weakened if asked."""
    shutil.copytree(
        MESH_CONSUMER,
        target,
        ignore=shutil.ignore_patterns('tests', 'lib', '__pycache__', '*.charm'),
    )
    library = target / 'lib' / 'k8s_labels'
    shutil.copytree(LIBRARY, library, ignore=shutil.ignore_patterns('__pycache__'))
    if weakening is not None:
        weaken(library, weakening)
    return target
