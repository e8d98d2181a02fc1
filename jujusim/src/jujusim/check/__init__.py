"""Invariants at quiescence: R1-R4 of the ADR, read through lightkube."""

from __future__ import annotations

from ._labels import (
    ForeignLabels,
    LabelExpectation,
    Violation,
    check_app,
    check_labels,
    rollout_pending,
)

__all__ = [
    'ForeignLabels',
    'LabelExpectation',
    'Violation',
    'check_app',
    'check_labels',
    'rollout_pending',
]
