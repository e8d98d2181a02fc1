"""The simulated model: hooks/s against plain ops.testing, pod restarts, a seeded schedule.

Run: ``uv run --group unit python -m benchmarks bench_model``. Prints medians and mins
over repeats; nothing passes or fails on a timing (targets: ``issues show 6``, "Figures").

1. Hooks per second: a 3-unit mesh-consumer and a beacon-stub, related and settled, then
   ``ROUNDS`` label changes on the provider, each settled. Every hook the model starts
   is recorded (unit, hook, Juju-side state, trust); the same hooks then run again in
   this one process through plain ``ops.testing.Context`` (StoredState carried per unit,
   ``is-leader`` from the State), the charm's lightkube clients talking to the same
   fake API over an ungated loopback server. The API then already holds the final
   labels, so the plain run may skip writes the model run made: the ratio errs
   against the model.
2. Pod restart: a settled mesh-consumer; ``delete_pod(graceful=False)`` of the leader
   (its first hook, ``upgrade-charm``, reconciles: 4 API reads) or of a non-leader (no
   API call), then scheduler steps until the new pod's first hook is done. The unit is
   idle when its pod goes, so its process serves the new pod (``AgentPool.set_aside``);
   spares are warmed between repeats all the same, so each repeat is the steady state.
   Beside it, that first hook alone in the model (from the scheduler's start of it to
   done): the restart less the simulated deletion, new pod and choice of the hook. The
   floor is that first hook alone through plain ``ops.testing`` in this process, as in 1
   (the best of three runs of it); at the end, the same with the workers' ``speedups``.
3. Schedule of 50 hook events (the issue's figure): 3 mesh-consumer units and a
   beacon-stub, settled; then seeded model events (a new label set on the provider: a
   relation-changed on every consumer unit; 5 virtual minutes: update-status everywhere;
   a consumer pod deleted gracefully: stop and the restart sequence), ``STEPS_BETWEEN``
   scheduler decisions after each, until ``HOOK_EVENTS`` mesh-consumer hooks have run;
   then ``settle()``. The wall time covers the events and the settle, not deploying;
   the provider's hooks run in it too, uncounted. The floor beside it is every hook the
   run started (the provider's too) through plain ``ops.testing`` in this process, one
   after another, as in 1: what the charm code and ops.testing cost with no harness;
   printed last, the same again with the workers' ``speedups`` installed in this process.
   Last, the targets' ratios: each schedule and each restart over its floor with the
   speedups, all measured in this run.
4. Chaos schedule: the same deployment, then ``CHAOS_EVENTS`` seeded calls of the Model
   API (a new label set, a pod deleted gracefully or killed, a SIGKILL at an API call, a
   leader stall, a foreign label written on a pod that exists), ``STEPS_BETWEEN``
   decisions after each; then ``settle()``. Kills cut hooks short, so it runs more hooks
   than it finishes; it has no target.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import random
import statistics
import tempfile
import time

import ops
import ops.testing

from jujusim import kube
from jujusim.agent import CharmSource, HookSpec
from jujusim.agent._private import hooks, speedups, worker
from jujusim.model import Model, TraceEvent
from jujusim.model._units import UPDATE_STATUS_INTERVAL

CHARMS = pathlib.Path(__file__).parent.parent / 'charms'
CONSUMER = CHARMS / 'mesh-consumer'
PROVIDER = CHARMS / 'beacon-stub'
ROUNDS = 4
REPEATS = 3
RESTARTS = 15
HOOK_EVENTS = 50
CHAOS_EVENTS = 50
STEPS_BETWEEN = 2
SCHEDULE_SEEDS = (1, 2, 3)


@dataclasses.dataclass(frozen=True)
class _Recorded:
    unit: str
    spec: HookSpec
    state: ops.testing.State
    trusted: bool
    started_at: float  # perf_counter() when the model started it


def _deploy(model: Model, units: int) -> None:
    model.deploy(CONSUMER, units=units, trust=True)
    model.deploy(PROVIDER, units=1)
    model.integrate('mesh-consumer', 'beacon-stub')
    model.settle()


def _hooks_done(trace: list[str], app: str = '') -> int:
    return sum(1 for line in trace if line.endswith(' done') and f' {app}' in line)


@dataclasses.dataclass
class _Replay:
    """The hooks a model run started, and what running them again in one process needs."""

    hooks: list[_Recorded]
    fake: kube.FakeKube
    tokens: dict[str, str]

    def plain_time(self) -> float:
        """The time of all these hooks through plain ops.testing (:func:`_plain_hooks`)."""
        return sum(_plain_hooks(self.hooks, self.fake, self.tokens))


def _record(model: Model) -> _Replay:
    """Record every hook ``model`` starts from now on (bench-only instrumentation)."""
    replay = _Replay([], model.kube, {u.name: u.token for u in model.units()})
    start_hook = model.pool.start_hook

    def recording(
        unit: str, spec: HookSpec, juju_state: ops.testing.State, *, trusted: bool = False
    ) -> int:
        replay.hooks.append(_Recorded(unit, spec, juju_state, trusted, time.perf_counter()))
        return start_hook(unit, spec, juju_state, trusted=trusted)

    model.pool.start_hook = recording
    return replay


def _model_hooks(seed: int) -> tuple[float, _Replay]:
    """Time the label-change rounds through the model; return them for the plain run."""
    model = Model(seed=seed)
    try:
        _deploy(model, units=3)
        replay = _record(model)
        started = time.perf_counter()
        for round_ in range(ROUNDS):
            model.config('beacon-stub', labels=json.dumps({'bench': str(round_)}))
            model.settle()
        elapsed = time.perf_counter() - started
    finally:
        model.close()
    return elapsed, replay


def _plain_hooks(
    recorded: list[_Recorded],
    fake: kube.FakeKube,
    tokens: dict[str, str],
    apps: dict[str, pathlib.Path] | None = None,
) -> list[float]:
    """Run the recorded hooks in this process through plain ops.testing; return each time.

    ``apps``: each application's charm folder, by default as :func:`_deploy` names them.
    """
    folders = apps or {'mesh-consumer': CONSUMER, 'beacon-stub': PROVIDER}
    sources = {app: CharmSource.load(folder) for app, folder in folders.items()}
    types = {app: source.load_charm_class() for app, source in sources.items()}
    local: dict[str, frozenset[ops.testing.StoredState]] = {}
    worker.quiet_http_loggers()  # as every worker does: no debug lines in juju-log
    with (
        tempfile.TemporaryDirectory(dir=_tmp_root()) as tmp,
        kube.KubeServer(fake.handle) as server,
    ):
        configs = {
            unit: server.write_kubeconfig(
                pathlib.Path(tmp) / unit.replace('/', '-'), token=token, namespace='jujusim'
            )
            for unit, token in tokens.items()
        }
        saved_tmp, saved_kubeconfig = tempfile.tempdir, os.environ.get('KUBECONFIG')
        tempfile.tempdir = tmp  # the workers' temp dirs are on tmpfs too
        try:
            times: list[float] = []
            for hook in recorded:
                started = time.perf_counter()
                app, _, number = hook.unit.rpartition('/')
                os.environ['KUBECONFIG'] = str(configs[hook.unit])
                ctx = ops.testing.Context(
                    types[app],
                    **sources[app].context_kwargs(),
                    app_name=app,
                    unit_id=int(number),
                    juju_version='3.6.14',
                    app_trusted=hook.trusted,
                )
                if hook.spec.kind == 'upgrade_charm':  # a new pod: its local state is gone
                    local.pop(hook.unit, None)
                state = dataclasses.replace(
                    hook.state, stored_states=local.get(hook.unit, frozenset())
                )
                try:
                    out = ctx.run(hooks.to_event(ctx, hook.spec, state), state)
                    local[hook.unit] = out.stored_states
                except Exception:  # noqa: S110 - a failing hook still costs its time
                    pass
                finally:
                    ctx.close()
                times.append(time.perf_counter() - started)
            return times
        finally:
            tempfile.tempdir = saved_tmp
            if saved_kubeconfig is None:
                os.environ.pop('KUBECONFIG', None)
            else:
                os.environ['KUBECONFIG'] = saved_kubeconfig


def _tmp_root() -> str:
    shm = '/dev/shm'  # noqa: S108 - as the agent pool does for its workers
    return shm if os.access(shm, os.W_OK | os.X_OK) else tempfile.gettempdir()


def _stamp_done_lines(model: Model, unit: str) -> list[float]:
    """When ``unit``'s hooks are recorded done, from now on (bench-only instrumentation).

    The step that finishes a hook goes on to start the next one; a hook is done when the
    model has taken its result, which is when it logs it.
    """
    stamps: list[float] = []

    def stamping(event: TraceEvent) -> None:
        if event.unit == unit and event.kind == 'hook-done':
            stamps.append(time.perf_counter())

    model.subscribe(stamping)
    return stamps


@dataclasses.dataclass
class _Restarts:
    """Restart times of one unit, and each restart's first hook, to run again plainly."""

    samples: list[float]
    first_hooks: list[_Recorded]
    replay: _Replay
    # Each first hook alone in the model: from the scheduler's start of it to done.
    hook_samples: list[float]

    def floors(self) -> list[float]:
        """Each first hook alone through plain ops.testing: the best of three runs in a row
        (the plain process's caches are then warm)."""
        hooks = [h for h in self.first_hooks for _ in range(3)]
        runs = _plain_hooks(hooks, self.replay.fake, self.replay.tokens)
        return [min(runs[i : i + 3]) for i in range(0, len(runs), 3)]


def _restart_costs(*, leader: bool) -> _Restarts:
    """delete_pod to the restarted unit's first hook done, for the leader or a non-leader.

    The leader's first hook (upgrade-charm) reconciles: 4 API reads through the gate. A
    non-leader's makes no API call.
    """
    samples: list[float] = []
    hook_samples: list[float] = []
    first_hooks: list[_Recorded] = []
    with Model(seed=0) as model:
        model.deploy(CONSUMER, units=1 if leader else 2, trust=True)
        model.settle()
        elected = model.leader('mesh-consumer')
        unit = elected if leader else next(u.name for u in model.units() if u.name != elected)
        if unit is None:
            raise RuntimeError('no leader was elected')
        replay = _record(model)
        done_at = _stamp_done_lines(model, unit)
        for _ in range(RESTARTS):
            model.pool.wait_for_spares()
            recorded_before = len(replay.hooks)
            done_at.clear()
            started = time.perf_counter()
            model.delete_pod(unit, graceful=False)
            while not done_at:
                if not model.step():
                    raise RuntimeError('the restarted unit ran no hook')
            samples.append(done_at[0] - started)
            first = next(h for h in replay.hooks[recorded_before:] if h.unit == unit)
            first_hooks.append(first)
            hook_samples.append(done_at[0] - first.started_at)
            model.settle()
    return _Restarts(samples, first_hooks, replay, hook_samples)


def _ratios(times: list[float], floors: list[float]) -> list[float]:
    return [t / f for t, f in zip(times, floors, strict=True)]


def _hook_schedule(seed: int) -> tuple[float, int, _Replay]:
    rng = random.Random(seed)  # noqa: S311 - a schedule, not a secret
    units = [f'mesh-consumer/{n}' for n in range(3)]
    with Model(seed=seed) as model:
        _deploy(model, units=3)
        model.pool.wait_for_spares()
        replay = _record(model)
        before = len(model.trace)
        started = time.perf_counter()
        event = 0
        while _hooks_done(model.trace[before:], 'mesh-consumer/') < HOOK_EVENTS:
            kind = rng.choice(('labels', 'labels', 'tick', 'delete'))
            if kind == 'labels':
                model.config('beacon-stub', labels=json.dumps({'bench': f'v{event}'}))
            elif kind == 'tick':
                model.advance(UPDATE_STATUS_INTERVAL)
            else:
                model.delete_pod(rng.choice(units), graceful=True)
            for _ in range(STEPS_BETWEEN):
                model.step()
            event += 1
        model.settle()
        wall = time.perf_counter() - started
        return wall, _hooks_done(model.trace[before:], 'mesh-consumer/'), replay


def _chaos_schedule(seed: int) -> tuple[float, int]:
    rng = random.Random(seed)  # noqa: S311 - a schedule, not a secret
    units = [f'mesh-consumer/{n}' for n in range(3)]
    with Model(seed=seed) as model:
        _deploy(model, units=3)
        before = len(model.trace)
        started = time.perf_counter()
        for event in range(CHAOS_EVENTS):
            kind = rng.choice(('labels', 'labels', 'delete', 'kill', 'stall', 'foreign'))
            unit = rng.choice(units)
            if kind == 'labels':
                labels = {f'k{rng.randrange(4)}': f'v{event}' for _ in range(rng.randrange(1, 3))}
                model.config('beacon-stub', labels=json.dumps(labels))
            elif kind == 'delete':
                model.delete_pod(unit, graceful=rng.random() < 0.5)
            elif kind == 'kill':
                model.kill_at_call(unit, rng.randrange(1, 6), applied=rng.random() < 0.5)
            elif kind == 'stall':
                model.stall(model.leader('mesh-consumer') or unit, rng.choice((5.0, 40.0)))
            elif model.kube.get('Pod', model.name, unit.replace('/', '-')) is not None:
                model.write_labels('Pod', unit.replace('/', '-'), {'team': f't{event}'})
            for _ in range(STEPS_BETWEEN):
                model.step()
        model.settle()
        return time.perf_counter() - started, _hooks_done(model.trace[before:], 'mesh-consumer/')


def _line(name: str, samples: list[float], unit: str = 'ms', scale: float = 1e3) -> str:
    return (
        f'{name:<58} median {statistics.median(samples) * scale:8.1f} {unit}'
        f'  min {min(samples) * scale:8.1f} {unit}  (n={len(samples)})'
    )


def main() -> None:
    """Print the model's figures."""
    model_rates: list[float] = []
    plain_rates: list[float] = []
    ratios: list[float] = []
    counts: list[int] = []
    for repeat in range(REPEATS):
        elapsed, replay = _model_hooks(seed=repeat)
        plain = replay.plain_time()
        ran = len(replay.hooks)
        model_rates.append(ran / elapsed)
        plain_rates.append(ran / plain)
        ratios.append(elapsed / plain)
        counts.append(ran)
    print(f'hooks per repeat (label changes x {ROUNDS}, 3+1 units): {counts}')
    print(_line('model: hooks/s', model_rates, unit='/s', scale=1.0))
    print(_line('plain ops.testing, one process: hooks/s', plain_rates, unit='/s', scale=1.0))
    print(_line('ratio model time / plain time (same hooks)', ratios, unit='x', scale=1.0))
    restarts: dict[str, _Restarts] = {}
    for who, leader in (('leader', True), ('non-leader', False)):
        restarts[who] = restart = _restart_costs(leader=leader)
        print(_line(f'pod restart, {who}: delete_pod to first hook done', restart.samples))
        print(_line('  of which that first hook, started to done', restart.hook_samples))
        print(_line('  that first hook alone, plain ops.testing (floor)', restart.floors()))
    walls: list[float] = []
    plains: list[float] = []
    replays: list[_Replay] = []
    hooks_run: dict[int, tuple[int, int]] = {}
    for seed in SCHEDULE_SEEDS:
        wall, done, replay = _hook_schedule(seed)
        walls.append(wall)
        plains.append(replay.plain_time())
        replays.append(replay)
        hooks_run[seed] = (done, len(replay.hooks))
    print(f'per seed (mesh-consumer hooks done, hooks started by all units): {hooks_run}')
    print(_line(f'3-unit mesh-consumer schedule, {HOOK_EVENTS} hook events, settled', walls))
    print(_line('  the same hooks, plain ops.testing, one process (floor)', plains))
    chaos_walls: list[float] = []
    chaos_hooks: dict[int, int] = {}
    for seed in SCHEDULE_SEEDS:
        wall, chaos_hooks[seed] = _chaos_schedule(seed)
        chaos_walls.append(wall)
    print(f'mesh-consumer hooks done per seed {chaos_hooks}')
    print(_line(f'chaos: {CHAOS_EVENTS} model events, settled', chaos_walls))
    # Last: install() patches ops and ops.testing in this process for good (and so for
    # any benchmark module run after this one).
    speedups.install()
    fast_plains = [replay.plain_time() for replay in replays]
    print(
        _line(
            f"{HOOK_EVENTS}-event schedule's hooks, plain + the workers' speedups (floor)",
            fast_plains,
        )
    )
    # The targets (issues show 12, "Figures"): each a ratio to a floor measured in this
    # run, with the speedups the workers run with.
    print('ratios to the floors with the speedups, this run (targets: issue 12, "Figures"):')
    print(
        _line(
            f'  {HOOK_EVENTS}-event schedule / its floor, per seed',
            _ratios(walls, fast_plains),
            unit='x',
            scale=1.0,
        )
    )
    for who, restart in restarts.items():
        floors = restart.floors()
        restart_ratios = _ratios(restart.samples, floors)
        print(
            _line(
                f'  pod restart, {who} / its first hook plain', restart_ratios, unit='x', scale=1.0
            )
        )
        print(
            _line(
                '    that first hook alone / the same hook plain',
                _ratios(restart.hook_samples, floors),
                unit='x',
                scale=1.0,
            )
        )


if __name__ == '__main__':
    main()
