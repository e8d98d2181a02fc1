"""Schedules in the scenario vocabulary: seeded random ones, and a bounded exhaustive set.

Every schedule starts the same way (the consumer with ``units`` units and trust, the
provider, the relation, settled and checked; one random schedule in eight as a charm
switching from the upstream library, its leftovers adopted) and ends with a settle and a
check; in between, each settle is followed by a check, so R1-R4 are judged at every point
the model settles, not only at the end.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
from collections.abc import Iterator, Mapping
from typing import cast

from ..scenarios import (
    UPSTREAM_CONFIGMAP,
    Action,
    ApiError,
    ApiOutage,
    Check,
    Concurrently,
    DeletePod,
    Deploy,
    ExpectNoConfigMap,
    ForeignLabels,
    Integrate,
    JujuRewrite,
    Kill,
    LeaderChange,
    PublishRaw,
    Refresh,
    RemoveRelation,
    RequestKind,
    RequestMatch,
    Scale,
    Scenario,
    SetLabels,
    Settle,
    Stall,
    Step,
    Trust,
    UpstreamLeftovers,
    WaitFaults,
    WaitRollout,
)

CONSUMER = 'consumer'
PROVIDER = 'beacon'
# A few keys and values, so steps meet each other's keys: a label taken over from
# someone else, a value changed and then dropped.
KEYS = ('foo', 'team', 'istio.io/dataplane-mode')
VALUES = ('a', 'b')
# Values someone else writes: never one the provider asks for. A foreign write of a value
# the library may have in flight (listed in its ledger, a stale leader's write not landed
# yet) cannot be told from that write landing; the library counts it as its own.
FOREIGN_VALUES = ('x', 'y')
# Keys a consumer must refuse: reserved for Juju or Kubernetes (lib/README.md, "Keys
# refused"; the checker's REFUSED_KEYS and REFUSED_PREFIXES), or not a Kubernetes label
# key at all (apimachinery validation.IsQualifiedName: a space, an empty prefix or name, a
# name that starts with a dash or ends in a newline (Python's '$' would let that pass), a
# name over 63 characters, a prefix that is no lowercase DNS subdomain, two slashes). Data
# naming one is bad data.
RESERVED = (
    'app.kubernetes.io/name',
    'app.kubernetes.io/managed-by',
    'controller-revision-hash',
    'statefulset.kubernetes.io/pod-name',
    'apps.kubernetes.io/pod-index',
    'pod-template-hash',
    'kubernetes.io/role',
    'k8s.io/pool',
)
NOT_LABEL_SYNTAX = (
    'foo bar',
    'team/',
    '-team',
    'k' * 64,
    'team\n',
    'Example.com/team',
    'example.com/a/team',
)
REFUSED = (*RESERVED, *NOT_LABEL_SYNTAX)
# Values Kubernetes refuses (validation.IsValidLabelValue: a space or a '!', over 63
# characters, a dash first, a final newline): a key asked for with one makes the data bad
# too.
INVALID_VALUES = ('not valid!', 'v' * 64, '-a', 'a\n')
# Values that are not strings, in a labels object that is otherwise what is asked for
# (JSON a provider's own code might write: a number, a flag, a null, a nested value).
NON_STRING_VALUES: tuple[object, ...] = (1, True, None, {'a': 'b'}, ['a'])
# A labels field that is no labels object at all: not JSON, cut short, a list.
MALFORMED_LABELS = ('not json', '{"foo": "a"', '["foo"]')
# The provider's bad data, by what is wrong with it (each kind as likely, whatever the
# number of cases it has): one label added to the data asked for, with a reserved key
# (published as usual), a key or a value that is not label syntax, or a value that is not
# a string; or a malformed labels field. What is not label syntax is published verbatim:
# beacon-stub checks the label syntax of its config and would not publish it from there.
REFUSED_DATA: tuple[tuple[tuple[str, str, object], ...], ...] = (
    tuple(('label', key, VALUES[0]) for key in RESERVED),
    tuple(('raw-value', key, VALUES[0]) for key in NOT_LABEL_SYNTAX),
    tuple(('raw-value', KEYS[i % len(KEYS)], value) for i, value in enumerate(INVALID_VALUES)),
    tuple(('raw-value', KEYS[0], value) for value in NON_STRING_VALUES),
    tuple(('raw-field', 'labels', text) for text in MALFORMED_LABELS),
)
# The mesh type beside raw labels, as the provider publishes it (a JSON string).
RAW_MESH_TYPE = '"istio"'
# A mesh_type field that is no JSON string, beside valid labels. In the refused-data lead's
# cases only: a kind of REFUSED_DATA more would change what every seed draws.
MALFORMED_MESH_TYPES = ('42', 'null', '{"kind": "istio"}', 'istio')
# Data a consumer must apply, at the edges of label syntax (kubernetes/apimachinery
# pkg/util/validation/validation.go IsValidLabelValue and IsQualifiedName: a value may be
# empty, a value and a name part at most 63 characters):
# in the refused-data lead, after its last case, so that a check off by one the other
# way (refusing what is valid) meets it in every default run.
EDGE_LABELS: Mapping[str, str] = {'team': '', 'foo': 'v' * 63, 'k' * 63: 'a'}
# How often a batch that will be cut short is the ADR's reset to {} (when there are
# labels to reset): its record then says a batch is open whose target is empty.
RESET_ODDS = 0.5
# How often a drawn episode comes again at once, as it was drawn.
AGAIN_ODDS = 0.25
# At which API request of a hook the exhaustive set kills or stalls: a reconcile that
# writes makes 11 on 3 pods (lib/README.md, "Cost"); beyond that the plan waits for a
# later hook.
MAX_CALL = 12
# 409s drawn in one schedule at most: fewer than a reconcile's 5 attempts.
MAX_CONFLICTS = 4
# Past the 30 s lease and ops' 30 s is-leader cache, or within them.
STALL_SECONDS = (5.0, 45.0, 90.0)
# What a random kill or stall aims at: the next request of a verb and kind, in whichever
# hook makes it, so that it lands in the hook that applies the change drawn with it. These
# are the writes a labelling consumer makes (a ledger, the Service, a Pod, the pod
# template; lib/README.md, "Permissions"), and its first request of any kind (before it
# changed anything). ``nth`` 2 of the ConfigMap is a batch's second ledger write (after
# the objects); of a Pod, a later pod of the batch.
REQUEST_TARGETS: tuple[RequestMatch, ...] = (
    RequestMatch(),
    RequestMatch(method='patch', kind='ConfigMap'),
    RequestMatch(method='patch', kind='ConfigMap', nth=2),
    RequestMatch(method='patch', kind='Service'),
    RequestMatch(method='patch', kind='Pod'),
    RequestMatch(method='patch', kind='Pod', nth=2),
    RequestMatch(method='patch', kind='StatefulSet'),
)
# What an injected 409 answers: a unit's next write of any kind (a batch's ledger), or of
# one kind, so that the retry of each kind of object write meets it.
CONFLICT_KINDS: tuple[RequestKind | None, ...] = (None, 'Service', 'Pod', 'StatefulSet')
# The library's write of the object a foreign write of each kind changes; none for a Pod,
# as which pod a batch writes first is not known here.
WRITTEN_AS: Mapping[str, RequestMatch] = {
    'Service': RequestMatch(method='patch', kind='Service'),
    'StatefulSet.template': RequestMatch(method='patch', kind='StatefulSet'),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class FaultWeights:
    """How often each kind of step is drawn; 0 leaves it out.

    A kill or stall is drawn with the change whose hook it lands in: armed at the unit's
    next request of a drawn verb and kind (:data:`REQUEST_TARGETS`), then the provider's
    data changes. A stall of the leader is mostly the stale-leader case: 90 s (past its
    lease), leadership moves, and the data changes again (back, or anew) for the new
    leader; or goes back before the election, while the stale leader holds an object
    write (the new leader then perhaps stalled or killed at its own write of that object);
    or stays, and the stale leader dies as its stall ends. ``owned_value_changed``
    is someone else changing a value the library wrote, as the data changes or while the
    leader holds its write of that object. ``foreign_labels`` is someone else writing a key
    nobody asks for, sometimes one the library has just removed, with the value it had.
    ``refused_labels`` is data the consumer must refuse (a reserved or invalid key or
    value, a value that is not a string, a labels field that is not a JSON object),
    judged before it is replaced.
    ``untrust`` is ``juju trust --remove`` as the data changes, the hooks run untrusted, and
    trust given back; ``scale`` changes the number of units and back, judged at both sizes;
    ``refresh`` is a new charm revision (every pod rolls), mostly as the data changes.
    ``api_outage`` is the API server answering every unit 503 or 500 for 10 or 60 s as the
    data changes: past the library's retries, so the leader's hook fails (a failure no
    verdict counts: any charm fails so) and Juju's retries apply the change afterwards,
    judged once settled.

    Left out by default, with the reason: ``api_403`` (a transient 403 leaves the
    consumer Blocked until update-status, which a settle does not reach: every settle
    point after it would report labels that Juju's next update-status applies) and
    ``api_5xx`` (a single 5xx is absorbed by the library's retry, as its unit tests show;
    weighted here, it would change what every seed draws: ``api_outage`` draws the 5xx
    that outlast the retries).
    """

    set_labels: float = 3.0
    set_labels_by_action: float = 0.5
    delete_pod: float = 0.5
    delete_pod_force: float = 1.0
    kill: float = 3.0
    stall: float = 4.0
    leader_change: float = 1.0
    foreign_labels: float = 1.5
    owned_value_changed: float = 1.5
    refused_labels: float = 1.0
    relation_readded: float = 0.5
    juju_rewrite: float = 0.5
    api_409: float = 1.5
    api_5xx: float = 0.0
    api_403: float = 0.0
    concurrently: float = 1.0
    settle: float = 0.2
    # Next, and taken from settle's share (1.0 before them): a draw that does not land
    # on one of them draws what it drew before they came (api_outage came last, from the
    # end of settle's share, so it stands right after it). Not so the actions drawn into
    # `concurrently`: api_outage is among them, so their draws moved when it came.
    api_outage: float = 0.1
    untrust: float = 0.3
    scale: float = 0.3
    refresh: float = 0.1

    @classmethod
    def parse(cls, text: str) -> FaultWeights:
        """``name=weight,...`` over the defaults, e.g. ``kill=5,stall=0``.

        Raises:
            ValueError: an unknown name, a weight that is not a finite number >= 0, all
                zero, or a total no float holds.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(','))):
            name, eq, raw = part.partition('=')
            name = name.strip().replace('-', '_')
            if not eq or name not in names:
                raise ValueError(
                    f'{part!r}: expected name=weight with a name among {", ".join(sorted(names))}'
                )
            try:
                weight = float(raw)
            except ValueError:
                raise ValueError(f'{part!r}: the weight is not a number') from None
            if not 0 <= weight < math.inf:  # also refuses NaN
                raise ValueError(f'{part!r}: a weight is a finite number >= 0')
            values[name] = weight
        weights = dataclasses.replace(cls(), **values)
        if not any(weights.as_dict().values()):
            raise ValueError('every weight is 0: nothing to draw')
        if not math.isfinite(sum(weights.as_dict().values())):
            raise ValueError('the weights add up past what a float holds: use smaller ones')
        return weights

    def as_dict(self) -> dict[str, float]:
        """Each step kind's weight, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def prelude(units: int) -> tuple[Step, ...]:
    """The start most schedules share: deployed, related, settled, checked."""
    return (
        Deploy(app=CONSUMER, charm='consumer', units=units, trust=True),
        Deploy(app=PROVIDER, charm='provider', units=1),
        Integrate(apps=(CONSUMER, PROVIDER)),
        Settle(),
        Check(app=CONSUMER),
    )


# A start as a charm that used the upstream service_mesh library has it (lib/README.md,
# "Switching from the upstream library"): upstream's ConfigMap and labels are there
# before the consumer first runs; the provider asks for one of them, so it is taken over
# and the other released. One fixed start, so that it is restored from a snapshot like the
# other; drawn for this share of the schedules, by a draw of its own (the bodies stay).
UPSTREAM_LEFTOVERS = {KEYS[1]: VALUES[0], 'old': 'gone'}
UPSTREAM_ASKED = {KEYS[1]: VALUES[0]}
UPSTREAM_START_ODDS = 0.125


def switching_prelude(units: int) -> tuple[Step, ...]:
    """The start of a charm switching from the upstream library: its leftovers adopted.

    Once settled, the upstream ConfigMap must be gone and only the labels asked for left.
    """
    return (
        Deploy(app=CONSUMER, charm='consumer', units=units, trust=True),
        Deploy(app=PROVIDER, charm='provider', units=1),
        UpstreamLeftovers(app=CONSUMER, labels=UPSTREAM_LEFTOVERS),
        SetLabels(app=PROVIDER, labels=UPSTREAM_ASKED),
        Integrate(apps=(CONSUMER, PROVIDER)),
        Settle(),
        ExpectNoConfigMap(name=UPSTREAM_CONFIGMAP.format(app=CONSUMER)),
        Check(app=CONSUMER),
    )


def switches_from_upstream(seed: int) -> bool:
    """Whether the schedule numbered ``seed`` starts as a charm switching from upstream."""
    return random.Random(f'{seed}:start').random() < UPSTREAM_START_ODDS  # noqa: S311


def ending() -> tuple[Step, ...]:
    """The end every schedule shares: settled and checked."""
    return (Settle(), Check(app=CONSUMER))


@dataclasses.dataclass(frozen=True)
class Lead:
    """An episode a schedule starts with, whatever the weights would draw first.

    Attributes:
        kind: a step kind (a :class:`FaultWeights` field).
        branch: for a kind with branches (a leader's kill at a write, the stale-leader
            case), the value of the draw that picks one (see :meth:`_Draw.action`).
        again: the episode comes twice in a row, drawn as it was: what the first left
            behind (an epoch, a fence) must serve the second.
    """

    kind: str
    branch: float | None = None
    again: bool = False


# A run's schedules start with these in turn (Plan.schedule), so that a short run meets
# each designed episode a few times, however rare the weights make it: a mechanism only
# one episode tests (a fence, a claim, finishing a batch) is tested by every default run.
LEADS: tuple[Lead, ...] = (
    # The ADR's counterexample: the data reset as the leader's pod is force-deleted.
    Lead('delete_pod_force'),
    # The stale leader held at an object write: the data goes back before the election,
    # then the new leader stalls at its own write of that object, dies before its fence,
    # or neither; the data goes back after the election; the stale leader dies as its
    # stall ends; the new leader meets refused data (_Draw._stale_leader).
    Lead('stall', 0.06),
    Lead('stall', 0.18),
    # Twice: the second claim must fence with an epoch the objects do not carry yet (a
    # fence written again at the same epoch moves no resourceVersion).
    Lead('stall', 0.3, again=True),
    Lead('stall', 0.5),
    Lead('stall', 0.72),
    Lead('stall', 0.9),
    # The leader killed at a write (applied, or not) as values change, or held there while
    # the data goes bad; or as any change.
    Lead('kill', 0.1),
    Lead('kill', 0.6),
    Lead('kill', 0.3),
    Lead('kill', 0.8),
    Lead('kill', 0.45),
    # Someone else's value: put back once the library removed it; on any object, taken
    # over and given back; on a Pod, so.
    Lead('foreign_labels', 0.1),
    Lead('foreign_labels', 0.5),
    Lead('foreign_labels', 0.95),
    # Refused data, then the data it applied back, at a leader change or not.
    Lead('refused_labels', 0.25),
    Lead('refused_labels', 0.75),
    # The leader scaled away with the data steady (killed before its relation-broken);
    # then one of each other kind, those a mechanism rests on first (a run of 50 meets the
    # first 22 leads twice); the 409 at a pod's repair, with nothing else to write.
    *(
        Lead(kind)
        for kind in ('scale', 'untrust', 'relation_readded', 'api_outage', 'owned_value_changed')
    ),
    Lead('api_409', 0.0),
    *(
        Lead(kind)
        for kind in (
            'refresh',
            'juju_rewrite',
            'leader_change',
            'set_labels_by_action',
            'concurrently',
        )
    ),
)


def leads(weights: FaultWeights) -> tuple[Lead, ...]:
    """The leads of :data:`LEADS` whose kind ``weights`` draws at all."""
    drawn = weights.as_dict()
    return tuple(lead for lead in LEADS if drawn.get(lead.kind, 0) > 0)


class _Draw:
    """Draws one random schedule body, tracking the desired labels and relation state."""

    def __init__(self, rng: random.Random, units: int, weights: FaultWeights):
        self.rng = rng
        self.units = units
        self.weights = {k: w for k, w in weights.as_dict().items() if w > 0}
        self.desired: dict[str, str] = {}
        self.conflicts = 0  # 409s drawn so far
        self.concurrent = False  # drawing the actions of one Concurrently step
        # A lead's branch (Lead.branch), for the draw of its kind that picks one; and
        # whether the lead is being drawn.
        self.branch: float | None = None
        self.lead = False

    def take_branch(self) -> float:
        branch, self.branch = self.branch, None
        assert branch is not None  # noqa: S101 - callers check
        return branch

    def unit(self) -> str:
        if self.rng.random() < 0.75:
            return f'{CONSUMER}/leader'
        return f'{CONSUMER}/{self.rng.randrange(self.units)}'

    def labels(self) -> dict[str, str]:
        """New desired labels, other than the current ones.

        A change that drops a key is what exercises the record of what was written (the
        ADR's reset to {}), so every key already desired is dropped with even odds.
        """
        for _ in range(8):
            kept = [k for k in self.desired if self.rng.random() < 0.5]
            added = [k for k in KEYS if k not in self.desired and self.rng.random() < 0.5]
            labels = {k: self.rng.choice(VALUES) for k in sorted({*kept, *added})}
            if labels != self.desired:
                return labels
        return {} if self.desired else {KEYS[0]: VALUES[0]}

    def change(self) -> SetLabels:
        """A change of the provider's data: the trigger a drawn kill or stall lands in."""
        self.desired = self.labels()
        return SetLabels(app=PROVIDER, labels=self.desired)

    def target(self) -> RequestMatch:
        return self.rng.choice(REQUEST_TARGETS)

    def action(self, kind: str) -> list[Step]:
        rng = self.rng
        match kind:
            case 'set_labels':
                # Applied and judged before what comes next, or (even odds) not: then the
                # next steps meet its hooks in flight.
                judged = [Settle(), Check(app=CONSUMER)] if rng.random() < 0.5 else []
                return [self.change(), *judged]
            case 'set_labels_by_action':
                # The action runs on the provider's leader once idle: settle first so it
                # has one (a step needs the leader at the moment it runs).
                self.desired = self.labels()
                return [Settle(), SetLabels(app=PROVIDER, labels=self.desired, via='action')]
            case 'delete_pod':
                return [DeletePod(unit=self.unit())]
            case 'delete_pod_force':
                if self.lead and self.desired:
                    # A lead's: the ADR's counterexample, the data reset as the leader's
                    # pod goes (its local state with it).
                    self.desired = {}
                    reset = SetLabels(app=PROVIDER, labels={})
                    gone = DeletePod(unit=f'{CONSUMER}/leader', force=True)
                    return [Concurrently(steps=(reset, gone)), Settle(), Check(app=CONSUMER)]
                return [DeletePod(unit=self.unit(), force=True)]
            case 'kill':
                # Armed at the unit's next request of the drawn verb and kind, then a change
                # whose hook makes that request: the kill lands in the hook applying it.
                if self.branch is not None:
                    # A lead's shape: the leader, at a write.
                    target, roll = rng.choice(REQUEST_TARGETS[1:]), self.take_branch()
                    kill = Kill(unit=f'{CONSUMER}/leader', request=target, applied=roll < 0.5)
                else:
                    target, roll = self.target(), rng.random()
                    kill = Kill(unit=self.unit(), request=target, applied=roll < 0.5)
                # Half of the leader's kills at a write, applied or not, land in a change of
                # values; a quarter of the others in a batch the data then refuses to go on
                # with (decided by the same draw, so that other schedules draw as before).
                leader_write = (
                    kill.unit.endswith('/leader')
                    and target.method == 'patch'
                    and not self.concurrent
                )
                if leader_write and self.desired and roll % 0.5 < 0.25:
                    return self._values_changed_mid_batch(kill)
                if leader_write and roll % 0.5 < 0.375 and self._leaves_batch_begun(kill):
                    return self._refused_mid_batch(kill, target)
                return [kill, self.change()]
            case 'stall':
                if self.branch is not None and self.units > 1:
                    return self._stale_leader(f'{CONSUMER}/leader')  # a lead's shape
                unit, target = self.unit(), self.target()
                if unit.endswith('/leader') and self.units > 1 and rng.random() < 0.7:
                    return self._stale_leader(unit)
                seconds = rng.choice(STALL_SECONDS)
                return [Stall(unit=unit, seconds=seconds, request=target), self.change()]
            case 'leader_change':
                return [LeaderChange(app=CONSUMER)] if self.units > 1 else []
            case 'foreign_labels':
                # Keys nobody asks the library for: R4 says they stay as written. (A
                # desired key changed by someone else is repaired only at the library's
                # next event, so it comes with one: 'owned_value_changed'.)
                # Settled first: a key dropped by a change still in flight may still be
                # the library's, and a later change back to its value would be coalesced
                # with the drop into no event at all (chaos seed 2026, schedule 683).
                steps: list[Step] = [Settle()]
                branch = self.take_branch() if self.branch is not None else None
                if branch is not None and branch >= 0.9:
                    # A lead's: on a Pod, taken over and given back (a pod's own entries
                    # in the record, until a roll replaces it).
                    free = [k for k in KEYS if k not in self.desired] or [KEYS[0]]
                    key = rng.choice(free)
                    self.desired = {k: v for k, v in self.desired.items() if k != key}
                    pod = f'{CONSUMER}/{rng.randrange(self.units)}'
                    taken = {**self.desired, key: rng.choice(VALUES)}
                    steps += [SetLabels(app=PROVIDER, labels=self.desired), Settle()]
                    steps += [ForeignLabels(kind='Pod', of=pod, labels={key: FOREIGN_VALUES[0]})]
                    steps += [SetLabels(app=PROVIDER, labels=taken), Settle(), Check(app=CONSUMER)]
                    return [*steps, SetLabels(app=PROVIDER, labels=self.desired)]
                if self.desired and (rng.random() if branch is None else branch) < 0.3:
                    # Someone else puts back a value the library has just removed, once
                    # settled: its record then lists only what is asked for (lib/README.md,
                    # "One reconcile", step 3), so that value is theirs now.
                    key = rng.choice(sorted(self.desired))
                    value: str | None = self.desired[key]
                    self.desired = {k: v for k, v in self.desired.items() if k != key}
                    dropped = SetLabels(app=PROVIDER, labels=self.desired)
                    steps += [dropped, Settle(), Check(app=CONSUMER)]
                else:
                    free = [k for k in KEYS if k not in self.desired]
                    if not free:
                        return []
                    key = rng.choice(free)
                    # A lead's: a value, taken over and given back.
                    led = branch is not None
                    value = rng.choice((*FOREIGN_VALUES, *([] if led else [None])))
                steps += [self._foreign({key: value})]
                if value is not None and (branch is not None or rng.random() < 0.7):
                    # The provider then asks for that key: the library takes it over (judged
                    # once applied), and gives the value back when the key is dropped again.
                    before = self.desired
                    self.desired = {**before, key: rng.choice(VALUES)}
                    steps += [SetLabels(app=PROVIDER, labels=self.desired), Settle()]
                    steps += [Check(app=CONSUMER)]
                    if branch is not None or rng.random() < 0.7:
                        self.desired = before
                        steps += [SetLabels(app=PROVIDER, labels=before)]
                return steps
            case 'owned_value_changed':
                # Someone else changes a value the library wrote (settled first, so it has
                # written it) as the provider changes its data; mostly dropping that key,
                # when the value must stay theirs.
                if not self.desired:
                    return []
                key = rng.choice(sorted(self.desired))
                foreign = self._foreign({key: 'theirs'})
                if self.lead:
                    # A lead's: on an object the leader writes whole, while it holds its
                    # write of it (below).
                    kind = rng.choice(('Service', 'StatefulSet.template'))  # WRITTEN_AS
                    foreign = ForeignLabels(kind=kind, of=CONSUMER, labels={key: 'theirs'})
                new = self.change()
                if key in self.desired and rng.random() < 0.75:
                    self.desired = {k: v for k, v in self.desired.items() if k != key}
                    new = SetLabels(app=PROVIDER, labels=self.desired)
                # Settled after too: the library repairs a changed value only at its next
                # event (lib/README.md), and data changed again before the provider's hook
                # runs would be coalesced into one config-changed, maybe back to the data
                # before this change: no event at all.
                written = WRITTEN_AS.get(foreign.kind)
                if written is not None and (self.lead or rng.random() < 0.5):
                    # Or the foreign write lands between the leader's read of the object
                    # and its write of it, which holds the resourceVersion read: a 409 whose
                    # retry must read the labels again, never write its plan blindly.
                    stall = Stall(
                        unit=f'{CONSUMER}/leader', seconds=STALL_SECONDS[0], request=written
                    )
                    return [Settle(), stall, new, WaitFaults(app=CONSUMER), foreign, Settle()]
                return [Settle(), Concurrently(steps=(foreign, new)), Settle()]
            case 'refused_labels':
                # Bad data: the consumer must refuse it whole (Blocked, nothing written)
                # and keep the labels of the last data it accepted; up to three in a row
                # (a provider fixing one fault and making another), each judged.
                # Settled first: the data before it is applied (a foreign change of a
                # desired key repaired) before the consumer stops writing. Judged while it
                # stands: the next change would replace it.
                branch = self.take_branch() if self.branch is not None else None
                steps = [Settle()]
                if branch is not None and branch < 0.5:
                    # A lead's: every case of every kind of bad data in turn, so that a
                    # consumer missing one check (a length off by one, a final newline, an
                    # uppercase prefix) meets the case it misses in every default run.
                    cases = [case for kind in REFUSED_DATA for case in kind]
                    cases += [('raw-mesh-type', '', text) for text in MALFORMED_MESH_TYPES]
                else:
                    cases = [None] * rng.randint(1, 3)
                for case in cases:
                    steps += [self._refused(case), Settle(), Check(app=CONSUMER)]
                if branch is not None or rng.random() < 0.5:
                    # Then back to the data it applied, at a leader change half the time
                    # (a lead's: as its branch says): nothing to write and no pod restarts,
                    # so only the consumer can take its Blocked status away, on every unit
                    # that showed it (an action: data published verbatim is replaced only
                    # so).
                    half = rng.random() < 0.5 if branch is None else branch >= 0.5
                    moved = self.units > 1 and half
                    steps += [LeaderChange(app=CONSUMER), Settle()] if moved else []
                    back = SetLabels(app=PROVIDER, labels=self.desired, via='action')
                    steps += [back, Settle(), Check(app=CONSUMER)]
                if branch is not None and branch < 0.5:
                    # A lead's: then data at the edges of label syntax, to be applied.
                    self.desired = {**self.desired, **EDGE_LABELS}
                    steps += [SetLabels(app=PROVIDER, labels=self.desired)]
                    steps += [Settle(), Check(app=CONSUMER)]
                return steps
            case 'relation_readded':
                # Half the time with the labels applied first, so that the removal has
                # labels to release (drawn at once, it may meet a change still in flight).
                applied = [Settle(), Check(app=CONSUMER)] if rng.random() < 0.5 else []
                return [
                    *applied,
                    RemoveRelation(apps=(CONSUMER, PROVIDER)),
                    Settle(),
                    Check(app=CONSUMER),
                    Integrate(apps=(CONSUMER, PROVIDER)),
                ]
            case 'juju_rewrite':
                return [JujuRewrite(app=CONSUMER)]
            case 'untrust':
                # Trust taken away as the data changes: the hooks meet the 403s of Juju's
                # Role for an untrusted application (no StatefulSet, no ConfigMap) and can
                # only say what to run: the check then judges that, not the labels, which
                # cannot follow the data. Trust given back is a config-changed on every
                # unit (juju internal/worker/uniter/resolver.go nextOp: a trust-hash change
                # gives ConfigChanged), the one event that applies the change before
                # update-status: judged then.
                untrusted = [
                    Trust(app=CONSUMER, trusted=False),
                    self.change(),
                    Settle(),
                    Check(app=CONSUMER),
                ]
                return [*untrusted, Trust(app=CONSUMER), Settle(), Check(app=CONSUMER)]
            case 'scale':
                return self._scale()
            case 'refresh':
                # A new charm revision: Juju rewrites the pod template, so every pod rolls,
                # each new unit starting with upgrade-charm; mostly as the data changes.
                if rng.random() < 0.75:
                    return [Refresh(app=CONSUMER), self.change()]
                return [Refresh(app=CONSUMER)]
            case 'api_409' if self.branch is not None and self.desired and self.units > 1:
                # A lead's: someone else changes a desired value on one pod, and the next
                # leader's repair of it, the one object it has to write, meets a 409 (the
                # template unchanged: no roll replaces that pod). The library must re-read
                # and write it again, never take the pod for gone (lib/README.md,
                # "Conflicts").
                self.take_branch()
                key = rng.choice(sorted(self.desired))
                pod = f'{CONSUMER}/{rng.randrange(self.units)}'
                changed = ForeignLabels(kind='Pod', of=pod, labels={key: FOREIGN_VALUES[0]})
                conflict = ApiError(status=409, method='patch', kind='Pod')
                self.conflicts += 1
                steps = [Settle(), Check(app=CONSUMER), changed, conflict]
                return [*steps, LeaderChange(app=CONSUMER), Settle(), Check(app=CONSUMER)]
            case 'api_409':
                # Conflicts answer writes only: a read never gets 409. Storms add up (one
                # not met yet waits for the unit's next write), and a consumer is built to
                # absorb a few in one hook (lib/README.md: 5 attempts): at most
                # MAX_CONFLICTS in a schedule, so a hook failing on them is a finding.
                count = min(rng.randint(1, 3), MAX_CONFLICTS - self.conflicts)
                if count <= 0:
                    return []
                self.conflicts += count
                # With a change, so that the unit's next write (of a drawn kind: a batch's
                # first is its ledger's) meets the conflict.
                aimed = rng.choice(CONFLICT_KINDS)
                conflict = ApiError(
                    status=409, unit=self.unit(), method='patch', kind=aimed, count=count
                )
                return [conflict, self.change()]
            case 'api_5xx':
                return [ApiError(status=rng.choice((500, 503)), unit=self.unit())]
            case 'api_403':
                return [ApiError(status=403, unit=self.unit())]
            case 'api_outage':
                # With a change, so that the leader's reconcile meets it; judged once
                # settled (Juju's retries after the outage applied it), before any later
                # change could apply it in a hook of its own.
                seconds, status = rng.choice((10.0, 60.0)), rng.choice((503, 500))
                # A lead's: 500, the first status a client's retry of 5xx must cover.
                outage = ApiOutage(seconds=seconds, status=500 if self.lead else status)
                return [outage, self.change(), Settle(), Check(app=CONSUMER)]
            case 'concurrently':
                # Several actions at one moment, in a drawn order.
                # Not the kinds that need a settle before them (a leader change in here
                # moves time, with hooks running on the data before it): refused data is
                # judged against the last data the consumer accepted, and a foreign write
                # must know which keys are the library's ('foreign_labels',
                # 'owned_value_changed'). Nor an action: issued with a config change, it
                # may run before or after it, and which data stands is not known here.
                inner: list[Step] = []
                settled_first = ('refused_labels', 'foreign_labels', 'owned_value_changed')
                unknown = ('set_labels_by_action',)
                # Nor the kinds whose settles hold them together (a scale back only once
                # the scale down is done; hooks run while untrusted), nor a refresh, which
                # comes with a change of its own.
                settled_within = ('untrust', 'scale', 'refresh')
                self.concurrent = True
                for kind_ in self._kinds(
                    2,
                    exclude=('concurrently', 'settle', *settled_first, *unknown, *settled_within),
                ):
                    inner += [s for s in self.action(kind_) if not isinstance(s, Settle | Check)]
                self.concurrent = False
                # Integrate (a re-added relation) needs its removal settled first.
                actions = [
                    cast('Action', s)
                    for s in inner
                    if isinstance(s, Action) and not isinstance(s, Integrate | RemoveRelation)
                ]
                if len(actions) > 1:
                    return [Concurrently(steps=tuple(actions))]
                return list[Step](actions)
            case _:  # settle
                return [Settle(), Check(app=CONSUMER)]

    def _stale_leader(self, unit: str) -> list[Step]:
        """The stale-leader case: the leader stalls past its lease holding a write.

        Leadership moves while it holds the request, and the data changes again for the new
        leader to apply: back to what it was (the stale write is then of a value nobody
        asks for), anew, or to data the new leader must refuse (it must then finish the
        stale leader's batch). The stall outlasts the lease and the new leader's work, so
        the stale one may still land what it held.
        """
        then = self.take_branch() if self.branch is not None else self.rng.random()
        # A write: a stale leader that stalls before its reads is not stale. (A lead's
        # branch gets the object write it needs.)
        targets = REQUEST_TARGETS[1:]
        if self.lead and (then < 0.35 or then >= 0.8):
            targets = tuple(t for t in targets if t.kind != 'ConfigMap')
        target = self.rng.choice(targets)
        stall = Stall(unit=unit, seconds=STALL_SECONDS[-1], request=target)
        before = self.desired
        # Where the stale leader's batch is left to finish, half the time the ADR's reset;
        # where its held write may land, a change that puts values there (a reset's write
        # would only take the labels off, which the new leader puts back).
        if then >= 0.7:
            stalled = self._batch_change()
        elif then < 0.35 and self.lead:
            stalled = self._added()  # a lead's: a value the data never asked for
        else:
            stalled = self.change()
        if then < 0.35 and target.kind != 'ConfigMap':
            # Back while the stale leader holds its object write, before the election: the
            # new leader's first hook finds the objects as the data wants them and has
            # nothing to write but its fence, so only the fence stops the held write
            # landing. Settled first, so the change is not coalesced with one before it
            # into no event; judged once the held write is let go, before a later change
            # repairs what it did.
            self.desired = before
            back = SetLabels(app=PROVIDER, labels=before)
            steps: list[Step] = [Settle(), Check(app=CONSUMER), stall, stalled]
            steps += [WaitFaults(app=CONSUMER), back, LeaderChange(app=CONSUMER)]
            new_leader = f'{CONSUMER}/leader'  # now the new one
            if then < 0.12:
                # And the new leader stalls at its own write of that object, after its
                # write-ahead, until the stale write has landed (45 s: within its lease):
                # its record must still list the stale leader's values, which are not on
                # the objects when it plans (a claim keeps the values in flight).
                steps += [Stall(unit=new_leader, seconds=STALL_SECONDS[1], request=target)]
            elif then < 0.24:
                # Or it dies before its fence of that object lands: its next process (the
                # same writer: no claim) must finish the fence its record says is
                # unfinished.
                steps += [Kill(unit=new_leader, request=target)]
            return [*steps, Settle(), Check(app=CONSUMER)]
        if then < 0.7:
            self.desired = before
            return [
                stall,
                stalled,
                LeaderChange(app=CONSUMER),
                SetLabels(app=PROVIDER, labels=before),
            ]
        if then < 0.8:
            # Or the data stays, and the stale leader dies at the request it held as its
            # stall ends (that write applied or not): the new leader alone must finish the
            # batch the stale one began, from its election on. Judged before any other
            # change, whose hook would finish it too.
            kill = Kill(unit=unit, request=target, applied=then < 0.75)
            return [
                stall,
                stalled,
                kill,
                LeaderChange(app=CONSUMER),
                Settle(),
                Check(app=CONSUMER),
            ]
        if target.kind == 'ConfigMap' or self.concurrent:
            # Or the data changes anew (refused data needs the settles below).
            return [stall, stalled, LeaderChange(app=CONSUMER), self.change()]
        # Or the stale leader holds an object write (its write-ahead made: its batch is
        # open with the stalled change's labels) and dies as its stall ends, and the data
        # the new leader meets is refused. Blocked, it must finish that batch (lib/
        # README.md, "Behaviour on failure"), leaving no object with a mix of the old
        # labels and the new. Settled first, as above; judged before any later change.
        kill = Kill(unit=unit, request=target, applied=self.rng.random() < 0.5)
        steps = [Settle(), Check(app=CONSUMER), stall, stalled, kill, LeaderChange(app=CONSUMER)]
        return [*steps, self._refused(), Settle(), Check(app=CONSUMER)]

    def _values_changed_mid_batch(self, kill: Kill) -> list[Step]:
        """The leader killed in a batch giving desired keys new values; then they go.

        The kill leaves the old value on some objects and the new on others, so the
        record written ahead of the batch must list both (lib/README.md, write-ahead): a
        library that records only the new value takes the old one for someone else's and
        leaves it (or gives it back) when the key is dropped. Settled first, so the values
        it changes are on the objects (a change still in flight would be coalesced with
        this one); judged once applied and once dropped.
        """
        keys = sorted(self.desired)
        changed = [k for k in keys if self.rng.random() < 0.5] or [self.rng.choice(keys)]
        # New dicts: earlier steps hold the old ones.
        self.desired = {
            k: next(other for other in VALUES if other != v) if k in changed else v
            for k, v in self.desired.items()
        }
        revalued = SetLabels(app=PROVIDER, labels=self.desired)
        self.desired = {k: v for k, v in self.desired.items() if k not in changed}
        dropped = SetLabels(app=PROVIDER, labels=self.desired)
        judged = [Settle(), Check(app=CONSUMER)]
        return [*judged, kill, revalued, *judged, dropped, *judged]

    def _leaves_batch_begun(self, kill: Kill) -> bool:
        """Whether a leader killed at this request of a batch has written its write-ahead.

        A batch whose write-ahead never landed was never begun: the data it was for was
        seen but not accepted, and nothing says which labels the consumer keeps.
        """
        request = kill.request
        if request is None or request.kind is None:
            return False
        if request.kind == 'ConfigMap' and request.nth == 1:
            return kill.applied  # the write-ahead itself
        # A batch writes every pod (each carries the labels asked for).
        return request.kind != 'Pod' or request.nth <= self.units

    def _added(self) -> SetLabels:
        """A change that adds one key the data does not ask for (else changes a value)."""
        free = [k for k in KEYS if k not in self.desired]
        if free:
            self.desired = {**self.desired, self.rng.choice(free): self.rng.choice(VALUES)}
            return SetLabels(app=PROVIDER, labels=self.desired)
        return self.change()

    def _batch_change(self) -> SetLabels:
        """The change of a batch that will be cut short: half the time the ADR's reset.

        A reset leaves a batch open whose target is empty: nothing to apply, but the
        labels the batch had begun to remove must still go.
        """
        if self.desired and self.rng.random() < RESET_ODDS:
            self.desired = {}
            return SetLabels(app=PROVIDER, labels={})
        return self.change()

    def _refused_mid_batch(self, kill: Kill, request: RequestMatch) -> list[Step]:
        """The leader killed in a batch, and the data goes bad before anyone finishes it.

        The leader holds the request (a short stall, within its lease) while the data
        goes bad, and dies at it. Its write-ahead landed, so the batch is open with the
        labels of the change: the leader back from the kill (Juju runs the hook again)
        meets data it must refuse, and must still finish that batch (lib/README.md,
        "Behaviour on failure"), leaving no object with a mix of the old labels and the
        new. Settled first, so that the stall lands in this change's batch; with labels
        applied first if there are none, so that the change may be a reset.
        """
        steps: list[Step] = [] if self.desired else [self.change()]
        held = Stall(unit=kill.unit, seconds=STALL_SECONDS[0], request=request)
        change = self._batch_change()
        steps += [Settle(), Check(app=CONSUMER), held, change, WaitFaults(app=CONSUMER)]
        return [*steps, self._refused(), kill, Settle(), Check(app=CONSUMER)]

    def _refused(self, case: tuple[str, str, object] | None = None) -> SetLabels | PublishRaw:
        """The provider's data, which the consumer must refuse: ``case`` (drawn if None).

        A bad key or value added to it, a value that is not a string, or a labels field
        that is not a JSON object (:data:`REFUSED_DATA`); or a mesh_type field that is
        not a JSON string (:data:`MALFORMED_MESH_TYPES`). ``desired`` stays the last data
        the consumer accepted.
        """
        if case is None:
            case = self.rng.choice(self.rng.choice(REFUSED_DATA))
        how, key, value = case
        if how == 'raw-mesh-type':
            labels = json.dumps(self.desired, sort_keys=True)
            return PublishRaw(app=PROVIDER, data={'labels': labels, 'mesh_type': str(value)})
        if how == 'label':
            return SetLabels(app=PROVIDER, labels={**self.desired, key: str(value)})
        if how == 'raw-value':
            labels = json.dumps({**self.desired, key: value}, sort_keys=True)
            return PublishRaw(app=PROVIDER, data={'labels': labels, 'mesh_type': RAW_MESH_TYPE})
        return PublishRaw(app=PROVIDER, data={key: str(value), 'mesh_type': RAW_MESH_TYPE})

    def _scale(self) -> list[Step]:
        """Fewer units and back (one unit: one more and back), each judged once settled.

        The units removed (the highest ordinals) depart as themselves, run relation-broken
        and stop; half the time the leader is moved to the highest ordinal first, so that
        it is among them, still leader in those hooks (its lease runs on); a lead's leader
        is also killed before its relation-broken. A size change
        comes with a data change half the time, a quarter of the time when it removes the
        leader: without one, the labels must stay as they are through it (judged from
        the check before it). The units added start from the pod template. Settled
        before the way back (Juju adds no unit while one of that ordinal is being
        removed).
        """
        rng, units = self.rng, self.units
        judged: list[Step] = [Settle(), Check(app=CONSUMER)]

        def resized(size: int, *, change_odds: float = 0.5) -> list[Step]:
            steps: list[Step] = [Scale(app=CONSUMER, units=size)]
            if rng.random() < change_odds:
                steps.append(self.change())
            return [*steps, *judged]

        def highest_leads(size: int) -> list[Step]:
            if self.lead or rng.random() < 0.5:  # a lead's: the leader removed
                return [LeaderChange(app=CONSUMER, to=f'{CONSUMER}/{size - 1}'), *judged]
            return []

        def leader_killed(ordinal: int) -> list[Step]:
            # A lead's: the leader's pod deleted between its relation-departed and its
            # relation-broken, its departing mark (StoredState) with it. Drawn without the
            # generator, so that no other schedule changes.
            if not self.lead:
                return []
            return [Kill(unit=f'{CONSUMER}/{ordinal}', before_hook='relation_broken')]

        if units == 1:
            up = resized(2)
            moved = highest_leads(2)
            down = resized(1, change_odds=0.25 if moved else 0.5)
            return [*up, *moved, *leader_killed(1), *down]
        moved = highest_leads(units)
        # A lead's: the data steady, so the labels must stay through the leader's removal.
        odds = 0.0 if self.lead else 0.25 if moved else 0.5
        down = resized(rng.randrange(1, units), change_odds=odds)
        return [*moved, *leader_killed(units - 1), *down, *resized(units)]

    def _foreign(self, labels: Mapping[str, str | None]) -> ForeignLabels:
        # A Pod's own label goes with the pod at the next roll: less often a Pod, and any
        # pod alike (the leader's is not special here; the last one listed is as likely).
        kind = self.rng.choice(('Service', 'StatefulSet.template', 'Service', 'Pod'))
        of = f'{CONSUMER}/{self.rng.randrange(self.units)}' if kind == 'Pod' else CONSUMER
        return ForeignLabels(kind=kind, of=of, labels=dict(labels))

    def _kinds(self, n: int, exclude: tuple[str, ...] = ()) -> list[str]:
        kinds = [k for k in self.weights if k not in exclude]
        if not kinds:
            return []
        return self.rng.choices(kinds, weights=[self.weights[k] for k in kinds], k=n)

    def body(self, length: int, lead: Lead | None = None) -> list[Step]:
        steps: list[Step] = []
        if lead is not None:
            # Labels applied first, so that the episode has some to change, keep or drop.
            if not self.desired:
                steps += [self.change(), Settle(), Check(app=CONSUMER)]
            state = self.rng.getstate()
            for _ in range(2 if lead.again else 1):
                self.rng.setstate(state)
                self.branch, self.lead = lead.branch, True
                steps += self.action(lead.kind)
            self.branch, self.lead = None, False
        empty = 0
        # A kind can draw nothing (a leader change with one unit, a foreign write when
        # every key is desired); weights that leave only such kinds end the body early
        # rather than loop forever.
        while len(steps) < length and empty < 100:
            kind = self._kinds(1)[0]
            state = self.rng.getstate()
            drawn = self.action(kind)
            empty = 0 if drawn else empty + 1
            steps += drawn
            if drawn and kind != 'settle' and self.rng.random() < AGAIN_ODDS:
                # The same episode again, drawn as it was (a unit named by its role meets
                # whoever holds it now): what the first left behind (an epoch, a fence, a
                # record of another writer's batch) must serve the second.
                self.rng.setstate(state)
                steps += self.action(kind)
        return steps


def random_schedule(
    seed: int, *, units: int, length: int, weights: FaultWeights, lead: int | None = None
) -> Scenario:
    """The schedule numbered ``seed``: the same seed (and lead) gives the same schedule.

    ``lead``: start the body with that one of :func:`leads` (modulo their count), then
    draw the rest by the weights.
    """
    rng = random.Random(seed)  # noqa: S311 - a schedule, not a secret
    draw = _Draw(rng, units, weights)
    start = prelude(units)
    if switches_from_upstream(seed):
        start = switching_prelude(units)
        draw.desired = dict(UPSTREAM_ASKED)
    shapes = leads(weights)
    body = draw.body(length, shapes[lead % len(shapes)] if lead is not None and shapes else None)
    return Scenario(
        name=f'random-{seed}',
        description=f'A random schedule (seed {seed}, {units} units) drawn by jujusim explore.',
        steps=(*start, *body, *ending()),
    )


def exhaustive_schedules(units: int) -> Iterator[Scenario]:
    """The ADR's scenario with every targeted fault, and both orders of its two steps.

    {"foo": "bar"} is applied; then the data is reset to {} while one fault hits: a kill
    (request applied or not) or a stall past the lease, at each API request 1..MAX_CALL of
    the next hook of each unit; and the reset and a forced pod deletion of each unit, at
    one moment, in both orders; and a kill after each request of a change, with the data
    reset once that change's rollout has begun (skipped where no rollout begins).
    """
    start = (
        *prelude(units),
        SetLabels(app=PROVIDER, labels={'foo': 'bar'}),
        Settle(),
        Check(app=CONSUMER),
    )
    reset = SetLabels(app=PROVIDER, labels={})
    targets = [f'{CONSUMER}/{i}' for i in range(units)]
    faults: list[tuple[str, Step]] = []
    for unit in targets:
        for call in range(1, MAX_CALL + 1):
            faults.append(
                (f'kill {unit} after call {call}', Kill(unit=unit, at_call=call, applied=True))
            )
            faults.append((f'kill {unit} before call {call}', Kill(unit=unit, at_call=call)))
            faults.append(
                (f'stall {unit} before call {call}', Stall(unit=unit, seconds=90.0, at_call=call))
            )
    for what, fault in faults:
        # The fault is armed first; the reset's hooks meet it.
        yield Scenario(
            name='exhaustive-' + re.sub(r'[^a-z0-9]+', '-', what),
            description=f'The ADR scenario: {what}, as the data resets to {{}}.',
            steps=(*start, fault, reset, *ending()),
        )
    # A kill during the change before the reset (its request applied), the reset made as
    # soon as the change's rollout has begun: a record written only after the object
    # writes, or only when the hook succeeds, is lost with the hook.
    change = SetLabels(app=PROVIDER, labels={'foo': 'bar', 'team': 'a'})
    for unit in targets:
        for call in range(1, MAX_CALL + 1):
            kill = Kill(unit=unit, at_call=call, applied=True)
            yield Scenario(
                name=f'exhaustive-kill-{unit.replace("/", "-")}-after-call-{call}-of-a-change',
                description=(
                    f'The ADR scenario: {unit} killed after request {call} of a change, '
                    'the data reset to {} once its rollout has begun.'
                ),
                steps=(*start, kill, change, WaitRollout(app=CONSUMER), reset, *ending()),
            )
    for unit in targets:
        delete = DeletePod(unit=unit, force=True)
        for order, steps in (('reset first', (reset, delete)), ('delete first', (delete, reset))):
            yield Scenario(
                name=f'exhaustive-delete-{unit.replace("/", "-")}-{order.replace(" ", "-")}',
                description=f'The ADR scenario: the reset and {unit} deleted at once, {order}.',
                steps=(*start, Concurrently(steps=steps), *ending()),
            )
