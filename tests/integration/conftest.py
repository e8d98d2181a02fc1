"""Run each scenario file on the chosen backend: jujusim (default) or the current Juju controller.

``--backend juju`` (or ``INTEGRATION_BACKEND=juju``) runs them on the current controller,
each in a fresh model; without a reachable controller every Juju test is skipped with the
reason in one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import shutil
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, cast

import pytest
from jujusim_backend import JujusimBackend
from scenario_backend import Backend, charm_paths, load, run_scenario

from jujusim.model import Model
from jujusim.scenarios import Scenario

BACKEND_ENV = 'INTEGRATION_BACKEND'
CONNECT_TIMEOUT = 30.0
_timings: list[tuple[str, str, float]] = []  # (backend, scenario, seconds)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        '--backend',
        choices=('jujusim', 'juju'),
        default=os.environ.get(BACKEND_ENV, 'jujusim'),
        help=f'where the scenarios run (default: ${BACKEND_ENV} or jujusim)',
    )
    parser.addoption(
        '--scenario',
        action='append',
        default=[],
        metavar='FILE',
        help='run this scenario file (a saved schedule, say) in test_replay.py; repeatable',
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _timings:
        return
    terminalreporter.section('scenario times')
    for backend, name, seconds in _timings:
        terminalreporter.write_line(f'{seconds:7.2f} s  {name} on {backend}')


@pytest.fixture(scope='session')
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption('--backend'))


@pytest.fixture(scope='session')
def juju_unreachable(backend_name: str) -> str | None:
    """Why the Juju tests cannot run here, in one line, or None."""
    if backend_name != 'juju':
        return None
    for binary in ('juju', 'charmcraft'):  # pytest-operator's ops_test needs both on PATH
        if shutil.which(binary) is None:
            return f'no {binary} on PATH (pytest-operator needs juju and charmcraft)'
    return asyncio.run(_controller_problem())


async def _controller_problem() -> str | None:
    from juju.client.jujudata import FileJujuData
    from juju.controller import Controller

    # Any failure to find or reach the controller means skip, with its first line as why.
    try:
        name = cast('str | None', FileJujuData().current_controller())
    except Exception as error:
        return f'no Juju controller: {_first_line(error)}'
    if not name:
        return 'no current Juju controller (juju bootstrap, or juju switch one)'
    controller = Controller()
    try:
        await asyncio.wait_for(
            controller.connect(name),  # pyright: ignore[reportUnknownMemberType]
            CONNECT_TIMEOUT,
        )
    except Exception as error:
        return f'Juju controller {name!r} unreachable: {_first_line(error)}'
    await controller.disconnect()
    return None


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


ScenarioSession = Callable[[Scenario], contextlib.AbstractAsyncContextManager[Backend]]


@pytest.fixture
def open_backend(
    request: pytest.FixtureRequest, backend_name: str, juju_unreachable: str | None
) -> Iterator[ScenarioSession]:
    """Opens a fresh backend for one scenario: a new Model, or a new Juju model."""
    if backend_name == 'jujusim':
        yield _jujusim_session
        return
    if juju_unreachable is not None:
        pytest.skip(juju_unreachable)
    ops_test = request.getfixturevalue('ops_test')
    from juju_backend import juju_session

    def session(scenario: Scenario) -> contextlib.AbstractAsyncContextManager[Backend]:
        return juju_session(ops_test, scenario)

    yield session


@contextlib.asynccontextmanager
async def _jujusim_session(scenario: Scenario) -> AsyncGenerator[Backend]:
    with Model(seed=int(os.environ.get('JUJUSIM_SEED', '0'))) as model:
        yield JujusimBackend(model, charm_paths(packed=False))


@pytest.fixture
def run(open_backend: ScenarioSession, backend_name: str) -> Callable[[pathlib.Path], Any]:
    """Runs one scenario file on a fresh backend and records its time."""

    async def run_file(path: pathlib.Path) -> None:
        scenario = load(path)
        async with open_backend(scenario) as backend:
            reason = backend.unsupported(scenario)
            if reason is not None:
                pytest.skip(reason)
            seconds = await run_scenario(backend, scenario)
        _timings.append((backend_name, scenario.name, seconds))

    return run_file
