"""The checker's bookkeeping: whose labels are whose, and which keys were ever desired.

The checker (:mod:`jujusim.check`) only observes; what it cannot read off the cluster (a
label someone else wrote, a key the provider once published and then dropped) is recorded
here as the model runs. So are the labels that must stay while the data stays: a check
judges settle points only, and a consumer that takes labels off and puts them back
between two of them (a unit being removed that takes its own relation-broken for the
relation's) would pass it. And so is every label a consumer's unit changes on an object
that is not its application's: the check reads only the application's own objects. And
so is a write of a deposed leader that lands on an object its successor has written
since: the labels the successor made right are overwritten between two settle points,
and only luck (a rolling restart, a later event) puts them right again.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..check import LabelExpectation, read_mesh_databag, untrusted_leader_problem
from ..kube import object_of_path
from ._databags import Relation
from ._world import World

MESH_INTERFACE = 'service_mesh'
APP_LABEL = 'app.kubernetes.io/name'  # Juju's selector label on an application's pods
WRITES = frozenset({'PATCH', 'PUT'})
# The requests that can overwrite an object that exists (a create fails if it does).
OVERWRITES = frozenset({'PATCH', 'PUT', 'DELETE'})
# The kind of problem a deposed leader's write makes (jujusim.explore's failure classes).
STALE_WRITE = 'stale write'
# How a consumer still Blocked on refused data once it was fixed is reported.
STILL_BLOCKED = 'still Blocked on refused data'

# The kinds whose labels a consumer's write to another application's object may change.
LABELLED_KINDS = frozenset({'Pod', 'Service', 'StatefulSet'})


@dataclasses.dataclass(frozen=True)
class Watched:
    """An object a unit's write is about to change, and what the write must leave on it.

    Attributes:
        app: the unit's application.
        kind: the object's kind.
        name: its name.
        before: its labels before the write (a StatefulSet's: metadata and pod template,
            the template's keys prefixed ``template:``, for another application's).
        must_stay: on the application's own object, the labels that must stay; None for
            another application's object, where no label may change.
        carried: on the application's own object, its identity in
            :attr:`Expectations.carried` (a Pod's by uid: a pod recreated under the same
            name is another object); None for another application's object.
    """

    app: str
    kind: str
    name: str
    before: dict[str, str]
    must_stay: dict[str, str] | None
    carried: str | None = None


def labels_of(data: Mapping[str, str]) -> dict[str, str] | None:
    """The labels a service-mesh provider databag asks for; None when a consumer must refuse it."""
    labels = read_mesh_databag(data).labels
    return None if labels is None else dict(labels)


class Expectations:
    """Labels written by others (Juju included) and keys ever desired, per application."""

    def __init__(self, world: World):
        self._world = world
        # Per object, the last value each key was given by someone else (None: removed).
        # Pods by uid.
        self.foreign_template: dict[str, dict[str, str | None]] = {}
        self.foreign_service: dict[str, dict[str, str | None]] = {}
        self.foreign_pods: dict[str, dict[str, str | None]] = {}
        self.foreign_other: dict[str, dict[str, str | None]] = {}  # by 'Kind/name'
        self.ever_desired: dict[str, set[str]] = {}
        # Per consumer, each key's values its provider ever asked for; per object of a
        # consumer (its template 'template/<app>', its Service, a Pod by uid), each key's
        # values seen on it before one of its units wrote it, or written by someone else.
        # A consumer's unit may write only those (a value given back belongs to the
        # object it came from; a Pod's may have come from the template).
        self.ever_values: dict[str, dict[str, set[str]]] = {}
        self.carried: dict[str, dict[str, set[str]]] = {}
        # Per consumer, the labels of the last provider data it could accept, and the
        # relation they came on: a relation removed since took them away (released).
        self.last_accepted: dict[str, tuple[int, dict[str, str]]] = {}
        # Per consumer, the labels the upstream library left (Faults.leave_upstream_
        # configmap): what earlier data had it apply, until data is accepted here.
        self.upstream_left: dict[str, dict[str, str]] = {}
        # Per consumer, a count of its provider's commits on the service-mesh relation.
        self.data_version: dict[str, int] = {}
        # Per consumer, the labels its last passing check found right, with the data
        # version and relation they rest on: until either changes, they must stay.
        self.steady: dict[str, tuple[int, int | None, dict[str, str]]] = {}
        # Per consumer, the writes of its own units that took such a label off, or changed
        # a label of another application's object, as text.
        self.taken_off: dict[str, list[str]] = {}
        # Per application, the leaders elected so far; per unit, the count when it was last
        # elected (its term; 0: it never led).
        self.elections: dict[str, int] = {}
        self.term: dict[str, int] = {}
        # Per application, per object ('Kind/name') its units wrote, the highest term of a
        # write that landed on it, and the unit that made it.
        self.written: dict[str, dict[str, tuple[int, str]]] = {}
        # Per application, every stale write (landed) so far, and how many of them a
        # check has taken (take_stale).
        self.stale: dict[str, list[str]] = {}
        self.stale_taken: dict[str, int] = {}
        # Per consumer, the Blocked message its leader showed for refused data at a check,
        # until a check finds the data accepted and that status gone.
        self.refused_status: dict[str, str] = {}
        # Per consumer, the labels its last passing check found right (kept as the data
        # changes): what a consumer that stopped writing must still carry.
        self.last_right: dict[str, dict[str, str]] = {}
        # Each ConfigMap ('name') a unit wrote, by its application (its record); the
        # applications whose record someone else changed or deleted since their units last
        # wrote it; and the store's ConfigMap events not looked at yet (on_kube_event).
        self.records: dict[str, str] = {}
        self.tampered: set[str] = set()
        # The applications whose record someone else deleted, until one of their units
        # next writes: the labels then on their objects are nobody's (lib/README.md).
        self.orphaned: set[str] = set()
        self._configmap_events: deque[tuple[str, str, str]] = deque()

    def juju_labels(self, app: str) -> None:
        """The labels Juju's provider put on a new application's objects are Juju's."""
        selector = {APP_LABEL: app}
        self.foreign_template[app] = dict[str, str | None](selector)
        self.foreign_service[app] = {**selector, 'app.kubernetes.io/managed-by': 'juju'}
        self.foreign_other[f'StatefulSet/{app}'] = dict(self.foreign_service[app])

    def juju_rewrote(self, app: str) -> None:
        """Juju re-ensured the StatefulSet: its own template keys hold Juju's values again.

        Its strategic-merge patch resets Juju's keys in the pod template and leaves every
        other key as it was; the StatefulSet's own labels go back as Juju read them, so
        whatever someone wrote there stays theirs (caas/kubernetes/provider/resources/
        statefulset.go ``Apply``: only the annotations and the template are replaced).
        """
        self.foreign_template.setdefault(app, {}).update({APP_LABEL: app})

    def foreign_write(self, kind: str, name: str, labels: Mapping[str, str | None]) -> None:
        """Someone else wrote ``labels`` on ``kind``/``name``.

        ``StatefulSet.template`` names the StatefulSet's pod template; any other kind
        names the object's own labels.
        """
        if kind == 'StatefulSet.template':
            self.foreign_template.setdefault(name, {}).update(labels)
            self._carry(f'template/{name}', labels)
        elif kind == 'Service' and name in self._world.apps:
            self.foreign_service.setdefault(name, {}).update(labels)
            self._carry(f'Service/{name}', labels)
        elif kind == 'Pod':
            world = self._world
            pod = world.kube.get('Pod', world.name, name) or {}
            uid = str(pod.get('metadata', {}).get('uid', ''))
            self.foreign_pods.setdefault(uid, {}).update(labels)
            self._carry(f'Pod/{uid}', labels)
        else:
            self.foreign_other.setdefault(f'{kind}/{name}', {}).update(labels)

    def provider_published(
        self, interface: str, consumer: str, data: Mapping[str, str], relation_id: int
    ) -> None:
        """A provider's application databag committed: its label keys were desired."""
        if interface == MESH_INTERFACE:
            self.data_version[consumer] = self.data_version.get(consumer, 0) + 1
            labels = labels_of(data)
            if labels is not None:  # refused data asks for nothing
                self.ever_desired.setdefault(consumer, set()).update(labels)
                values = self.ever_values.setdefault(consumer, {})
                for key, value in labels.items():
                    values.setdefault(key, set()).add(value)
                self.last_accepted[consumer] = (relation_id, labels)

    def desired_labels(self, app: str) -> dict[str, str] | None:
        """The labels ``app``'s provider publishes on its service-mesh relation.

        Empty with no relation; None when a consumer must refuse the data (see
        :func:`jujusim.check.read_mesh_databag`).
        """
        relation = self._mesh_relation(app)
        return {} if relation is None else labels_of(relation.bag(relation.other_app(app)).data)

    def expectation(self, app: str) -> LabelExpectation:
        """What R1-R4 require of ``app``'s objects now (see :mod:`jujusim.check`).

        When the provider's data must be refused, the consumer is Blocked and changes
        nothing: the labels stay those of the last data it could accept. That is the
        last valid data the provider published on this relation (none if it came only on
        a relation removed since: the consumer released those labels; with none ever,
        what the upstream library left, if it left any), which assumes the
        consumer applied it before the data went bad (a run that settles in between); a
        consumer that never saw it would rightly keep older labels.
        """
        blocked: str | None = None
        desired: dict[str, str] = {}  # no relation asks for nothing
        relation = self._mesh_relation(app)
        if relation is not None:
            data = relation.bag(relation.other_app(app)).data
            labels = labels_of(data)
            if labels is None:
                blocked = read_mesh_databag(data).refused
                # Never accepted any: what the upstream library applied stays (a consumer
                # that took over from it changes nothing on data it refuses).
                left = self.upstream_left.get(app, {})
                accepted_on, last = self.last_accepted.get(app, (relation.id, left))
                desired = dict(last) if accepted_on == relation.id else {}
            else:
                desired = labels
        ever = self.ever_desired.setdefault(app, set())
        ever.update(desired)
        return LabelExpectation(
            namespace=self._world.name,
            app=app,
            desired=desired,
            released=frozenset(ever - desired.keys()),
            template_foreign=dict(self.foreign_template.get(app, {})),
            service_foreign=dict(self.foreign_service.get(app, {})),
            pod_foreign={uid: dict(v) for uid, v in self.foreign_pods.items()},
            other_foreign={ref: dict(v) for ref, v in self.foreign_other.items()},
            blocked=blocked,
        )

    def settled_right(self, app: str, desired: Mapping[str, str]) -> None:
        """A check found ``app``'s labels right: ``desired`` must stay while its data stays."""
        relation = self._mesh_relation(app)
        version = self.data_version.get(app, 0)
        self.steady[app] = (version, None if relation is None else relation.id, dict(desired))
        self.last_right[app] = dict(desired)

    def settle_point(self, app: str) -> None:
        """At a settle point: each desired label already on every object of ``app`` stays.

        As after a passing check (:meth:`settled_right`), for the labels right here only:
        a test that checks only at its end must still see a write that took one off and
        a later hook that put it back (:meth:`after_write`). Only for an application
        that requires a service-mesh relation; the data it asks for is then its own.
        """
        relation = self._mesh_relation(app)
        if (
            relation is None
            or self._world.apps[app].charm.endpoints.get(relation.endpoints[app]) != 'requires'
        ):
            return
        desired = self.expectation(app).desired
        found = self._own_labels(app)
        if not desired or not found:
            return
        right = {k: v for k, v in desired.items() if all(ls.get(k) == v for ls in found)}
        self.steady[app] = (self.data_version.get(app, 0), relation.id, right)

    def _own_labels(self, app: str) -> list[dict[str, str]]:
        """The labels of ``app``'s pod template, Service and live Pods; [] with no StatefulSet."""
        template = _judged_labels(app, 'StatefulSet', app, self._read('StatefulSet', app))
        if template is None:
            return []
        found = [template]
        service = _judged_labels(app, 'Service', app, self._read('Service', app))
        if service is not None:
            found.append(service)
        world = self._world
        for pod in world.kube.objects('Pod', world.name, selector=f'{APP_LABEL}={app}'):
            labels = _judged_labels(app, 'Pod', pod['metadata']['name'], pod)
            if labels is not None:
                found.append(labels)
        return found

    def on_kube_event(self, event: Any) -> None:
        """The fake API's watch callback: who wrote which ConfigMap."""
        # Runs under the fake API's lock, possibly on a server thread: only record.
        if event.kind == 'ConfigMap' and event.namespace == self._world.name:
            self._configmap_events.append((event.type, event.name, event.caller))

    def record_tampered(self, app: str) -> bool:
        """Whether someone else changed or deleted ``app``'s record since its units wrote it.

        A record is a ConfigMap ``app``'s units wrote (the library's ledger; the upstream
        library's ConfigMap). A consumer that cannot trust its record any more is right to
        stop writing labels (Blocked), as it is right to refuse bad data.
        """
        self._take_configmap_events()
        return app in self.tampered

    def _take_configmap_events(self) -> None:
        while self._configmap_events:
            kind, name, caller = self._configmap_events.popleft()
            writer = caller.rpartition('/')[0]
            if writer in self._world.apps:
                if kind != 'DELETED':
                    self.records[name] = writer
                    self.tampered.discard(writer)
            elif name in self.records and kind in ('MODIFIED', 'DELETED'):
                self.tampered.add(self.records[name])
                if kind == 'DELETED':
                    self.orphaned.add(self.records[name])

    def _disown(self, app: str) -> None:
        """Someone deleted ``app``'s record: the labels it managed are nobody's now.

        The library takes them for someone else's (lib/README.md, "Behaviour on
        failure": "delete it: the labels it recorded stay, as nobody's"), so R4 keeps
        them: taken over while asked for, given back after.
        """
        self.orphaned.discard(app)
        keys = self.ever_desired.get(app, set())
        world = self._world
        owned = [
            ('StatefulSet.template', app, self._read('StatefulSet', app), 'StatefulSet'),
            ('Service', app, self._read('Service', app), 'Service'),
        ]
        for pod in world.kube.objects('Pod', world.name):
            owned.append(('Pod', str(pod['metadata']['name']), pod, 'Pod'))
        for written_as, name, obj, kind in owned:
            labels = _judged_labels(app, kind, name, obj) or {}
            mine = {k: v for k, v in labels.items() if k in keys}
            if mine:
                self.foreign_write(written_as, name, mine)

    def stopped_writing(self, app: str, expectation: LabelExpectation) -> LabelExpectation:
        """What ``app``, Blocked once its record was tampered with, must still carry.

        The labels its last passing check found right: it changed nothing since. (Juju
        rewrites and others' writes are judged as always.)
        """
        last = self.last_right.get(app)
        if last is None or not self.record_tampered(app):
            return expectation
        ever = self.ever_desired.get(app, set())
        return dataclasses.replace(
            expectation, desired=dict(last), released=frozenset(ever - last.keys())
        )

    def steady_labels(self, app: str) -> dict[str, str] | None:
        """The labels that must stay on ``app``'s objects now.

        None once the data changed (or the relation went or came) since the check that
        found them right.
        """
        held = self.steady.get(app)
        if held is None:
            return None
        version, relation_id, labels = held
        relation = self._mesh_relation(app)
        now = (self.data_version.get(app, 0), None if relation is None else relation.id)
        if now != (version, relation_id):
            del self.steady[app]
            return None
        return labels

    def before_write(self, unit: str, method: str, path: str) -> Watched | None:
        """What a unit's request is about to write over, if it may change a label it must not.

        A label that must stay on the application's own object (:meth:`steady_labels`), or
        any label of another application's Pod, Service or StatefulSet (R4: nothing of the
        library's is asked for there); see :meth:`after_write`.
        """
        if self._configmap_events:
            self._take_configmap_events()
        app = unit.rpartition('/')[0]
        if app in self.orphaned:
            self._disown(app)  # before the first write of its units since
        if method not in WRITES:
            return None
        target = object_of_path(path)
        if target is None or target[1] != self._world.name or target[0] not in LABELLED_KINDS:
            return None
        kind, _, name = target
        # Read once, and only when needed: a Pod's application is in its labels, a
        # StatefulSet's or a Service's is its name.
        pod = self._read(kind, name) if kind == 'Pod' else None
        if (_app_of(pod) if kind == 'Pod' else name) != app:
            obj = pod if kind == 'Pod' else self._read(kind, name)
            return None if obj is None else Watched(app, kind, name, _all_labels(kind, obj), None)
        obj = pod if kind == 'Pod' else self._read(kind, name)
        before = _judged_labels(app, kind, name, obj)
        if before is None or obj is None:
            return None
        carried = _identity(app, kind, obj)
        self._carry(carried, before)
        return Watched(app, kind, name, before, self.steady_labels(app) or {}, carried)

    def after_write(self, unit: str, request: str, watched: Watched) -> None:
        """Record each label ``unit``'s write changed that it must not have."""
        app, kind, name, before = watched.app, watched.kind, watched.name, watched.before
        obj = self._read(kind, name)
        if watched.must_stay is None:
            after = {} if obj is None else _all_labels(kind, obj)
            for key in sorted(before.keys() | after.keys()):
                if before.get(key) != after.get(key):
                    self.taken_off.setdefault(app, []).append(
                        f'R4: {unit} {request} changed label {key} of {kind}/{name} (from '
                        f'{before.get(key)!r} to {after.get(key)!r}), an object not of {app}'
                    )
            return
        after = _judged_labels(app, kind, name, obj) or {}
        where = f'StatefulSet/{name} template' if kind == 'StatefulSet' else f'{kind}/{name}'
        for key, value in sorted(after.items()):
            if before.get(key) != value and not self._may_carry(app, watched, key, value):
                self.taken_off.setdefault(app, []).append(
                    f'R1-R3: {unit} {request} set {key}={value} on {where}, a value no data '
                    'the consumer could accept asked for and that object never carried '
                    "(refused data applied, or someone else's value given back to the "
                    'wrong object?)'
                )
        for key, value in sorted(watched.must_stay.items()):
            if before.get(key) == value and after.get(key) != value:
                self.taken_off.setdefault(app, []).append(
                    f'R1-R3: {unit} {request} took {key}={value} off {where} while the '
                    'data still asks for it (unchanged since the last check)'
                )

    def judge_status(
        self,
        app: str,
        refused: str | None,
        leader_status: tuple[str, str] | None,
        others: Mapping[str, tuple[str, str]],
    ) -> list[str]:
        """The problems with ``app``'s units' statuses (workload, message) at a check.

        ``refused``: why the provider's data must be refused now, or None. Refused data
        must leave the leader Blocked; once the data is accepted, the message it showed
        for the refused data must be gone from every unit (a consumer that never clears
        it would show a problem that was fixed: unless the labels change, no pod restarts
        to forget it; a unit that showed it as leader and leads no more runs the hook of
        the fixed data too). ``others``: every other unit's status, by unit.
        """
        workload, message = leader_status or ('', '')
        if refused is not None:
            if workload != 'blocked':
                shown = f'{workload} {message!r}' if leader_status else 'no leader'
                return [
                    f'{app} must be Blocked on refused data ({refused}); its leader is {shown}'
                ]
            self.refused_status[app] = message
            return []
        stale = self.refused_status.get(app)
        if stale is None:
            return []
        shown = {'the leader': (workload, message), **others}
        still = [who for who, status in shown.items() if status == ('blocked', stale)]
        if not still:
            del self.refused_status[app]
            return []
        return [
            f'{app} is {STILL_BLOCKED} ({stale!r}) on {", ".join(still)} though the data '
            f'asks for {self.desired_labels(app)} now'
        ]

    def judge_untrusted(
        self,
        app: str,
        refused: str | None,
        leader_status: tuple[str, str] | None,
        *,
        leader_in_error: bool,
    ) -> list[str]:
        """The problem with ``app``'s leader's status while it is untrusted, if any.

        Judged only with a service-mesh relation (``jujusim.check.untrusted_leader_problem``).
        """
        if self._mesh_relation(app) is None:
            return []
        problem = untrusted_leader_problem(
            app, leader_status, refused=refused, in_error=leader_in_error
        )
        return [] if problem is None else [problem]

    def leader_elected(self, app: str, unit: str) -> None:
        """A claim of ``app``'s lease by ``unit`` landed (a new holder): a new term."""
        self.elections[app] = self.elections.get(app, 0) + 1
        self.term[unit] = self.elections[app]

    def landed(self, unit: str, method: str, path: str, status: int | str, request: str) -> None:
        """Record a unit's request; a deposed leader's write, or an invalid one, is a problem.

        An invalid write is one the API refused with 422 (:meth:`_refused_write`).

        A write that lands on an object after a unit elected later than the writer wrote
        it undoes the successor's work: with conditional writes it cannot (the successor's
        write moved the resourceVersion), unless the writer read the object again after
        losing the lease, i.e. did not re-check leadership (docs/design-notes.md,
        "Leadership"). A unit that never led counts as of term 0: a design where every
        unit writes (the ADR's first rejected one, the upstream library) overwrites the
        leader's writes whichever unit led before.
        """
        if str(status) == '422' and method in WRITES:
            self._refused_write(unit, path, request)
        if method not in OVERWRITES or not str(status).startswith('2'):
            return
        target = object_of_path(path)
        if target is None or target[1] != self._world.name:
            return
        term = self.term.get(unit, 0)
        app = unit.rpartition('/')[0]
        ref = f'{target[0]}/{target[2]}'
        written = self.written.setdefault(app, {})
        last_term, last_unit = written.get(ref, (0, unit))
        if term >= last_term:
            written[ref] = (term, unit)
            return
        landed = f'{request} -> {status} landed on {ref} after'
        self.stale.setdefault(app, []).append(
            f'{STALE_WRITE}: {unit}, deposed, {landed} {last_unit}, elected later, had '
            "written it (a stale leader undoing its successor's labels)"
            if term
            else f'{STALE_WRITE}: {unit}, never leader, {landed} the leader {last_unit} had '
            "written it (a non-leader undoing the leader's labels)"
        )

    def _refused_write(self, unit: str, path: str, request: str) -> None:
        """A unit's write to its own labelled object that the API refused as invalid (422).

        The API server validates every label of every object it stores (kubernetes
        ``staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go``,
        ``ValidateLabels``; the fake API's ``kube._labels.validate_labels``), and nothing
        else a labelling consumer sends is at risk; so the consumer sent labels Kubernetes
        refuses: data it had to refuse itself before any call (lib/README.md, "Behaviour on
        failure"). The API kept the labels as they were, so the labels alone cannot show it.
        """
        target = object_of_path(path)
        if target is None or target[1] != self._world.name or target[0] not in LABELLED_KINDS:
            return
        kind, _, name = target
        app = unit.rpartition('/')[0]
        # A StatefulSet's pod is named <statefulset>-<ordinal>; nothing was stored to read.
        if (name.rpartition('-')[0] if kind == 'Pod' else name) != app:
            return
        refused = f'{unit} {request} -> 422: it sent labels the API refuses'
        if self.desired_labels(app) is None:
            problem = f'{app} must be Blocked on refused data before any write: {refused}'
        else:
            problem = f'R1-R3: {refused}'
        self.taken_off.setdefault(app, []).append(problem)

    def take_taken_off(self, app: str) -> list[str]:
        """What :meth:`after_write` and :meth:`_refused_write` recorded since the last call."""
        return self.taken_off.pop(app, [])

    def take_stale(self, app: str) -> list[str]:
        """The stale writes recorded by :meth:`landed` since the last call."""
        stale = self.stale.get(app, [])
        taken = self.stale_taken.get(app, 0)
        self.stale_taken[app] = len(stale)
        return stale[taken:]

    def _carry(self, carried: str, labels: Mapping[str, str | None]) -> None:
        values = self.carried.setdefault(carried, {})
        for key, value in labels.items():
            if value is not None:
                values.setdefault(key, set()).add(value)

    def _may_carry(self, app: str, watched: Watched, key: str, value: str) -> bool:
        """Whether a unit of ``app`` may write ``key``=``value`` on the watched object."""
        if value in self.ever_values.get(app, {}).get(key, ()):
            return True
        if self.upstream_left.get(app, {}).get(key) == value:
            return True
        places = [watched.carried or '']
        if watched.kind == 'Pod':
            places.append(f'template/{app}')  # a pod starts with its template's labels
        return any(value in self.carried.get(place, {}).get(key, ()) for place in places)

    def _read(self, kind: str, name: str) -> dict[str, Any] | None:
        """A copy of the object of ``kind`` named ``name`` in the model's namespace."""
        world = self._world
        return world.kube.get(kind, world.name, name)

    def _mesh_relation(self, app: str) -> Relation | None:
        """``app``'s service-mesh relation to a provider, if it has one now."""
        for relation in self._world.relations.values():
            if relation.removed or relation.interface != MESH_INTERFACE:
                continue
            if app in relation.endpoints and relation.other_app(app) != app:
                return relation
        return None


def _identity(app: str, kind: str, obj: Mapping[str, Any]) -> str:
    """An own object's key in :attr:`Expectations.carried`: a Pod by uid."""
    if kind == 'Pod':
        return f'Pod/{obj.get("metadata", {}).get("uid", "")}'
    return f'template/{app}' if kind == 'StatefulSet' else f'{kind}/{app}'


def _app_of(pod: Mapping[str, Any] | None) -> str | None:
    """The application a Pod serves (Juju's selector label), if any."""
    return None if pod is None else pod.get('metadata', {}).get('labels', {}).get(APP_LABEL)


def _all_labels(kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """Every label of an object (a StatefulSet's pod template's too, prefixed ``template:``)."""
    labels: dict[str, str] = dict(obj.get('metadata', {}).get('labels') or {})
    if kind == 'StatefulSet':
        template = obj.get('spec', {}).get('template', {}).get('metadata', {})
        template_labels: dict[str, str] = template.get('labels') or {}
        labels.update({f'template:{k}': v for k, v in template_labels.items()})
    return labels


def _judged_labels(
    app: str, kind: str, name: str, obj: Mapping[str, Any] | None
) -> dict[str, str] | None:
    """The labels of ``app``'s own object that R1-R3 judge, or None.

    Its pod template, its Service, one of its live Pods; None for anything else.
    """
    if obj is None:
        return None
    meta = obj.get('metadata', {})
    if kind == 'StatefulSet' and name == app:
        meta = obj.get('spec', {}).get('template', {}).get('metadata', {})
    elif kind == 'Pod':
        # Another app's pod, or one going: what is written on it no longer matters.
        if meta.get('labels', {}).get(APP_LABEL) != app or meta.get('deletionTimestamp'):
            return None
    elif kind != 'Service' or name != app:
        return None
    return dict(meta.get('labels') or {})
