"""Scenario files: every step round-trips through YAML; bad input gets one clear message."""

import pathlib

import pytest

from jujusim.scenarios import (
    STEP_NAMES,
    ApiError,
    ApiOutage,
    Check,
    Concurrently,
    DeletePod,
    Deploy,
    ExpectNoConfigMap,
    ExpectStatus,
    ForeignLabels,
    Integrate,
    JujuRewrite,
    Kill,
    LeaderChange,
    PublishRaw,
    Refresh,
    RemoveRelation,
    RemoveUnit,
    RequestMatch,
    Scale,
    Scenario,
    ScenarioError,
    SetLabels,
    Settle,
    Stall,
    Trust,
    UpstreamLeftovers,
    WaitFaults,
    WaitRollout,
    dump_scenario,
    load_scenario,
    parse_scenario,
    step_name,
)

EVERY_STEP = Scenario(
    name='every-step',
    description='one of each',
    steps=(
        Deploy(app='consumer', charm='consumer', units=3, trust=True),
        Deploy(app='provider', charm='provider'),
        Integrate(apps=('consumer', 'provider')),
        SetLabels(app='provider', labels={'foo': 'bar'}),
        SetLabels(app='provider', labels={}, via='action'),
        PublishRaw(app='provider', data={'labels': 'not json'}),
        DeletePod(unit='consumer/leader', force=True),
        Kill(unit='consumer/1', at_call=3, applied=True),
        Kill(unit='consumer/leader', request=RequestMatch(method='patch', kind='StatefulSet')),
        Kill(unit='consumer/2', request=RequestMatch(method='create', kind='ConfigMap', nth=2)),
        Stall(unit='consumer/0', seconds=90.5),
        Stall(unit='consumer/0', seconds=5, request=RequestMatch(kind='ConfigMap')),
        LeaderChange(app='consumer'),
        LeaderChange(app='consumer', to='consumer/2'),
        Scale(app='consumer', units=0),
        RemoveUnit(app='consumer'),
        Refresh(app='consumer'),
        Trust(app='consumer', trusted=False),
        ForeignLabels(kind='Pod', of='consumer/0', labels={'owner': 'ops', 'gone': None}),
        ForeignLabels(kind='StatefulSet.template', of='consumer', labels={'foo': 'theirs'}),
        UpstreamLeftovers(app='consumer', labels={'old': 'yes'}),
        JujuRewrite(app='consumer'),
        ApiError(status=409, unit='consumer/leader', method='patch', kind='Pod', count=5),
        ApiOutage(seconds=60.0, status=500),
        Concurrently(
            steps=(
                RemoveRelation(apps=('consumer', 'provider')),
                DeletePod(unit='consumer/leader'),
            )
        ),
        Settle(),
        WaitRollout(app='consumer'),
        WaitFaults(app='consumer'),
        Check(app='consumer'),
        ExpectStatus(app='consumer', status='blocked', message='juju trust', leader_only=True),
        ExpectNoConfigMap(name='juju-service-mesh-consumer-labels'),
    ),
)


def test_every_step_kind_round_trips_through_yaml():
    names = {step_name(s) for s in EVERY_STEP.steps}
    names |= {
        step_name(s) for c in EVERY_STEP.steps if isinstance(c, Concurrently) for s in c.steps
    }
    assert names == set(STEP_NAMES)
    text = dump_scenario(EVERY_STEP)
    assert parse_scenario(text) == EVERY_STEP


def test_a_file_reads_with_its_stem_as_default_name(tmp_path: pathlib.Path):
    path = tmp_path / 'leader-dies.yaml'
    path.write_text('description: d\nsteps:\n  - settle\n  - check: {app: consumer}\n')
    scenario = load_scenario(path)
    assert scenario == Scenario(
        name='leader-dies', description='d', steps=(Settle(), Check(app='consumer'))
    )


@pytest.mark.parametrize(
    ('text', 'message'),
    [
        ('steps: [dance]', "step 1: unknown step 'dance'; known: deploy, "),
        (
            'steps: [{deploy: {app: c, charm: consumer, units: "3"}}]',
            "step 1 (deploy): field 'units': Expected `int`, got `str`",
        ),
        (
            'steps: [{deploy: {app: c, charm: consumer, unit: 3}}]',
            "step 1 (deploy): unknown field 'unit' (fields: app, charm, units, trust)",
        ),
        (
            'steps: [{kill: {unit: c/0, request: {verb: patch}}}]',
            "step 1 (kill) field 'request': unknown field 'verb' (fields: method, kind, nth)",
        ),
        (
            'steps: [{kill: {unit: c/0, request: {method: PATCH}}}]',
            "step 1 (kill): field 'request.method': Invalid enum value 'PATCH'",
        ),
        (
            'steps: [{stall: {unit: c/0, seconds: 1, request: {kind: Secret}}}]',
            "step 1 (stall): field 'request.kind': Invalid enum value 'Secret'",
        ),
        ('steps: [{kill: {unit: c/0, request: {nth: 0}}}]', 'request nth counts from 1'),
        ('steps: [{remove-unit: {unit: c/2}}]', "unknown field 'unit' (fields: app)"),
        (
            'steps: [{leader-change: {app: c, to: c/leader}}]',
            'to is a unit of c by number (c/N)',
        ),
        ('steps: [{leader-change: {app: c, to: d/1}}]', 'to is a unit of c by number'),
        ('steps: [{kill: {unit: c/0}}]', 'step 1 (kill): give one of at_call'),
        (
            'steps: [{kill: {unit: c/0, at_call: 1, request: {kind: Pod}}}]',
            'step 1 (kill): give one of at_call (the nth API request of the hook), request',
        ),
        (
            'steps: [{kill: {unit: c/0, at_call: 1, before_hook: relation_broken}}]',
            'step 1 (kill): give one of at_call',
        ),
        (
            'steps: [{kill: {unit: c/0, before_hook: relation_broken, applied: true}}]',
            'applied is for a kill at a request; before_hook kills between hooks',
        ),
        (
            'steps: [{kill: {unit: c/0, before_hook: relation-broken}}]',
            "step 1 (kill): field 'before_hook': Invalid enum value 'relation-broken'",
        ),
        (
            'steps: [{kill: {unit: c/0, before_hook: action}}]',
            'step 1 (kill): before_hook names a hook; an action is not one',
        ),
        (
            'steps: [{stall: {unit: c/0, seconds: 1, at_call: 1, request: {kind: Pod}}}]',
            'step 1 (stall): give at_call or request, not both',
        ),
        ('steps: [{kill: {unit: c/0, at_call: 0}}]', 'at_call counts from 1'),
        ('steps: [{delete-pod: {unit: consumer}}]', "'consumer' is not a unit"),
        ('steps: [{concurrently: [settle]}]', 'settle cannot run concurrently'),
        ('steps: [{concurrently: []}]', 'takes a non-empty list of steps'),
        ('steps: [{deploy: {app: c, charm: consumer}, settle: null}]', 'step 1: a step is a'),
        ('steps: [{set-labels: {app: p, labels: {a: yes}}}]', 'got `bool` (quote it)'),
        ('steps: [{api-error: {status: 200}}]', 'status is an HTTP error status'),
        ('steps: [{api-outage: {seconds: 0}}]', 'seconds must be above 0'),
        ('steps: [{api-outage: {seconds: 60, status: 502}}]', "field 'status'"),
        ('steps: [{integrate: {apps: [a, a]}}]', 'the two applications must differ'),
        ('steps: [{integrate: {apps: [a]}}]', "field 'apps': Expected `array` of length 2"),
        ('steps: [{foreign-labels: {kind: Pod, of: c, labels: {a: b}}}]', "'c' is not a unit"),
        (
            'steps: [{foreign-labels: {kind: Service, of: c/0, labels: {a: b}}}]',
            'of is a unit (app/N or app/leader) for a Pod, an application otherwise',
        ),
        ('steps: [{stall: {unit: c/0, seconds: 0}}]', 'seconds must be above 0'),
        ('steps: [settle]\nsteps: [check]', "line 2: key 'steps' is given twice"),
        ('steps: []', '"steps" is a non-empty list of steps'),
        ('steps: [settle]\nwhen: now', "unknown top-level key 'when'"),
        ('- settle', 'a scenario is a mapping'),
        ('steps: [settle', 'not valid YAML: line 1'),
    ],
)
def test_bad_input_gets_one_clear_message(text: str, message: str):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text)
    assert message in str(caught.value)
    assert '\n' not in str(caught.value)


def test_a_bad_file_is_named_in_the_message(tmp_path: pathlib.Path):
    path = tmp_path / 'bad.yaml'
    path.write_text('steps: [dance]\n')
    with pytest.raises(ScenarioError, match=r'bad\.yaml: step 1: unknown step'):
        load_scenario(path)
    with pytest.raises(ScenarioError, match=r'missing\.yaml: cannot read'):
        load_scenario(tmp_path / 'missing.yaml')
