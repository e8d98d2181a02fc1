"""The suite can fail on a library that lost one safety mechanism: each scenario below
breaks a requirement with that weakened copy of the library as the consumer's.

The copies are ``tests/weakened``'s, made from the current ``lib/src/k8s_labels``; this
runs on jujusim whatever ``--backend`` says (the scenarios' faults need it).
"""

import pathlib
import sys

import pytest
from jujusim_backend import JujusimBackend
from scenario_backend import ROOT, SCENARIOS, charm_paths, load, run_scenario

from jujusim.model import Model
from jujusim.scenarios import CheckFailedError

sys.path.insert(0, str(ROOT / 'tests' / 'weakened'))
import weakened  # found by the path above

CATCHES = {
    'chaos/stale-leader-dies-after-its-stall': 'no-leader-elected',
    'chaos/someone-else-writes-between-the-leaders-read-and-write': 'blind-409-rewrite',
    'chaos/stale-leader-fenced-when-the-data-goes-back': 'no-fencing',
    'chaos/someone-else-puts-back-a-removed-value': 'no-compaction',
    'chaos/stale-write-lands-while-the-new-leader-stalls': 'claim-drops-values-in-flight',
    'chaos/new-leader-dies-before-its-fence': 'forgets-unfinished-fence',
}


@pytest.mark.parametrize(('name', 'weakening'), CATCHES.items())
async def test_the_scenario_catches_its_weakened_library(
    tmp_path: pathlib.Path, name: str, weakening: str
):
    (chosen,) = [w for w in weakened.WEAKENINGS if w.name == weakening]
    consumer = weakened.consumer_copy(tmp_path / 'mesh-consumer', chosen)
    scenario = load(SCENARIOS / f'{name}.yaml')
    with Model(seed=0) as model:
        backend = JujusimBackend(model, {**charm_paths(packed=False), 'consumer': consumer})
        with pytest.raises(CheckFailedError) as caught:
            await run_scenario(backend, scenario, echo=lambda _: None)
    assert any(p.startswith(('R1-R3: ', 'R4: ')) for p in caught.value.problems), (
        caught.value.problems
    )
