"""The step vocabulary: what a scenario, an explored schedule or a replay file can say.

Steps are plain frozen data. They name applications by the name they were deployed as
and units as ``app/N`` or ``app/leader`` (the leader at the moment the step runs), so the
same file runs on the simulated model and on a real controller. Each backend decides how
to carry a step out; a step a backend cannot carry out is refused with a message saying
so, never silently approximated.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Literal

from ..agent import HookKind

CharmRole = Literal['consumer', 'provider']
"""Which charm a deploy step means: resolved by the runner (``CONSUMER_CHARM_PATH``...)."""

ObjectKind = Literal['Pod', 'Service', 'StatefulSet.template']
"""An object whose labels someone else writes: a unit's Pod, or the app's Service or
StatefulSet pod template."""

RequestVerb = Literal['get', 'list', 'create', 'update', 'patch', 'delete']
"""A Kubernetes API verb, as RBAC and the audit log name requests."""

RequestKind = Literal['Pod', 'Service', 'StatefulSet', 'ConfigMap']
"""A kind of object the library reads or writes (the ConfigMap is its ledger)."""

HTTP_METHODS: Mapping[str, str] = {
    'get': 'GET',
    'list': 'GET',
    'create': 'POST',
    'update': 'PUT',
    'patch': 'PATCH',
    'delete': 'DELETE',
}
"""The HTTP method each verb is sent as (kubernetes/kubernetes
staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go, ``NewRequestInfo``:
GET is get or list, POST create, PUT update, PATCH patch, DELETE delete). A fault at a
request matches the method, so a ``get`` also matches a list of that kind."""

LabelSource = Literal['config', 'action']
"""How the provider is told its labels: ``juju config`` or its ``set-labels`` action."""

_UNIT_RE = re.compile(r'^(?P<app>[a-z][a-z0-9-]*)/(?P<which>\d+|leader)$')


def parse_unit_ref(ref: str) -> tuple[str, int | None]:
    """Split ``app/N`` into (app, N) and ``app/leader`` into (app, None).

    Raises:
        ValueError: the reference is neither form.
    """
    match = _UNIT_RE.match(ref)
    if match is None:
        raise ValueError(f'{ref!r} is not a unit: write "app/N" or "app/leader"')
    which = match['which']
    return match['app'], None if which == 'leader' else int(which)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Deploy:
    """Deploy the consumer or the provider charm as ``app``, with ``units`` units."""

    app: str
    charm: CharmRole
    units: int = 1
    trust: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Integrate:
    """Relate two applications over service-mesh (``juju integrate``); also re-adds one."""

    apps: tuple[str, str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RemoveRelation:
    """Remove the relation between two applications (``juju remove-relation``)."""

    apps: tuple[str, str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SetLabels:
    """The provider publishes ``labels``: by its ``labels`` config, or its set-labels action.

    The action runs on the provider's leader and overrides the config until the config
    changes again (beacon-stub's precedence).
    """

    app: str
    labels: Mapping[str, str]
    via: LabelSource = 'config'


@dataclasses.dataclass(frozen=True, kw_only=True)
class PublishRaw:
    """The provider publishes this databag verbatim (its publish-raw action): bad data."""

    app: str
    data: Mapping[str, str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeletePod:
    """Delete a unit's pod: gracefully (SIGTERM, ``stop`` may run) or by force (at once)."""

    unit: str
    force: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class RequestMatch:
    """The ``nth`` API request from now with this verb and kind (either may be left out).

    Counted across hooks, from the moment the step runs: ``{method: patch, kind:
    StatefulSet}`` is the unit's next write of its pod template, whichever hook makes it.
    """

    method: RequestVerb | None = None
    kind: RequestKind | None = None
    nth: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class Kill:
    """SIGKILL a unit's agent at an API request of its current or next hook, or between hooks.

    ``at_call`` counts that hook's requests from 1; ``request`` targets the next request
    matching a verb and kind instead, in whichever hook; ``before_hook`` kills it as its
    next hook of that kind is about to start (a unit being removed, between its
    relation-departed and relation-broken). Give one of the three. ``applied``: the
    request reaches the API and its response is lost, or it never reaches it.
    """

    unit: str
    at_call: int | None = None
    request: RequestMatch | None = None
    before_hook: HookKind | None = None
    applied: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stall:
    """The unit's agent stops for ``seconds``: no lease renewal, its request held.

    With neither ``at_call`` nor ``request`` it stalls now; otherwise just before that
    request (``at_call``: of its current or next hook; ``request``: the next matching
    one): the stale-leader case once its lease runs out.
    """

    unit: str
    seconds: float
    at_call: int | None = None
    request: RequestMatch | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class LeaderChange:
    """Leadership of ``app`` moves to another unit, its old leader's pod left running.

    ``to`` names the unit that takes it (``app/N``); otherwise whichever claims first.
    A ``to`` that leads already is left leading: the step asks for an outcome that holds.
    """

    app: str
    to: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Scale:
    """``juju scale-application APP N``: a scale-down removes the highest ordinals."""

    app: str
    units: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class RemoveUnit:
    """``juju remove-unit APP --num-units 1``: the application's highest ordinal goes.

    Juju refuses to remove a named unit of a Kubernetes application, so the step names
    the application (juju cmd/juju/application/removeunit.go, ``validateCAASRemoval``).
    """

    app: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Refresh:
    """``juju refresh`` to a new revision of the same charm: every pod rolls."""

    app: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Trust:
    """``juju trust APP --scope=cluster``, or ``--remove`` with ``trusted: false``."""

    app: str
    trusted: bool = True


@dataclasses.dataclass(frozen=True, kw_only=True)
class ForeignLabels:
    """Someone else (kubectl, another controller) writes labels; a null value removes one.

    ``of`` is a unit (its Pod) or an application (its Service or StatefulSet template).
    A key the consumer's library manages is "someone else changing a value the library
    owns": the library gets it back to the desired value, and gives the foreign value back
    when the provider drops the key.
    """

    kind: ObjectKind
    of: str
    labels: Mapping[str, str | None]


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpstreamLeftovers:
    """What the upstream service_mesh library leaves behind for ``app``, before a switch.

    Its ConfigMap ``juju-service-mesh-<app>-labels`` (``data.labels``: JSON of the labels)
    and those labels on the StatefulSet template and the Service, written as the charm
    would have written them: the library must adopt them and clean up what is not wanted.
    """

    app: str
    labels: Mapping[str, str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class JujuRewrite:
    """Juju re-ensures the app's StatefulSet (refresh, trust, controller restart)."""

    app: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiError:
    """The next ``count`` matching Kubernetes API requests fail with ``status``, unapplied.

    409 storms, 5xx, a transient 403; ``unit`` limits it to that unit's requests.
    """

    status: int
    unit: str | None = None
    method: RequestVerb | None = None
    kind: RequestKind | None = None
    count: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiOutage:
    """Every unit's Kubernetes API request fails with ``status`` for ``seconds``.

    An outage of the API server longer than a charm's retries: its hooks fail and Juju
    retries them once the API is back (jujusim's virtual seconds; ``Model.api_outage``).
    """

    seconds: float
    status: Literal[500, 503] = 503


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settle:
    """Wait until nothing is left to do: no hook running or due, every rollout done."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WaitRollout:
    """Run until ``app``'s StatefulSet rollout has begun (update revision != current).

    For a change made during the rolling restart that the previous change caused.
    """

    app: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class WaitFaults:
    """Run until every kill and stall armed at ``app``'s units has met its request.

    A stalled unit then holds its request, unapplied, and virtual time has not moved past
    the stall: the steps after this one happen while it waits (someone else's write of
    the object it is about to write, the provider's data changing before a new leader's
    first hook). Fails if the model settles first: the request never came.
    """

    app: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Check:
    """R1-R4 on ``app``'s objects, no unit in error, its rollout done; fails the run if not.

    On jujusim a kill or stall of one of ``app``'s units that has not fired fails it too.
    """

    app: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExpectStatus:
    """Every unit of ``app`` (or its leader only) shows this workload status."""

    app: str
    status: Literal['active', 'blocked', 'maintenance', 'waiting']
    message: str = ''  # a substring the status message must contain
    leader_only: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExpectNoConfigMap:
    """No ConfigMap of this name is left in the model's namespace."""

    name: str


Action = (
    Deploy
    | Integrate
    | RemoveRelation
    | SetLabels
    | PublishRaw
    | DeletePod
    | Kill
    | Stall
    | LeaderChange
    | Scale
    | RemoveUnit
    | Refresh
    | Trust
    | ForeignLabels
    | UpstreamLeftovers
    | JujuRewrite
    | ApiError
    | ApiOutage
)
"""A step that changes the model: what may run at the same moment as others."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Concurrently:
    """Several actions at the same moment: no waiting between them."""

    steps: tuple[Action, ...]


Step = (
    Action
    | Concurrently
    | Settle
    | WaitRollout
    | WaitFaults
    | Check
    | ExpectStatus
    | ExpectNoConfigMap
)
"""Any step."""

STEP_NAMES: Mapping[str, type[Step]] = {
    'deploy': Deploy,
    'integrate': Integrate,
    'remove-relation': RemoveRelation,
    'set-labels': SetLabels,
    'publish-raw': PublishRaw,
    'delete-pod': DeletePod,
    'kill': Kill,
    'stall': Stall,
    'leader-change': LeaderChange,
    'scale': Scale,
    'remove-unit': RemoveUnit,
    'refresh': Refresh,
    'trust': Trust,
    'foreign-labels': ForeignLabels,
    'upstream-leftovers': UpstreamLeftovers,
    'juju-rewrite': JujuRewrite,
    'api-error': ApiError,
    'api-outage': ApiOutage,
    'concurrently': Concurrently,
    'settle': Settle,
    'wait-rollout': WaitRollout,
    'wait-faults': WaitFaults,
    'check': Check,
    'expect-status': ExpectStatus,
    'expect-no-configmap': ExpectNoConfigMap,
}
"""Each step's name in a scenario file."""

ACTIONS: tuple[type[Step], ...] = (
    Deploy,
    Integrate,
    RemoveRelation,
    SetLabels,
    PublishRaw,
    DeletePod,
    Kill,
    Stall,
    LeaderChange,
    Scale,
    RemoveUnit,
    Refresh,
    Trust,
    ForeignLabels,
    UpstreamLeftovers,
    JujuRewrite,
    ApiError,
    ApiOutage,
)


def step_name(step: Step) -> str:
    """The name ``step`` has in a scenario file."""
    for name, cls in STEP_NAMES.items():
        if type(step) is cls:
            return name
    raise TypeError(f'not a step: {step!r}')  # pragma: no cover - every Step is listed


@dataclasses.dataclass(frozen=True, kw_only=True)
class Scenario:
    """A named sequence of steps, with what it is for."""

    name: str
    description: str
    steps: tuple[Step, ...]
