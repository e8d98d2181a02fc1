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

    Returns the broken invariants once the model has settled (empty when the consumer
    holds R1-R4). ``echo`` receives a readable account as it goes.
    """
    app = 'consumer'
    with Model(seed=seed) as model:
        model.deploy(consumer, app=app, units=units, trust=True)
        model.deploy(provider, app='beacon', units=1)
        model.integrate(app, 'beacon')
        model.config('beacon', labels=json.dumps({'foo': 'bar'}))
        model.settle()
        echo(f'  {consumer.name}: {units} units; the provider publishes {{"foo": "bar"}}')
        echo(f'    labels applied: {_show(model.check(app))}')
        leader = model.leader(app)
        if leader is None:  # pragma: no cover - a settled model has a leader
            return ['no leader after settling']
        model.config('beacon', labels=json.dumps({}))
        model.delete_pod(leader, graceful=False)
        echo(f'    the data is reset to {{}} while the leader {leader} dies (SIGKILL)')
        model.settle()
        echo(f'    settled at t={model.clock.now:.0f} s; leader now {model.leader(app)}')
        problems = model.check(app)
        echo(f'    R1-R4: {_show(problems)}')
        for problem in problems:
            echo(f'      {problem}')
        return problems


def _show(problems: list[str]) -> str:
    return 'hold' if not problems else f'{len(problems)} broken'
