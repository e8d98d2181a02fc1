"""The model's own errors: what it cannot do, and a run that never settles."""

from __future__ import annotations


class ModelError(Exception):
    """The model cannot do what was asked; the message says why."""


class LivelockError(ModelError):
    """The model did not reach quiescence within its step bound."""
