"""Fixtures for the comparison consumers' tests: a fresh model per test."""

from collections.abc import Iterator

import pytest

from jujusim.model import Model


@pytest.fixture
def model() -> Iterator[Model]:
    with Model(seed=7) as m:
        yield m
