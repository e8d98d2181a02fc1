"""Scenarios that each safety mechanism of k8s_labels exists for, on jujusim.

Each scenario deploys the consumer at a given path (three units) with beacon-stub and
returns the problems it found (empty: it held). The unweakened library must hold them
all; each weakened copy (``weakened.py``) must fail at least one.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

from jujusim.model import Model

ROOT = pathlib.Path(__file__).parents[2]
BEACON_STUB = ROOT / 'charms' / 'beacon-stub'
APP = 'consumer'
SEED = 7
# The leader's API calls in a reconcile that changes labels on 3 pods (lib/README.md,
# "Cost"): 4 reads, then the ledger (5), the Service (6), 3 Pods (7-9), the template
# (10), the ledger again (11).
WRITE_CALLS = range(5, 12)
Scenario = Callable[[pathlib.Path], list[str]]


def _deploy(model: Model, consumer: pathlib.Path) -> str:
    model.deploy(consumer, app=APP, units=3, trust=True)
    model.deploy(BEACON_STUB, app='beacon', units=1)
    model.integrate(APP, 'beacon')
    model.settle()
    leader = model.leader(APP)
    assert leader is not None, 'a settled model has a leader'
    return leader


def _publish(model: Model, labels: dict[str, str]) -> None:
    model.config('beacon', labels=json.dumps(labels))


def _failed_hooks(model: Model, since: int) -> list[str]:
    # The model's trace marks a hook that raised with ' FAILED: ' (model/_model.py).
    return [f'hook failed: {line.strip()}' for line in model.trace[since:] if ' FAILED: ' in line]


def _labels(model: Model) -> dict[str, Any]:
    sts = model.kube.get('StatefulSet', model.name, APP) or {}
    service = model.kube.get('Service', model.name, APP) or {}
    return {
        'template': sts.get('spec', {}).get('template', {}).get('metadata', {}).get('labels'),
        'service': service.get('metadata', {}).get('labels'),
        'pods': sorted(
            sorted(pod['metadata'].get('labels', {}).items())
            for pod in model.kube.objects('Pod', model.name)
            if pod['metadata']['name'].startswith(f'{APP}-')
        ),
    }


def foreign_value_given_back(consumer: pathlib.Path) -> list[str]:
    """Someone else's value of a key is taken over while desired, then given back."""
    with Model(seed=SEED) as model:
        _deploy(model, consumer)
        model.write_labels('Service', APP, {'istio.io/dataplane-mode': 'none'}, caller='ops')
        model.write_labels(
            'StatefulSet.template', APP, {'istio.io/dataplane-mode': 'none'}, caller='ops'
        )
        model.settle()
        _publish(model, {'istio.io/dataplane-mode': 'ambient'})
        model.settle()
        problems = [f'while desired: {p}' for p in model.check(APP)]
        _publish(model, {})
        model.settle()
        return problems + [f'after release: {p}' for p in model.check(APP)]


def owned_value_changed_by_someone_else(consumer: pathlib.Path) -> list[str]:
    """Someone else changes a value the library wrote; on release it stays theirs."""
    with Model(seed=SEED) as model:
        _deploy(model, consumer)
        _publish(model, {'foo': 'bar'})
        model.settle()
        model.write_labels('Service', APP, {'foo': 'mine'}, caller='ops')
        _publish(model, {})
        model.settle()
        return model.check(APP)


def _kill_then_reset(consumer: pathlib.Path, call: int, *, applied: bool) -> list[str]:
    with Model(seed=SEED) as model:
        leader = _deploy(model, consumer)
        model.kill_at_call(leader, call, applied=applied)
        _publish(model, {'foo': 'bar'})
        while model.kill_pending(leader) and model.step():
            pass
        _publish(model, {})
        model.settle()
        return model.check(APP)


def killed_at_each_write(consumer: pathlib.Path) -> list[str]:
    """The leader is killed at each write of a change (applied or not), then data resets."""
    for call in WRITE_CALLS:
        for applied in (True, False):
            problems = _kill_then_reset(consumer, call, applied=applied)
            if problems:
                when = 'after' if applied else 'before'
                return [f'killed {when} call {call}: {p}' for p in problems]
    return []


def _stall_then_reset(consumer: pathlib.Path, call: int) -> list[str]:
    with Model(seed=SEED) as model:
        leader = _deploy(model, consumer)
        # Past the 30 s lease and ops' 30 s is-leader cache: another unit leads meanwhile.
        model.stall_at_call(leader, call, 90.0)
        _publish(model, {'foo': 'bar'})
        while model.stall_pending(leader) and model.step():
            pass
        _publish(model, {})
        model.settle()
        return model.check(APP)


def stale_leader_at_each_write(consumer: pathlib.Path) -> list[str]:
    """The leader stalls past its lease before each write of a change; the data resets."""
    for call in WRITE_CALLS:
        problems = _stall_then_reset(consumer, call)
        if problems:
            return [f'stalled before call {call}: {p}' for p in problems]
    return []


def conflicting_ledger_write(consumer: pathlib.Path) -> list[str]:
    """A 409 on the leader's ledger write: re-read and re-plan within the hook."""
    with Model(seed=SEED) as model:
        leader = _deploy(model, consumer)
        since = len(model.trace)
        model.inject_api_error(409, unit=leader, verb='patch', kind='ConfigMap', count=1)
        _publish(model, {'foo': 'bar'})
        model.settle()
        return model.check(APP) + _failed_hooks(model, since)


def reserved_key_refused(consumer: pathlib.Path) -> list[str]:
    """A reserved key in the data: Blocked, and nothing written."""
    with Model(seed=SEED) as model:
        _deploy(model, consumer)
        _publish(model, {'foo': 'bar'})
        model.settle()
        before = _labels(model)
        _publish(model, {'foo': 'baz', 'app.kubernetes.io/name': 'hijacked'})
        model.settle()
        after = _labels(model)
        return [] if after == before else [f'labels changed: {before} -> {after}']


# Cheapest first: first_catch stops at the first that fails.
SCENARIOS: dict[str, Scenario] = {
    'reserved-key-refused': reserved_key_refused,
    'conflicting-ledger-write': conflicting_ledger_write,
    'foreign-value-given-back': foreign_value_given_back,
    'owned-value-changed-by-someone-else': owned_value_changed_by_someone_else,
    'stale-leader-at-each-write': stale_leader_at_each_write,
    'killed-at-each-write': killed_at_each_write,
}


def first_catch(consumer: pathlib.Path) -> Iterator[tuple[str, list[str]]]:
    """Run the scenarios in order; yield (name, problems) for each that fails."""
    for name, scenario in SCENARIOS.items():
        problems = scenario(consumer)
        if problems:
            yield name, problems
