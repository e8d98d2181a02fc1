"""A simulated Juju model on a fake Kubernetes API, running real charm code."""

from __future__ import annotations

import importlib.resources

__version__ = importlib.resources.files(__name__).joinpath('_version.txt').read_text().strip()

__all__ = ['__version__']
