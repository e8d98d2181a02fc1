"""Each requirement alone, and the ADR's counterexample.

Each scenario is a file in `scenarios/requirements/`; the backend is chosen by `--backend`.
"""

import pathlib
from collections.abc import Awaitable, Callable

import pytest
from scenario_backend import scenario_files


@pytest.mark.parametrize('path', scenario_files('requirements'), ids=lambda p: p.stem)
async def test_scenario(run: Callable[[pathlib.Path], Awaitable[None]], path: pathlib.Path):
    await run(path)
