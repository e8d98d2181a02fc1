"""Applications and units as the controller sees them, and what each unit has seen.

What a unit has seen (its local state: installed, started, the config and databag versions
it ran hooks for) is what ``_resolver`` compares with the controller's state.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal

import ops
import ops.testing

from ..agent import CharmSource, HookSpec
from ._lease import Lease

# Hook retry backoff: 5 s, doubling, capped at 5 min (juju/juju
# ``apiserver/hookretrystrategy``; ``automatically-retry-hooks`` defaults to true:
# https://documentation.ubuntu.com/juju/3.6/reference/configuration/list-of-model-configuration-keys).
RETRY_FIRST = 5.0
RETRY_MAX = 300.0
# update-status-hook-interval defaults to 5m (same model-configuration reference).
UPDATE_STATUS_INTERVAL = 300.0
# The uniter's timers (juju internal/worker/uniter/timer.go): update-status waits a random
# 0.8-1.2x its interval (NewUpdateStatusTimer); each retry backoff doubles with +/-3 %
# jitter (backoffTimer.increaseDuration).
UPDATE_STATUS_SPREAD = (0.8, 1.2)
RETRY_JITTER = 0.03


@dataclasses.dataclass
class Failure:
    """A hook that failed and will be retried: the unit is in error until it succeeds."""

    spec: HookSpec
    attempts: int
    retry_at: float
    message: str
    hook_name: str = ''  # as Juju names it, e.g. ``config-changed``, ``peers-relation-changed``
    delay: float = 0.0  # the backoff that led to retry_at; the next one doubles it


class HookFailureKind(enum.Enum):
    """What made a hook (or an action) fail: the charm's code, Juju, or the harness.

    Only :attr:`NOT_LEADER_AT_COMMIT`, :attr:`AGENT_DIED` and :attr:`API_OUTAGE` are
    failures imposed whatever the charm's code does (:attr:`imposed_by_juju`); every other
    kind is the charm's own doing, or the harness's, and counts against the charm.
    """

    CHARM_RAISED = 'charm raised'
    """The charm raised: its own error, or an API error (a 409 past its retries, a 403,
    a 5xx) it let through."""

    NOT_LEADER_AT_COMMIT = 'not leader at commit'
    """Juju refused the hook's commit: it wrote application data, and its unit was no
    longer leader when the hook ended. Juju checks a leadership token in the commit's one
    transaction (juju apiserver/facades/agent/uniter/uniter.go
    ``commitHookChangesForOneUnit``, ``updateApplicationSettingsOp``:
    ``LeadershipCheck``), the uniter fails the hook with the commit's error
    (internal/worker/uniter/runner/context/context.go ``Flush``, ``doFlush``) and retries
    it. Leadership can move while any hook runs, so any charm whose leader writes
    application data meets this."""

    API_OUTAGE = 'API outage'
    """The charm raised after its last API request was answered by an outage of the API
    server (:meth:`Model.api_outage`: every unit's request answered 503 for a while): a
    charm that needs the API cannot succeed until the API is back, whatever its retries,
    and Juju retries the hook. A charm that fails on a single 5xx is still caught where
    single errors are injected (:meth:`Model.inject_api_error`; ``explore``'s ``api_5xx``
    weight, 0 by default)."""

    TIMED_OUT = 'timed out'
    """The hook ran past the harness's wall-clock limit, and its worker was killed (a hung
    charm)."""

    INCONSISTENT = 'inconsistent'
    """ops.testing refused the state or the event the hook was to run with."""

    WORKER_ERROR = 'worker error'
    """The worker process itself failed (a fault of the harness, or an unpicklable
    result)."""

    AGENT_DIED = 'agent died'
    """An action whose agent died while it ran: Juju fails it rather than run it again
    (juju internal/worker/uniter/actions/resolver.go ``NextOp``). Actions only."""

    @property
    def imposed_by_juju(self) -> bool:
        """Whether the hook fails this way whatever the charm's code does.

        Juju's refusal of its commit, its agent's death, or an API outage past any retries.
        """
        return self in (
            HookFailureKind.NOT_LEADER_AT_COMMIT,
            HookFailureKind.AGENT_DIED,
            HookFailureKind.API_OUTAGE,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class HookFailure:
    """One failed run of a hook: the unit went into error (Juju retries it).

    Attributes:
        unit: the unit.
        hook: the hook, e.g. ``relation_changed(3, remote_unit=0)``.
        time: the virtual time it failed at.
        attempt: 1 for the first failure of this hook in a row, 2 for its first retry...
        kind: what made it fail (:class:`HookFailureKind`): match on this, not on
            ``cause``'s wording.
        cause: the exception, ``Type: message`` (``TimeoutError`` for a hung hook), or
            Juju's refusal of the commit.
        api_errors: the hook's API requests answered with an error, ``METHOD path -> 409``,
            in order: the usual reason a Kubernetes charm's hook fails.
        traceback: the charm's traceback, for people.
    """

    unit: str
    hook: str
    time: float
    attempt: int
    kind: HookFailureKind
    cause: str
    api_errors: tuple[str, ...]
    traceback: str = ''

    def describe(self) -> str:
        """One line for people: unit, hook, time, attempt, kind, cause, API errors."""
        errors = f' [{"; ".join(self.api_errors)}]' if self.api_errors else ''
        return (
            f'{self.unit} {self.hook} failed at {self.time:g} s (attempt {self.attempt}, '
            f'{self.kind.value}): {self.cause}{errors}'
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnitStatus:
    """A unit as ``juju status`` shows it, read-only.

    Attributes:
        unit: the unit.
        agent: ``allocating`` (no agent has run yet), ``idle``, ``executing`` (a hook
            runs), ``error`` (its last hook failed, a retry is due) or ``lost`` (its pod is
            gone and no new agent runs yet).
        workload: the workload status the charm last set (``active``, ``blocked``,
            ``maintenance``, ``waiting``, ``unknown``...).
        message: that status' message.
        leader: whether the unit holds its application's lease now.
        last_hook: the last hook that finished (``stop`` included), or None.
        last_outcome: ``ok`` or ``failed`` for ``last_hook``; None before any hook.
        failure: why ``last_hook`` failed, when it did.
    """

    unit: str
    agent: Literal['allocating', 'idle', 'executing', 'error', 'lost']
    workload: str
    message: str
    leader: bool
    last_hook: str | None
    last_outcome: Literal['ok', 'failed'] | None
    failure: HookFailure | None


@dataclasses.dataclass
class UnitRelation:
    """What one unit has seen of one relation."""

    created: bool = False
    joined: set[str] = dataclasses.field(default_factory=set[str])  # remote unit names
    seen: dict[str, int] = dataclasses.field(default_factory=dict[str, int])  # bag -> version
    departed: set[str] = dataclasses.field(default_factory=set[str])
    broken: bool = False
    changed_pending: str | None = None  # joined, its relation-changed not yet run


@dataclasses.dataclass
class Unit:
    """One unit: its pod, its worker, and what it has seen of the model."""

    name: str
    app: str
    ordinal: int
    token: str
    alive: bool = False  # a worker runs for the current pod
    pod_uid: str | None = None
    incarnation: int = 0  # how many pods this unit has had
    installed: bool = False
    upgrade_pending: bool = False
    # leader-settings-changed due on a non-leader: at startup, after a restart, when
    # leadership moves away from it.
    settings_pending: bool = True
    started: bool = False
    pebble_pending: list[str] = dataclasses.field(default_factory=list[str])
    leader_notified: bool = False
    seen_config: int = -1
    relations: dict[int, UnitRelation] = dataclasses.field(default_factory=dict[int, UnitRelation])
    failure: Failure | None = None
    next_update_status: float = UPDATE_STATUS_INTERVAL
    actions: list[HookSpec] = dataclasses.field(default_factory=list[HookSpec])
    # Pod-local Juju-side parts kept between hooks (lost with the pod).
    containers: list[ops.testing.Container] = dataclasses.field(
        default_factory=list[ops.testing.Container]
    )
    unit_status: ops.StatusBase = dataclasses.field(default_factory=ops.UnknownStatus)
    hooks_run: int = 0
    # Juju's unit life: Dying once it is being removed (a scale-down); stopped and removed
    # as its stop and remove hooks ran; removed means Dead (its agent is gone).
    dying: bool = False
    stopped: bool = False
    removed: bool = False
    last_hook: str | None = None  # the last hook that finished, and how
    last_failure: HookFailure | None = None  # set when last_hook failed
    # The hook or action that ran past the harness's wall-clock limit. Juju sets no limit
    # (internal/worker/uniter/runner/runner.go runCharmProcessOnLocal waits for the hook's
    # process with no deadline), so the unit's agent would still be in it: it runs nothing
    # else until its pod goes (the harness only killed the worker).
    hung: str = ''

    @property
    def pod(self) -> str:
        """The unit's pod: ``app/N`` runs in ``app-N``."""
        return f'{self.app}-{self.ordinal}'

    @property
    def workload_status(self) -> ops.StatusBase:
        """The workload status Juju shows: ``error`` while a failed hook awaits its retry.

        A failed hook puts the unit in error with the message ``hook failed: "NAME"``, the
        relation hooks' names prefixed with the endpoint, until a retry succeeds; the
        charm's own status shows again then (juju internal/worker/uniter/uniter.go
        ``reportHookError``: ``setAgentStatus(status.Error, "hook failed: %q")``; juju
        status shows a unit whose agent is in error with workload status ``error``).
        """
        if self.failure is not None:
            return ops.ErrorStatus(f'hook failed: "{self.failure.hook_name}"')
        return self.unit_status

    @property
    def in_error(self) -> bool:
        """Whether the unit's last hook failed and has not yet succeeded on retry."""
        return self.failure is not None


@dataclasses.dataclass
class Application:
    """One deployed application."""

    name: str
    charm: CharmSource
    scale: int
    config: dict[str, Any]
    trusted: bool
    kubeconfig_dir: str
    config_version: int = 0
    lease: Lease = dataclasses.field(default_factory=Lease)
    units: dict[str, Unit] = dataclasses.field(default_factory=dict[str, Unit])
    app_status: ops.StatusBase = dataclasses.field(default_factory=ops.UnknownStatus)
    # Bumped by each refresh (juju: CharmModifiedVersion, in the pod template's annotations).
    charm_modified_version: int = 0
    dying: bool = False  # remove-application was asked

    @property
    def planned_units(self) -> int:
        """What ops' ``planned_units()`` reads from goal-state: the units not Dying.

        goal-state lists the application's units but the Dead ones, a Dying unit with
        status ``dying`` (juju apiserver/facades/agent/uniter ``goalStateUnits``), and ops
        counts the others. Removing the application makes every unit Dying (juju
        state/cleanup.go ``cleanupUnitsForDyingApplication``).
        """
        if self.dying:
            return 0
        return sum(1 for unit in self.units.values() if not unit.dying)
