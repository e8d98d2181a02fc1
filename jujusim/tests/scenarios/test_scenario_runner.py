"""The Model runner carries steps out on the simulated model, and its checks can fail."""

import pathlib

import pytest

from jujusim.model import Model
from jujusim.scenarios import CheckFailedError, ModelRunner, ScenarioError, parse_scenario

ROOT = pathlib.Path(__file__).parents[3]
CHARMS = {
    'consumer': ROOT / 'charms' / 'mesh-consumer',
    'provider': ROOT / 'charms' / 'beacon-stub',
}
ADR_ORIGINAL = ROOT / 'tests' / 'charms' / 'adr-original'

DEPLOYED = """
  - deploy: {app: consumer, charm: consumer, units: 3, trust: true}
  - deploy: {app: provider, charm: provider}
  - integrate: {apps: [consumer, provider]}
  - set-labels: {app: provider, labels: {foo: bar}}
  - settle
  - check: {app: consumer}
"""

ADR = parse_scenario(
    f"""
description: the ADR counterexample
steps:
{DEPLOYED}
  - concurrently:
    - set-labels: {{app: provider, labels: {{}}}}
    - delete-pod: {{unit: consumer/leader, force: true}}
  - settle
  - check: {{app: consumer}}
"""
)


def test_the_adr_counterexample_holds_on_mesh_consumer():
    with Model(seed=3) as model:
        ModelRunner(model, CHARMS).run(ADR)
        assert model.desired_labels('consumer') == {}


def test_the_adr_counterexample_fails_the_original_design():
    with Model(seed=3) as model:
        runner = ModelRunner(model, {**CHARMS, 'consumer': ADR_ORIGINAL})
        with pytest.raises(CheckFailedError) as caught:
            runner.run(ADR)
    assert "R1-R3: StatefulSet/consumer template label 'foo' is 'bar'" in caught.value.problems[0]


def deployed(model: Model) -> tuple[ModelRunner, str]:
    """A runner that has run ``DEPLOYED`` on ``model``, and the consumer's leader."""
    runner = ModelRunner(model, CHARMS)
    runner.run(parse_scenario(f'steps: {DEPLOYED}'))
    leader = model.leader('consumer')
    assert leader is not None
    return runner, leader


def test_leader_change_moves_leadership_and_keeps_the_pod():
    with Model(seed=5) as model:
        runner, before = deployed(model)
        pod = model.kube.get('Pod', model.name, before.replace('/', '-'))
        runner.run(parse_scenario('steps: [{leader-change: {app: consumer}}, settle]'))
        after = model.leader('consumer')
        assert after not in (None, before)
        still = model.kube.get('Pod', model.name, before.replace('/', '-'))
        assert pod is not None and still is not None
        assert still['metadata']['uid'] == pod['metadata']['uid']


def test_leader_change_to_the_unit_that_leads_leaves_it_leading():
    # The step asks for an outcome (explore draws it before a scale-down, not knowing who
    # leads); another unit is still made leader when it does not lead.
    with Model(seed=5) as model:
        runner, leader = deployed(model)
        before = len(model.trace)
        runner.run(parse_scenario(f'steps: [{{leader-change: {{app: consumer, to: {leader}}}}}]'))
        assert model.leader('consumer') == leader
        assert not any('abdicates' in line or 'expired' in line for line in model.trace[before:])
        other = next(u.name for u in model.units() if u.app == 'consumer' and u.name != leader)
        runner.run(parse_scenario(f'steps: [{{leader-change: {{app: consumer, to: {other}}}}}]'))
        assert model.leader('consumer') == other


def test_a_step_on_a_missing_unit_names_the_step():
    with Model(seed=5) as model:
        runner = ModelRunner(model, CHARMS)
        with pytest.raises(ScenarioError, match=r'step 1 \(delete-pod\): no unit'):
            runner.run(parse_scenario('steps: [{delete-pod: {unit: consumer/7}}]'))
        with pytest.raises(
            ScenarioError, match=r"step 1 \(set-labels\): no application 'provider'"
        ):
            runner.run(
                parse_scenario('steps: [{set-labels: {app: provider, labels: {}, via: action}}]')
            )


def test_a_kill_at_a_request_fires_there_and_one_that_never_fires_fails_the_check():
    # The leader writes its pod template for a change (the kill fires); no unit ever
    # deletes its Service, so that kill stays planned and the check says it never happened.
    with Model(seed=5) as model:
        runner = ModelRunner(model, CHARMS)
        runner.run(parse_scenario(f'steps: {DEPLOYED}'))
        leader = model.leader('consumer')
        follower = next(u for u in model.apps['consumer'].units if u != leader)
        steps = f"""
steps:
  - concurrently:
    - set-labels: {{app: provider, labels: {{zone: a}}}}
    - kill: {{unit: consumer/leader, request: {{method: patch, kind: StatefulSet}}, applied: true}}
    - kill: {{unit: {follower}, request: {{method: delete, kind: Service}}}}
  - settle
  - check: {{app: consumer}}
"""
        with pytest.raises(CheckFailedError) as caught:
            runner.run(parse_scenario(steps))
        assert [p for p in caught.value.problems if 'never happened' in p] == [
            f'kill {follower} at its request #1 matching DELETE Service, before it is applied: '
            'never happened'
        ]
        assert len(caught.value.problems) == 1
        assert [plan.unit for plan in model.pending_faults()] == [follower]


def test_a_kill_before_a_hook_that_never_comes_fails_the_check():
    # No unit of a related, steady application runs relation-broken: the kill stays planned.
    with Model(seed=5) as model:
        runner, _ = deployed(model)
        steps = """
steps:
  - kill: {unit: consumer/0, before_hook: relation_broken}
  - settle
  - check: {app: consumer}
"""
        with pytest.raises(CheckFailedError) as caught:
            runner.run(parse_scenario(steps))
    assert caught.value.problems == [
        'kill consumer/0 before its next relation_broken hook starts: never happened'
    ]


@pytest.mark.parametrize(
    ('last', 'published'),
    [
        # `juju run` waits: a config change after the action ends its override.
        ('- set-labels: {app: provider, labels: {b: "2"}}', {'b': '2'}),
        # Issued at one moment with the config change, the action runs after it and
        # records the new config: its override stands.
        (
            '- concurrently: [{set-labels: {app: provider, labels: {b: "2"}}}, '
            '{set-labels: {app: provider, labels: {a: "1"}, via: action}}]',
            {'a': '1'},
        ),
    ],
    ids=['action-then-config', 'action-and-config-at-once'],
)
def test_an_action_step_runs_to_its_end_before_the_next_step(last: str, published: dict[str, str]):
    # chaos seed 2026, schedule 137: an action queued behind a config change given after it
    # recorded that config and kept publishing its own labels.
    steps = f"""
steps:
  - deploy: {{app: consumer, charm: consumer, units: 1, trust: true}}
  - deploy: {{app: provider, charm: provider}}
  - integrate: {{apps: [consumer, provider]}}
  - settle
  - set-labels: {{app: provider, labels: {{a: "1"}}, via: action}}
  {last}
  - settle
  - check: {{app: consumer}}
"""
    with Model(seed=1) as model:
        ModelRunner(model, CHARMS).run(parse_scenario(steps))
        assert model.desired_labels('consumer') == published


def test_an_action_step_that_fails_names_the_failure():
    # The failed action's outcome lands as the model settles: the step must still see it.
    steps = """
steps:
  - deploy: {app: consumer, charm: consumer, units: 1, trust: true}
  - deploy: {app: provider, charm: provider}
  - integrate: {apps: [consumer, provider]}
  - settle
  - set-labels: {app: provider, labels: {a: "b c"}, via: action}
"""
    with Model(seed=1) as model, pytest.raises(ScenarioError) as raised:
        ModelRunner(model, CHARMS).run(parse_scenario(steps))
    assert "step 5 (set-labels): set-labels on provider/0 failed: labels: value 'b c'" in str(
        raised.value
    )


def test_wait_faults_stops_while_the_stalled_unit_holds_its_write():
    with Model(seed=5) as model:
        runner, leader = deployed(model)
        runner.run(
            parse_scenario("""
steps:
  - stall: {unit: consumer/leader, seconds: 5, request: {method: patch, kind: Service}}
  - set-labels: {app: provider, labels: {}}
  - wait-faults: {app: consumer}
""")
        )
        stalls = [e for e in model.events if e.kind == 'stall']
        assert [(e.unit, e.fields['resource']) for e in stalls] == [(leader, 'Service')]
        # Held, unapplied, and the clock not moved on: what comes next happens meanwhile.
        assert _service_labels(model).get('foo') == 'bar'
        assert model.events[-1].time == stalls[0].time
        runner.run(parse_scenario('steps: [settle, {check: {app: consumer}}]'))
        assert 'foo' not in _service_labels(model)


def test_wait_faults_with_nothing_armed_or_a_request_that_never_comes_is_a_bad_step():
    with Model(seed=5) as model:
        runner = ModelRunner(model, CHARMS)
        runner.run(parse_scenario(f'steps: {DEPLOYED}'))
        with pytest.raises(ScenarioError, match='no kill or stall of a unit of consumer'):
            runner.run(parse_scenario('steps: [{wait-faults: {app: consumer}}]'))
        # No unit deletes its Service: the model settles with the kill still armed.
        never = """
steps:
  - kill: {unit: consumer/leader, request: {method: delete, kind: Service}}
  - set-labels: {app: provider, labels: {}}
  - wait-faults: {app: consumer}
"""
        with pytest.raises(ScenarioError, match=r'step 3 \(wait-faults\): kill .* DELETE Service'):
            runner.run(parse_scenario(never))


def _service_labels(model: Model) -> dict[str, str]:
    service = model.kube.get('Service', model.name, 'consumer')
    assert service is not None
    return dict(service['metadata'].get('labels') or {})
