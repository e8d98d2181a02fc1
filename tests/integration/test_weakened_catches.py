"""The suite can fail on a library that lost one safety mechanism: each scenario below
breaks a requirement with that weakened copy of the library as the consumer's.

The copies are ``tests/weakened``'s, made from the current ``lib/src/k8s_labels``; this
runs on jujusim whatever ``--backend`` says (the scenarios' faults need it).
"""

import pathlib
import sys

import pytest
from jujusim_backend import broken_requirements
from scenario_backend import ROOT, SCENARIOS, load

from jujusim.scenarios import CheckFailedError

sys.path.insert(0, str(ROOT / 'tests' / 'weakened'))
import weakened  # found by the path above

CATCHES = {
    'chaos/stale-leader-dies-after-its-stall': 'no-leader-elected',
    'chaos/someone-else-writes-between-the-leaders-read-and-write': 'blind-409-rewrite',
    'chaos/stale-leader-fenced-when-the-data-goes-back': 'no-fencing',
    'chaos/stale-leader-stalled-mid-hook': 'never-rechecks-leadership',
    'chaos/someone-else-puts-back-a-removed-value': 'no-compaction',
    'chaos/stale-write-lands-while-the-new-leader-stalls': 'claim-drops-values-in-flight',
    'chaos/new-leader-dies-before-its-fence': 'forgets-unfinished-fence',
    'scale-refresh-trust/scale-down-removes-the-leader-as-the-data-stays': (
        'releases-on-its-own-departure'
    ),
    'scale-refresh-trust/untrusted-then-trusted': 'no-config-changed',
    'requirements/r3-relation-changes': 'no-relation-broken',
    'chaos/refused-data-after-a-leader-stalled-mid-batch': 'refused-data-leaves-a-batch-open',
    'chaos/api-outage-during-a-change': 'swallows-an-outage',
    'chaos/refused-data-as-the-leader-dies-mid-reset': 'empty-target-not-finished',
    'chaos/a-pods-own-value-is-not-given-to-its-successor': 'pod-entries-ignore-uid',
    'chaos/two-stale-leaders-each-fenced': 'claim-keeps-the-epoch',
    'chaos/a-pods-value-repaired-through-a-409': 'pod-409-taken-for-gone',
    'chaos/a-leader-being-removed-killed-before-its-relation-broken': (
        'departure-known-from-stored-state-only'
    ),
}


@pytest.mark.parametrize(('name', 'weakening'), CATCHES.items())
async def test_the_scenario_catches_its_weakened_library(
    tmp_path: pathlib.Path, name: str, weakening: str
):
    (chosen,) = [w for w in weakened.WEAKENINGS if w.name == weakening]
    consumer = weakened.consumer_copy(tmp_path / 'mesh-consumer', chosen)
    scenario = load(SCENARIOS / f'{name}.yaml')
    assert await broken_requirements(scenario, consumer)
    # The library itself holds it: the catch is the weakening's.
    assert not await broken_requirements(scenario, weakened.consumer_copy(tmp_path / 'real', None))


async def test_the_switch_scenario_catches_a_library_that_keeps_the_upstream_configmap(
    tmp_path: pathlib.Path,
):
    # Not a requirement: the ConfigMap left behind is what its expect-no-configmap step
    # reports (explore never starts from upstream's leftovers, so only this catches it).
    (chosen,) = [w for w in weakened.WEAKENINGS if w.name == 'keeps-the-upstream-configmap']
    scenario = load(SCENARIOS / 'lifecycle/switch-from-upstream-library.yaml')
    consumer = weakened.consumer_copy(tmp_path / 'mesh-consumer', chosen)
    with pytest.raises(CheckFailedError, match='juju-service-mesh-consumer-labels is still there'):
        await broken_requirements(scenario, consumer)
    assert not await broken_requirements(scenario, weakened.consumer_copy(tmp_path / 'real', None))
