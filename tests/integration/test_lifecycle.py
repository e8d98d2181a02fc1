"""The consumer's life around the labels: bad relation data, a switch from upstream.

Each scenario is a file in `scenarios/lifecycle/`; the backend is chosen by `--backend`.
"""

import pathlib
from collections.abc import Awaitable, Callable

import pytest
from scenario_backend import scenario_files


@pytest.mark.parametrize('path', scenario_files('lifecycle'), ids=lambda p: p.stem)
async def test_scenario(run: Callable[[pathlib.Path], Awaitable[None]], path: pathlib.Path):
    await run(path)
