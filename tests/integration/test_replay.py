"""Any scenario file given with ``--scenario FILE``: a saved schedule, run as it is.

``tox -e integration -- test_replay.py --scenario FILE [--backend juju]``; a relative path
is taken from the current directory, else from the repository's root.
"""

import pathlib
from collections.abc import Awaitable, Callable

import pytest
from scenario_backend import ROOT


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    given: list[str] = metafunc.config.getoption('--scenario') or []
    if not given:
        reason = 'no --scenario FILE given'
        metafunc.parametrize('path', [pytest.param(None, marks=pytest.mark.skip(reason=reason))])
        return
    paths = [_resolve(p) for p in given]
    metafunc.parametrize('path', paths, ids=[p.stem for p in paths])


def _resolve(given: str) -> pathlib.Path:
    path = pathlib.Path(given)
    if not path.is_absolute() and not path.exists():
        path = ROOT / path
    return path


async def test_scenario(run: Callable[[pathlib.Path], Awaitable[None]], path: pathlib.Path):
    await run(path)
