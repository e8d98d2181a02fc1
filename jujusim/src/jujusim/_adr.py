"""``jujusim adr``: the ADR's counterexample, run live on the simulated model."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable

from .model import Model


def run_counterexample(
    consumer: pathlib.Path,
    provider: pathlib.Path,
    *,
    units: int = 3,
    seed: int = 0,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Apply ``{"foo": "bar"}``, then reset the data to ``{}`` as the leader's pod dies.

    R1-R4 are judged at every point where the model settles, not only at the end: a
    consumer that never applies the labels leaves nothing to remove, so the final state
    alone would call it correct. Returns the broken invariants, each prefixed with the
    settle point it was seen at (empty when the consumer holds R1-R4 throughout).
    ``echo`` receives a readable account as it goes.
    """
    app = 'consumer'
    problems: list[str] = []

    def judge(point: str) -> list[str]:
        found = model.check(app)
        problems.extend(f'{point}: {problem}' for problem in found)
        return found

    with Model(seed=seed) as model:
        model.deploy(consumer, app=app, units=units, trust=True)
        model.deploy(provider, app='beacon', units=1)
        model.integrate(app, 'beacon')
        model.config('beacon', labels=json.dumps({'foo': 'bar'}))
        model.settle()
        echo(f'  {consumer.name}: {units} units; the provider publishes {{"foo": "bar"}}')
        applied = judge('once {"foo": "bar"} is published')
        echo(f'    labels applied: {_show(applied)}')
        _echo_problems(applied, echo)
        leader = model.leader(app)
        if leader is None:  # pragma: no cover - a settled model has a leader
            return [*problems, 'no leader after settling']
        model.config('beacon', labels=json.dumps({}))
        model.delete_pod(leader, graceful=False)
        echo(f'    the data is reset to {{}} while the leader {leader} dies (SIGKILL)')
        model.settle()
        echo(
            f'    settled at virtual time t={model.clock.now:.0f} s; '
            f'leader now {model.leader(app)}'
        )
        reset = judge('once the data is reset to {} as the leader dies')
        echo(f'    R1-R4 after the reset: {_show(reset)}')
        _echo_problems(reset, echo)
        return problems


def _echo_problems(problems: list[str], echo: Callable[[str], None]) -> None:
    for problem in problems:
        echo(f'      {problem}')


def _show(problems: list[str]) -> str:
    return 'hold' if not problems else f'{len(problems)} broken'
