"""The scheduler: one seeded decider for every choice, and the loop that settles the model.

Every API request of every unit is held at the gate until the scheduler releases it; the
scheduler picks among held requests, hooks ready to start, stop hooks of terminating pods
and the StatefulSet controller's next step with one seeded random choice, so a seed
replays a run exactly. Virtual time moves only when nothing else can happen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from ..agent import AgentPool
from ..kube import kind_of_path
from ._errors import LivelockError, ModelError
from ._expectations import Expectations
from ._faults import Faults
from ._gate import Gate, HeldRequest
from ._hooks import Hooks
from ._leadership import Leadership
from ._pods import Pods
from ._provisioner import Provisioner
from ._timers import SETTLE_BUSY_BOUND, SETTLE_RETRY_BOUND, Timers
from ._world import World

# Scheduling decisions a settle() may take by default. A settle of the explorer's schedules
# takes at most about 130; this bounds a livelock that never moves the clock (hooks that
# trigger each other for ever) at a minute or two of wall time, about 4 ms a step.
MAX_STEPS = 20_000


class Scheduler:
    """Decides the next step and runs the model to quiescence."""

    def __init__(
        self,
        world: World,
        *,
        pool: AgentPool,
        gate: Gate,
        hooks: Hooks,
        pods: Pods,
        faults: Faults,
        timers: Timers,
        leadership: Leadership,
        provisioner: Provisioner,
        expectations: Expectations,
    ):
        self._world = world
        self._pool = pool
        self._gate = gate
        self._hooks = hooks
        self._pods = pods
        self._faults = faults
        self._timers = timers
        self._leadership = leadership
        self._provisioner = provisioner
        self._expectations = expectations

    def advance(self, seconds: float, *, max_steps: int) -> None:
        """Let ``seconds`` of virtual time pass, running everything due on the way."""
        clock = self._world.clock
        until = clock.now + seconds
        self.settle(max_steps=max_steps, retry_until=until)
        while True:
            due = self._timers.next_due(include_periodic=True)
            if due is None or due > until:
                break
            clock.advance_to(due)
            self._timers.fire()
            self.settle(max_steps=max_steps, retry_until=until)
        clock.advance_to(until)
        self._timers.fire()
        self.settle(max_steps=max_steps, retry_until=until)

    def settle(self, *, max_steps: int, retry_until: float | None = None) -> int:
        """Run until quiescent; return the steps taken (see :meth:`Model.settle`).

        Hook retries count up to ``retry_until`` (by default :data:`SETTLE_RETRY_BOUND`
        from now); :meth:`advance` passes its own end, so it never overshoots.

        Raises:
            LivelockError: still busy after ``max_steps`` decisions, or with something
                due :data:`SETTLE_BUSY_BOUND` virtual seconds past ``retry_until`` and
                past the end of every stall.
        """
        clock = self._world.clock
        began = clock.now
        since = len(self._world.trace.events)
        if retry_until is None:
            retry_until = began + SETTLE_RETRY_BOUND
        for taken in range(max_steps):
            if self.step():
                continue
            due = self._timers.next_due(include_periodic=False, retry_until=retry_until)
            if due is None:
                return taken
            if due > self._busy_limit(retry_until):
                raise self._livelock(
                    f'not quiescent {due - began:.0f} virtual seconds after settling began '
                    f'({taken} steps)',
                    since,
                )
            clock.advance_to(due)
            self._timers.fire()
        raise self._livelock(f'not quiescent after {max_steps} steps', since)

    def _busy_limit(self, retry_until: float) -> float:
        """The virtual time past which a model still busy is livelocked.

        :data:`SETTLE_BUSY_BOUND` past the last retry counted, and past the end of every
        wait a test asked for (stalls, a Juju re-ensure's held PATCH) and of every hook's
        sleep: however long, they are no sign of a model keeping itself busy.
        """
        waits = [*self._faults.due(), *self._provisioner.due(), *self._hooks.wakes()]
        return max([retry_until, *waits]) + SETTLE_BUSY_BOUND

    def _livelock(self, what: str, since: int) -> LivelockError:
        """The error, its first line saying what kept the model busy since event ``since``."""
        trace = self._world.trace
        events = trace.events[since:]
        hooks = Counter(
            f'{event.unit} {str(event.fields.get("hook", "")).partition("(")[0]}'
            for event in events
            if event.kind == 'hook-start'
        )
        pods = sum(event.kind == 'pod-started' for event in events)
        writes = sum(
            event.kind == 'request' and event.fields.get('method') != 'GET' for event in events
        )
        often = ', '.join(f'{hook} x{count}' for hook, count in hooks.most_common(3))
        busy = f'{hooks.total()} hooks ({often or "none"}), {pods} pods started, {writes} writes'
        tail = '\n'.join(trace.lines[-30:])
        return LivelockError(f'{what}: {busy}; last trace lines:\n{tail}')

    def run_until(
        self,
        reached: Callable[[], bool],
        *,
        what: str,
        before_hook_of: str | None = None,
        max_steps: int,
    ) -> int:
        """Run as :meth:`settle` does until ``reached()``; return the steps taken.

        With ``before_hook_of``, also stop as soon as that unit's next hook is ready to
        start, before it starts.

        Raises:
            ModelError: the model settled first; ``what`` says what did not happen.
            LivelockError: neither after ``max_steps`` decisions, nor within the bounds
                on virtual time :meth:`settle` has (hook retries counted throughout).
        """
        clock = self._world.clock
        retries_until = clock.now + SETTLE_RETRY_BOUND  # every retry runs; the bound counts
        since = len(self._world.trace.events)
        for taken in range(max_steps):
            if reached():
                return taken
            if before_hook_of is not None:
                self._wait_until_blocked()
                self._pods.process_events()
                if ('hook', before_hook_of) in self._choices():
                    return taken
            if self.step():
                continue
            due = self._timers.next_due(include_periodic=False)
            if due is None:
                # The step that settled the model may be the one that made it happen.
                if reached():
                    return taken
                raise ModelError(f'{what} did not happen: the model settled first')
            if due > self._busy_limit(retries_until):
                bound = SETTLE_RETRY_BOUND + SETTLE_BUSY_BOUND
                raise self._livelock(
                    f'{what} did not happen in {bound:.0f} virtual seconds ({taken} steps)',
                    since,
                )
            clock.advance_to(due)
            self._timers.fire()
        if reached():
            return max_steps
        raise self._livelock(f'{what} did not happen in {max_steps} steps', since)

    def step(self) -> bool:
        """Make one scheduling decision; False when there is nothing to decide."""
        self._wait_until_blocked()
        self._pods.process_events()
        choices = self._choices()
        if not choices:
            return False
        world = self._world
        kind, target = world.rng.choice(choices)
        if kind == 'release':
            self._release(self._hooks.held.pop(target))
        elif kind == 'hook':
            unit = world.unit(target)
            if not self._faults.intercept_hook(unit):
                self._hooks.start_hook(unit)
        elif kind == 'die':
            self._hooks.die(world.unit(target))
        elif kind == 'stop':
            unit = world.unit(target)
            if unit.started:
                self._hooks.start_stop(unit)
            else:
                self._pods.agent_exits(unit)
        elif kind == 'claim':
            self._leadership.claim_one(target)
        elif kind == 'juju':
            self._provisioner.step(target)
        else:
            self._pods.controller_step()
        return True

    def _choices(self) -> list[tuple[str, str]]:
        hooks, faults = self._hooks, self._faults
        now = self._world.clock.now
        choices = [
            ('release', unit)
            for unit, held in sorted(hooks.held.items())
            if not faults.stalled(unit) and (held.wake_at is None or held.wake_at <= now)
        ]
        for unit in self._world.units():
            if not unit.alive or unit.name in hooks.running or unit.name in hooks.held:
                continue
            if faults.stalled(unit.name):
                continue
            if unit.name in self._pods.terminating:
                # A hung agent runs no stop (it is still in its hook: Unit.hung); the kubelet
                # SIGKILLs it at the grace period's end (Pods).
                if not unit.hung:
                    choices.append(('stop', unit.name))
                continue
            if hooks.next_hook(unit) is not None:
                choices.append(('hook', unit.name))
            elif unit.dying and unit.failure is None and not unit.hung:
                choices.append(('die', unit.name))
        if self._pods.controller_ready():
            choices.append(('controller', ''))
        # A free lease: the waiting agents' claims race the rest (tracker.go setMinion).
        choices.extend(
            ('claim', name)
            for name, app in sorted(self._world.apps.items())
            if self._leadership.claimants(app)
        )
        # Juju's re-ensure of a StatefulSet: its GET and its PATCH are a step each, so the
        # units' requests interleave with them as with any other client's.
        choices.extend(('juju', app) for app in self._provisioner.ready())
        return choices

    def _release(self, held: HeldRequest) -> None:
        if held.sleep is not None:  # the hook's time.sleep is over: no API request
            held.release('apply')
            self._await(held.unit)
            return
        if self._faults.intercept(held):
            return
        outage = self._faults.outage_answer()
        if outage is not None:
            held.apply_with = outage  # answered by the outage, unapplied
        # Sent before the response: the worker's questions until its next request need
        # no round trip through this thread (worker.live_is_leader).
        self._pool.answer_is_leader_ahead(held.unit, self._leadership.answer_ahead(held.unit))
        request = held.request
        watched = self._expectations.before_write(held.unit, request.method, request.path)
        held.release('apply')
        held.applied.wait()
        if watched is not None:
            self._expectations.after_write(held.unit, held.describe(), watched)
        status = held.response.status if held.response else 'lost'
        self._expectations.landed(held.unit, request.method, request.path, status, held.describe())
        running = self._hooks.running.get(held.unit)
        if running is not None:
            running.outage_answered = outage is not None
            if status == 'lost' or int(status) >= 400:
                running.api_errors.append(f'{held.describe()} -> {status}')
        self._world.trace.record(
            'request',
            f'{held.unit} {held.describe()} -> {status}',
            unit=held.unit,
            request=held.describe(),
            method=held.request.method,
            resource=kind_of_path(held.request.path),
            status=status,
        )
        self._await(held.unit)

    # -- waiting for the workers ------------------------------------------------------------

    def _wait_until_blocked(self) -> None:
        """Wait until every running hook is held at the gate or finished."""
        for unit in sorted(self._hooks.running):
            if unit not in self._hooks.held:
                self._await(unit)

    def _await(self, unit: str) -> None:
        """Wait for ``unit``'s next event: a held request, its hook's end or its death."""
        while unit in self._hooks.running and unit not in self._hooks.held:
            self._pump()

    def _pump(self) -> None:
        if self._collect_arrivals():
            return
        event = self._pool.next_event(timeout=30.0)
        if event is not None:
            self._hooks.on_agent_event(event)
        self._collect_arrivals()

    def _collect_arrivals(self) -> bool:
        arrived = self._gate.arrived()
        hooks = self._hooks
        for held in arrived:
            unit = self._world.find_unit(held.unit)
            if unit is None or not unit.alive or held.unit not in hooks.running:
                held.release('drop')  # a request of a process already killed
                continue
            if held.sleep is None:
                hooks.running[held.unit].calls += 1
            else:
                # The hook sleeps that long while the rest of the model goes on
                # (agent._private.worker.virtual_sleep); its agent still renews its lease.
                held.wake_at = self._world.clock.now + held.sleep
                self._world.trace.record(
                    'sleep',
                    f'{held.unit} sleeps {held.sleep:g} s in its hook',
                    unit=held.unit,
                    seconds=held.sleep,
                )
            hooks.held[held.unit] = held
        return bool(arrived)
