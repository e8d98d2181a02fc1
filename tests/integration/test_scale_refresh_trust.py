"""Scale, remove-unit, refresh and trust during label changes.

Each scenario is a file in `scenarios/scale-refresh-trust/`; the backend is chosen by
`--backend`. On jujusim they run on `Model.scale`, `Model.remove_unit` (the application's
highest ordinal, as Juju does on Kubernetes), `Model.refresh` and `juju trust` firing
config-changed (juju/juju internal/worker/uniter/resolver.go, nextOp: a changed trust hash
gives ConfigChanged)."""

import pathlib
from collections.abc import Awaitable, Callable

import pytest
from scenario_backend import scenario_files


@pytest.mark.parametrize('path', scenario_files('scale-refresh-trust'), ids=lambda p: p.stem)
async def test_scenario(run: Callable[[pathlib.Path], Awaitable[None]], path: pathlib.Path):
    await run(path)
