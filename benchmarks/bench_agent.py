"""Unit agents: hooks through worker processes against plain ops.testing, and pod restarts.

Run: ``uv run --group unit python -m benchmarks bench_agent``. Prints medians and mins;
nothing passes or fails on a timing.
"""

from __future__ import annotations

import dataclasses
import pathlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import ops
import ops.testing

from jujusim import agent

CHARMS = pathlib.Path(__file__).parent.parent / 'jujusim' / 'tests' / 'charms'
HOOKS = 200
RESTARTS = 40
UNITS = 3
HOOKS_PER_UNIT = 50


@dataclasses.dataclass
class Figures:
    name: str
    samples: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1e3

    @property
    def min_ms(self) -> float:
        return min(self.samples) * 1e3

    def line(self) -> str:
        return f'  {self.name:<58} median {self.median_ms:7.2f} ms   min {self.min_ms:7.2f} ms'


def juju_state(source: agent.CharmSource) -> ops.testing.State:
    relations: set[ops.testing.RelationBase] = set()
    if 'db' in source.endpoints:
        relations.add(
            ops.testing.Relation('db', remote_app_data={'a': 'b'}, remote_units_data={0: {}})
        )
    containers = {ops.testing.Container(name, can_connect=True) for name in source.containers}
    return ops.testing.State(
        leader=True, config=source.config_defaults, relations=relations, containers=containers
    )


def hook_cycle(state: ops.testing.State, source: agent.CharmSource) -> Iterator[agent.HookSpec]:
    """The hooks every run goes through, in this order, round and round."""
    specs = [agent.HookSpec(kind='config_changed'), agent.HookSpec(kind='update_status')]
    for relation in state.relations:
        specs.append(
            agent.HookSpec(kind='relation_changed', relation_id=relation.id, remote_unit=0)
        )
    for container in source.containers:
        specs.append(agent.HookSpec(kind='pebble_ready', container=container))
    while True:
        yield from specs


def through_workers(source: agent.CharmSource) -> tuple[Figures, Figures]:
    state = juju_state(source)
    samples: list[float] = []
    outside: list[float] = []
    with agent.AgentPool() as pool:
        pool.add_app(source.name, source)
        unit = f'{source.name}/0'
        pool.spawn(unit)
        specs = hook_cycle(state, source)
        for i in range(HOOKS + 10):
            spec = next(specs)
            started = time.perf_counter()
            result = pool.run_hook(unit, spec, state)
            elapsed = time.perf_counter() - started
            assert result.ok and result.state is not None, result.error
            state = agent.juju_side(result.state)
            if i >= 10:  # the first few hooks of a process warm its caches
                samples.append(elapsed)
                outside.append(elapsed - result.elapsed)
    return (
        Figures('through a worker process (start_hook + HookDone)', samples),
        Figures('  of which outside the hook (pickles, socket, wake-ups)', outside),
    )


def in_process(source: agent.CharmSource, *, tmpdir: str | None, reuse: bool) -> Figures:
    """The same hooks through ops.testing in this process, carrying the whole state."""
    charm = source.load_charm_class()
    state = juju_state(source)
    samples: list[float] = []
    saved = tempfile.tempdir
    tempfile.tempdir = tmpdir
    shared = ops.testing.Context(charm, **source.context_kwargs(), app_name=source.name)
    try:
        specs = hook_cycle(state, source)
        for i in range(HOOKS + 10):
            spec = next(specs)
            started = time.perf_counter()
            ctx = (
                shared
                if reuse
                else ops.testing.Context(charm, **source.context_kwargs(), app_name=source.name)
            )
            state = ctx.run(to_event(ctx, spec, state), state)
            if not reuse:
                ctx.close()
            elapsed = time.perf_counter() - started
            if i >= 10:
                samples.append(elapsed)
    finally:
        shared.close()
        tempfile.tempdir = saved
    where = 'tmpfs' if tmpdir else 'default temp dir'
    how = 'one Context reused' if reuse else 'a Context per hook'
    return Figures(f'plain ops.testing in-process ({how}, {where})', samples)


def to_event(ctx: ops.testing.Context[Any], spec: agent.HookSpec, state: ops.testing.State) -> Any:
    if spec.kind == 'relation_changed':
        relation = next(r for r in state.relations if r.id == spec.relation_id)
        return ctx.on.relation_changed(relation, remote_unit=spec.remote_unit)
    if spec.kind == 'pebble_ready':
        container = next(c for c in state.containers if c.name == spec.container)
        return ctx.on.pebble_ready(container)
    simple: dict[str, Callable[[], Any]] = {
        'config_changed': ctx.on.config_changed,
        'update_status': ctx.on.update_status,
    }
    return simple[spec.kind]()


def concurrent(source: agent.CharmSource) -> tuple[Figures, float]:
    """UNITS units, each running HOOKS_PER_UNIT hooks, all units' hooks in flight together."""
    walls: list[float] = []
    total = 0.0
    with agent.AgentPool() as pool:
        pool.add_app(source.name, source)
        units = [f'{source.name}/{n}' for n in range(UNITS)]
        for unit in units:
            pool.spawn(unit)
        for _ in range(3):
            states = {unit: juju_state(source) for unit in units}
            cycles = {unit: hook_cycle(states[unit], source) for unit in units}
            started = time.perf_counter()
            for _ in range(HOOKS_PER_UNIT):
                for unit in units:
                    pool.start_hook(unit, next(cycles[unit]), states[unit])
                for _ in units:
                    event = pool.next_event()
                    assert isinstance(event, agent.HookDone) and event.result.state is not None
                    states[event.unit] = agent.juju_side(event.result.state)
            wall = time.perf_counter() - started
            walls.append(wall)
            total += wall
    name = f'{UNITS} units x {HOOKS_PER_UNIT} hooks, each round in flight together (wall)'
    return Figures(name, walls), UNITS * HOOKS_PER_UNIT * len(walls) / total


def restarts(source: agent.CharmSource, *, spares: int) -> tuple[Figures, Figures, Figures]:
    """Kill a unit's worker, give it a fresh one, run its first hook: what a pod restart costs."""
    state = juju_state(source)
    first_hook = agent.HookSpec(kind='upgrade_charm')
    whole: list[float] = []
    restart_only: list[float] = []
    hook_only: list[float] = []
    with agent.AgentPool(spares=spares) as pool:
        pool.add_app(source.name, source)
        unit = f'{source.name}/0'
        pool.spawn(unit)
        assert pool.run_hook(unit, first_hook, state).ok
        for _ in range(RESTARTS):
            pool.wait_for_spares()  # a pod restart is rare next to hooks: spares are ready
            started = time.perf_counter()
            pool.kill(unit)
            pool.restart(unit)
            restarted = time.perf_counter()
            result = pool.run_hook(unit, first_hook, state)
            done = time.perf_counter()
            assert result.ok, result.error
            assert isinstance(pool.next_event(), agent.WorkerGone)  # the old worker's
            whole.append(done - started)
            restart_only.append(restarted - started)
            hook_only.append(done - restarted)
    how = f'{spares} spare' if spares == 1 else f'{spares} spares'
    return (
        Figures(f'kill + fresh worker + first hook done ({how})', whole),
        Figures(f'  of which kill + restart ({how})', restart_only),
        Figures(f'  of which the first hook ({how})', hook_only),
    )


def main() -> None:
    for name in ('minimal', 'counter'):
        source = agent.CharmSource.load(CHARMS / name)
        print(f'charm {name!r} ({HOOKS} hooks, one unit, after 10 warm-up hooks):')
        workers, transport = through_workers(source)
        baselines = [
            in_process(source, tmpdir=None, reuse=True),
            in_process(source, tmpdir=None, reuse=False),
            in_process(source, tmpdir='/dev/shm', reuse=False),  # noqa: S108
        ]
        print(workers.line())
        print(transport.line())
        for baseline in baselines:
            print(baseline.line())
        fastest = min(baselines, key=lambda f: f.median_ms)
        print(
            f'  hooks per second: workers {1e3 / workers.median_ms:.0f}, '
            f'in-process {1e3 / fastest.median_ms:.0f}; ratio (median, worker / fastest '
            f'in-process) {workers.median_ms / fastest.median_ms:.2f}x (target <= 1.5x)'
        )
        wall, rate = concurrent(source)
        print(wall.line())
        print(f'  {"":<58} {rate:.0f} hooks/s across {UNITS} units')
        for spares in (1, 0):
            for figures in restarts(source, spares=spares):
                print(figures.line())
        print('  (target for a pod restart to its first hook done: < 10 ms)')
