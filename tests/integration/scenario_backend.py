"""The backend protocol the scenarios run on, the charms under test, and the scenario files."""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Callable
from typing import Protocol

from jujusim.scenarios import Concurrently, Scenario, Step, load_scenario, step_name

ROOT = pathlib.Path(__file__).parents[2]
SCENARIOS = pathlib.Path(__file__).parent / 'scenarios'

# The charm CI convention (ops' docs, "migrate integration tests from pytest-operator"):
# one <NAME>_CHARM_PATH per charm, packed once. On jujusim a charm folder; on Juju a .charm.
CONSUMER_ENV = 'CONSUMER_CHARM_PATH'
PROVIDER_ENV = 'PROVIDER_CHARM_PATH'
DEFAULT_CHARMS = {
    'consumer': (CONSUMER_ENV, ROOT / 'charms' / 'mesh-consumer'),
    'provider': (PROVIDER_ENV, ROOT / 'charms' / 'beacon-stub'),
}


def charm_paths(*, packed: bool) -> dict[str, pathlib.Path]:
    """The consumer and provider under test, from ``*_CHARM_PATH`` or the repository.

    Packed (for Juju) the default is ``build/<name>_amd64.charm`` from ``tox -e pack``.
    """
    paths: dict[str, pathlib.Path] = {}
    for role, (variable, folder) in DEFAULT_CHARMS.items():
        value = os.environ.get(variable)
        if value:
            path = pathlib.Path(value)
            if not path.is_absolute():
                path = ROOT / path
        elif packed:
            path = ROOT / 'build' / f'{folder.name}_amd64.charm'
        else:
            path = folder
        paths[role] = path
    return paths


def scenario_files(group: str) -> list[pathlib.Path]:
    """The scenario files of one test module, by name."""
    return sorted((SCENARIOS / group).glob('*.yaml'))


class Backend(Protocol):
    """Where scenario steps run: the simulated model, or a real controller."""

    name: str

    def unsupported(self, scenario: Scenario) -> str | None:
        """Why this backend cannot run ``scenario`` faithfully, or None when it can."""
        ...

    async def run_step(self, step: Step, where: str) -> None:
        """Carry out one step; a check step raises ``CheckFailedError`` when one breaks."""
        ...

    def clock(self) -> str:
        """Where the run is in time, for the log (virtual time on jujusim)."""
        ...


async def run_scenario(
    backend: Backend, scenario: Scenario, *, echo: Callable[[str], None] = print
) -> float:
    """Run every step of ``scenario`` on ``backend``; return the wall-clock seconds taken."""
    started = time.perf_counter()
    for index, step in enumerate(scenario.steps, 1):
        where = f'step {index} ({step_name(step)})'
        step_started = time.perf_counter()
        await backend.run_step(step, where)
        echo(f'    {where}: {time.perf_counter() - step_started:.2f} s, {backend.clock()}')
    return time.perf_counter() - started


def leaves(step: Step) -> tuple[Step, ...]:
    """The steps inside ``concurrently``, or the step itself."""
    return step.steps if isinstance(step, Concurrently) else (step,)


def load(path: pathlib.Path) -> Scenario:
    """A scenario file of this suite."""
    return load_scenario(path)
