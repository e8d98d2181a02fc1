"""Keep Kubernetes labels on a charm's pods in step with relation data."""

from __future__ import annotations

import importlib.resources

__version__ = importlib.resources.files(__name__).joinpath('_version.txt').read_text().strip()

__all__ = ['__version__']
