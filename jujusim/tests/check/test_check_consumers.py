"""The checker on real consumers: a correct one passes, broken ones and library variants fail."""

import json
import pathlib
import re

import pytest
from broken_library import library_edited

from jujusim.check import REFUSED_KEYS, REFUSED_PREFIXES
from jujusim.model import Model

ROOT = pathlib.Path(__file__).parents[3]
MESH_CONSUMER = ROOT / 'charms' / 'mesh-consumer'
BEACON_STUB = ROOT / 'charms' / 'beacon-stub'
NOOP_CONSUMER = ROOT / 'tests' / 'charms' / 'noop-consumer'
APP = 'consumer'
UPSTREAM = {'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp'}


def deploy(model: Model, consumer: pathlib.Path, *, units: int = 2) -> None:
    model.deploy(consumer, app=APP, units=units, trust=True)
    model.deploy(BEACON_STUB, app='beacon', units=1)
    model.integrate(APP, 'beacon')


def object_labels(model: Model) -> dict[str, dict[str, str]]:
    sts = model.kube.get('StatefulSet', model.name, APP)
    service = model.kube.get('Service', model.name, APP)
    assert sts is not None and service is not None
    out = {
        'template': dict(sts['spec']['template']['metadata'].get('labels', {})),
        'service': dict(service['metadata'].get('labels', {})),
    }
    for pod in model.kube.objects('Pod', model.name, selector=f'app.kubernetes.io/name={APP}'):
        out[pod['metadata']['name']] = dict(pod['metadata'].get('labels', {}))
    return out


def test_the_checker_knows_the_documented_refused_keys():
    # The checker follows the library's documentation, not its code.
    readme = (ROOT / 'lib' / 'README.md').read_text()
    paragraph = readme[readme.index('Keys refused:') :].split('\n\n')[0]
    named = set(re.findall(r'`([^`]+)`', paragraph))
    prefixes = {n.rstrip('/') for n in named if n.endswith('/')}
    assert prefixes == REFUSED_PREFIXES
    assert {n for n in named if '/' not in n or not n.endswith('/')} - {
        'k8s_labels.RESERVED_KEYS',
        'RESERVED_PREFIXES',
    } == REFUSED_KEYS


# -- (1) a label nobody accounts for -----------------------------------------------------


@pytest.mark.parametrize(
    ('consumer', 'holds'),
    [('mesh-consumer', True), ('noop-consumer', False), ('no-upstream-adoption', False)],
)
def test_labels_the_upstream_library_left_must_be_cleaned_up(
    tmp_path: pathlib.Path, consumer: str, holds: bool
):
    charm = {
        'mesh-consumer': MESH_CONSUMER,
        'noop-consumer': NOOP_CONSUMER,
        # The library with its adoption of the upstream ConfigMap switched off.
        'no-upstream-adoption': library_edited(
            tmp_path,
            '_service_mesh.py',
            'legacy_configmap=LEGACY_CONFIGMAP.format(app=app),',
            'legacy_configmap=None,',
        ),
    }[consumer]
    with Model(seed=5) as model:
        model.deploy(charm, app=APP, units=2, trust=True)
        model.leave_upstream_configmap(APP, UPSTREAM)
        model.deploy(BEACON_STUB, app='beacon', units=1)
        model.config('beacon', labels=json.dumps({'istio.io/dataplane-mode': 'ambient'}))
        model.integrate(APP, 'beacon')
        model.settle()
        problems = model.check(APP)
        if holds:
            assert problems == []
            assert f'juju-service-mesh-{APP}-labels' not in model.leftover_configmaps(APP)
            assert all('istio.io/use-waypoint' not in v for v in object_labels(model).values())
        else:
            left = [p for p in problems if "'istio.io/use-waypoint' is 'wp', expected absent" in p]
            assert left, problems
            assert all('not desired and nobody else wrote it' in p for p in left)


# -- (2) data the consumer must refuse ---------------------------------------------------


def publish_raw(model: Model, data: dict[str, str]) -> None:
    model.run_action('beacon/0', 'publish-raw', data=json.dumps(data))


@pytest.mark.parametrize(
    'publish',
    ['reserved key', 'bad syntax', 'not json'],
)
def test_refused_data_blocks_and_changes_nothing(publish: str):
    with Model(seed=9) as model:
        deploy(model, MESH_CONSUMER)
        model.config('beacon', labels=json.dumps({'foo': 'bar'}))
        model.settle()
        before = object_labels(model)
        if publish == 'reserved key':
            model.config('beacon', labels=json.dumps({'app.kubernetes.io/name': 'x'}))
        elif publish == 'bad syntax':
            publish_raw(model, {'labels': json.dumps({'foo bar': 'x'})})
        else:
            publish_raw(model, {'labels': 'not json'})
        model.settle()
        expectation = model.expectation(APP)
        assert expectation.blocked is not None
        assert dict(expectation.desired) == {'foo': 'bar'}
        assert model.check(APP) == []
        assert object_labels(model) == before
        leader = model.leader(APP)
        assert leader is not None
        assert model.unit_status(leader).workload == 'blocked'


def test_refused_data_fails_a_consumer_that_is_not_blocked():
    with Model(seed=9) as model:
        deploy(model, NOOP_CONSUMER)
        publish_raw(model, {'labels': 'not json'})
        model.settle()
        problems = model.check(APP)
        assert any(
            p.startswith(
                'consumer must be Blocked on refused data '
                '(relation field "labels" is not valid JSON)'
            )
            for p in problems
        ), problems


def test_refused_data_fails_a_library_that_applies_a_reserved_key(tmp_path: pathlib.Path):
    charm = library_edited(
        tmp_path,
        '_validation.py',
        'if key in RESERVED_KEYS or prefix in RESERVED_PREFIXES:',
        'if False:',
    )
    with Model(seed=9) as model:
        deploy(model, charm, units=1)
        model.config('beacon', labels=json.dumps({'team': 'a'}))
        model.settle()
        assert model.check(APP) == []
        model.config(
            'beacon',
            labels=json.dumps(
                {'team': 'a', 'app.kubernetes.io/part-of': 'x', 'kubernetes.io/role': 'x'}
            ),
        )
        model.settle()
        problems = model.check(APP)
        assert any("'kubernetes.io/role' is 'x', expected absent" in p for p in problems), problems


# -- (3) hooks that failed on the way --------------------------------------------------------


@pytest.mark.parametrize(
    ('consumer', 'hooks_fail'),
    [('mesh-consumer', False), ('no-conflict-retry', True)],
)
def test_right_labels_reached_through_failed_hooks_are_told_apart(
    tmp_path: pathlib.Path, consumer: str, hooks_fail: bool
):
    """Someone writes the StatefulSet between the leader's read and its write: a 409.

    The library re-plans and retries at once; the variant that gives up at the first
    conflict fails its hook, and Juju's retry gets the labels right. R1-R4 cannot tell
    them apart; the failed hooks can.
    """
    charm = (
        MESH_CONSUMER
        if consumer == 'mesh-consumer'
        else library_edited(
            tmp_path, '_manager.py', 'max_attempts: int = 5,', 'max_attempts: int = 1,'
        )
    )
    with Model(seed=2) as model:
        deploy(model, charm, units=1)
        model.config('beacon', labels=json.dumps({'foo': 'bar'}))
        model.settle()
        assert model.failed_hooks(APP) == []
        leader = model.leader(APP)
        assert leader is not None

        model.config('beacon', labels=json.dumps({'foo': 'baz'}))
        while True:
            event = model.run_until('request', unit=leader)
            assert event is not None
            if (event.fields['method'], event.fields['resource']) == ('GET', 'StatefulSet'):
                break
        model.write_labels('StatefulSet', APP, {'team': 'a'})  # its resourceVersion moves on
        model.settle()

        assert model.check(APP) == []
        failures = model.failed_hooks(APP)
        strict = model.check(APP, hooks_must_not_fail=True)
        if hooks_fail:
            assert failures, 'the variant should have failed a hook on the 409'
            assert any('-> 409' in e for f in failures for e in f.api_errors)
            assert len(strict) == len(failures)
            assert all('409' in line for line in strict)
        else:
            assert failures == []
            assert strict == []
