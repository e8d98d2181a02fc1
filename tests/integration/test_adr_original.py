"""The suite can fail: pointed at the ADR's original design, its key scenarios break R1-R4.

Runs on jujusim whatever ``--backend`` says, with ``tests/charms/adr-original`` as the
consumer (what ``CONSUMER_CHARM_PATH=tests/charms/adr-original`` does to the whole suite).
"""

import pytest
from jujusim_backend import broken_requirements
from scenario_backend import ROOT, SCENARIOS, load

ADR_ORIGINAL = ROOT / 'tests' / 'charms' / 'adr-original'
KEY_SCENARIOS = [
    'requirements/adr-counterexample',
    'requirements/r1-leader-change',
    'requirements/r3-relation-changes',
    'requirements/r4-foreign-labels',
]


@pytest.mark.parametrize('name', KEY_SCENARIOS)
async def test_the_original_design_breaks_a_requirement(name: str):
    scenario = load(SCENARIOS / f'{name}.yaml')
    assert await broken_requirements(scenario, ADR_ORIGINAL)
