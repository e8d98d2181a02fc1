"""Fixtures for the library's tests against the fake Kubernetes API."""

from __future__ import annotations

import pytest
from k8s_labels_testenv import Env


@pytest.fixture
def env() -> Env:
    """A two-pod application on a fresh fake API, trusted."""
    return Env()
