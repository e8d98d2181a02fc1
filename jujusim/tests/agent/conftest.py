from __future__ import annotations

from collections.abc import Iterator

import agent_helpers
import pytest

from jujusim import agent


@pytest.fixture
def gate() -> Iterator[agent_helpers.Gate]:
    g = agent_helpers.Gate()
    yield g
    g.close()


@pytest.fixture(scope='module')
def shared_pool() -> Iterator[agent.AgentPool]:
    with agent.AgentPool() as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        yield pool


@pytest.fixture
def units(shared_pool: agent.AgentPool) -> Iterator[agent_helpers.Units]:
    u = agent_helpers.Units(shared_pool)
    yield u
    u.cleanup()
