"""Model.snapshot and Model.restore: a restored model goes on exactly as the original did."""

import dataclasses
import pathlib

import pytest

from jujusim.agent import LocalState
from jujusim.model import Model, ModelError, Snapshot, _snapshot
from jujusim.scenarios import (
    Check,
    CheckFailedError,
    Deploy,
    Integrate,
    Kill,
    LeaderChange,
    ModelRunner,
    ScenarioError,
    SetLabels,
    Settle,
    Step,
)

ROOT = pathlib.Path(__file__).parents[3]
PROVIDER = ROOT / 'charms' / 'beacon-stub'
MESH_CONSUMER = ROOT / 'charms' / 'mesh-consumer'
# Counts its hooks in StoredState: unit-local state that a restore must give back.
COUNTER = ROOT / 'jujusim' / 'tests' / 'charms' / 'counter'

START: tuple[Step, ...] = (
    Deploy(app='consumer', charm='consumer', units=2, trust=True),
    Deploy(app='beacon', charm='provider', units=1),
    Integrate(apps=('consumer', 'beacon')),
    Settle(),
    Check(app='consumer'),
)
# Leader change, a kill in the middle of a reconcile, labels set and reset.
BODY: tuple[Step, ...] = (
    SetLabels(app='beacon', labels={'foo': 'bar', 'team': 'a'}),
    Kill(unit='consumer/leader', at_call=2, applied=True),
    Settle(),
    Check(app='consumer'),
    LeaderChange(app='consumer'),
    SetLabels(app='beacon', labels={'team': 'b'}),
    Settle(),
    Check(app='consumer'),
)


def run(runner: ModelRunner, steps: tuple[Step, ...]) -> None:
    for step in steps:
        runner.run_step(step)


@pytest.fixture(scope='module')
def started() -> tuple[Model, ModelRunner, Snapshot]:
    """A model that ran START, its runner, and a snapshot taken right then."""
    model = Model(seed=3)
    runner = ModelRunner(model, {'consumer': MESH_CONSUMER, 'provider': PROVIDER})
    run(runner, START)
    return model, runner, model.snapshot()


@pytest.fixture(scope='module')
def original(started: tuple[Model, ModelRunner, Snapshot]) -> list[str]:
    """The trace of START then BODY, run straight through (the body's seed: 11)."""
    model, runner, _ = started
    model.reseed(11)
    run(runner, BODY)
    return list(model.trace)


@pytest.fixture(scope='module', autouse=True)
def close_model(started: tuple[Model, ModelRunner, Snapshot]):
    yield
    started[0].close()


def test_a_restored_model_runs_the_same_body_event_for_event(
    started: tuple[Model, ModelRunner, Snapshot], original: list[str]
):
    model, runner, snapshot = started
    relations = dict(runner.relations)
    # The body killed a unit (its pod came back) and moved the leadership.
    assert any('incarnation 2' in line for line in original)
    assert any('consumer/1 is leader of consumer' in line for line in original)
    for _ in range(2):  # and again, from the state the first restored run left
        model.restore(snapshot)
        runner.relations = dict(relations)
        model.reseed(11)
        run(runner, BODY)
        assert list(model.trace) == original


def test_a_model_restored_in_the_middle_of_a_hook_runs_the_same_body(
    started: tuple[Model, ModelRunner, Snapshot], original: list[str]
):
    # Restored while hooks run and a request waits at the gate: their workers are killed
    # and what they had on its way is dropped, not taken for the new workers'.
    model, runner, snapshot = started
    relations = dict(runner.relations)
    model.restore(snapshot)
    runner.run_step(SetLabels(app='beacon', labels={'foo': 'x'}))
    model.run_until('request', unit='consumer/0')
    model.restore(snapshot)
    runner.relations = dict(relations)
    model.reseed(11)
    run(runner, BODY)
    assert list(model.trace) == original


def test_another_body_seed_gives_another_run_from_the_same_snapshot(
    started: tuple[Model, ModelRunner, Snapshot], original: list[str]
):
    # The equality above is not a model that ignores its seed.
    model, runner, snapshot = started
    model.restore(snapshot)
    model.reseed(12)
    run(runner, BODY)
    assert list(model.trace) != original


@pytest.mark.parametrize('left_out', ['clock', 'store', 'world', 'leadership'])
def test_a_snapshot_missing_a_part_gives_another_run(
    started: tuple[Model, ModelRunner, Snapshot],
    original: list[str],
    left_out: str,
    monkeypatch: pytest.MonkeyPatch,
):
    # What the equality test would catch: a part of the state not restored (here left as
    # the last run ended) changes the run.
    model, runner, snapshot = started
    model.restore(snapshot)
    monkeypatch.setattr(_snapshot, 'MACHINERY', _snapshot.MACHINERY | {left_out})
    incomplete = model.snapshot()  # the same moment, without that part
    model.reseed(11)
    run(runner, BODY)  # leaves the model where the original run ended
    model.restore(incomplete)
    model.reseed(11)
    try:
        run(runner, BODY)
    except (CheckFailedError, ScenarioError):
        return  # a different outcome: the original ran through
    assert list(model.trace) != original


def test_unit_local_state_is_part_of_the_snapshot():
    # The counter charm counts its hooks in StoredState, which lives in its worker: the
    # count after a restore is the original's with the workers' local state, and not
    # without it.
    with Model(seed=0) as model:
        model.deploy(COUNTER, units=1)
        model.settle()
        snapshot = model.snapshot()
        assert any(local != LocalState() for _, local in snapshot.workers.values())

        def count() -> object:
            model.run_action('counter/0', 'count')
            model.settle()
            results = model.actions[-1].results
            assert results is not None
            return results['hooks']

        counted = count()
        model.restore(snapshot)
        assert count() == counted
        forgetful = dataclasses.replace(
            snapshot, workers={u: (env, LocalState()) for u, (env, _) in snapshot.workers.items()}
        )
        model.restore(forgetful)
        assert count() != counted


def test_a_snapshot_needs_a_quiescent_model_and_restores_only_its_own_model():
    with Model(seed=0) as model, Model(seed=0) as other:
        runner = ModelRunner(model, {'consumer': MESH_CONSUMER, 'provider': PROVIDER})
        run(runner, START[:3])
        model.run_until('hook-start', unit='consumer/0')
        with pytest.raises(ModelError, match='busy; settle'):
            model.snapshot()
        model.settle()
        with pytest.raises(ModelError, match='only restore the model that took it'):
            other.restore(model.snapshot())


def test_restoring_a_new_models_snapshot_with_a_seed_is_a_new_model():
    # What explore does to start a schedule from scratch on a model it keeps.
    charms = {'consumer': MESH_CONSUMER, 'provider': PROVIDER}
    with Model(seed=5) as fresh:
        run(ModelRunner(fresh, charms), START)
        expected = list(fresh.trace)
    with Model(seed=0) as model:
        blank = model.snapshot()
        run(ModelRunner(model, charms), START)
        model.restore(blank, seed=5)
        assert model.trace == []
        run(ModelRunner(model, charms), START)
        assert list(model.trace) == expected


def test_a_restore_keeps_an_idle_units_process_and_replaces_a_busy_one():
    # A unit's idle worker serves it again (no fork), given the snapshot's local state
    # (test_unit_local_state_is_part_of_the_snapshot); one in the middle of a hook is not.
    with Model(seed=0) as model:
        model.deploy(COUNTER, units=2)
        model.settle()
        snapshot = model.snapshot()
        pids = {unit: model.pool.process(unit) for unit in ('counter/0', 'counter/1')}
        model.run_action('counter/0', 'count')
        model.run_until('hook-start', unit='counter/0')
        model.restore(snapshot)
        after = {unit: model.pool.process(unit) for unit in pids}
        assert after['counter/1'] == pids['counter/1']
        assert after['counter/0'] is not None and pids['counter/0'] is not None
        assert after['counter/0'].pid != pids['counter/0'].pid
        model.settle()
