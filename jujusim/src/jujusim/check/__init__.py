"""Invariants at quiescence: R1-R4 of the ADR, read through lightkube.

``check_app`` reads Kubernetes only (so it runs against a real cluster too) and judges it
against a :class:`LabelExpectation`; ``read_mesh_databag`` says what a consumer must refuse;
``untrusted_leader_problem`` what its leader must show while it is untrusted.
"""

from __future__ import annotations

from ._labels import (
    KUBERNETES_POD_LABELS,
    ForeignLabels,
    LabelExpectation,
    Violation,
    check_app,
    check_labels,
    rollout_pending,
)
from ._mesh_data import REFUSED_KEYS, REFUSED_PREFIXES, MeshData, label_refusal, read_mesh_databag
from ._status import UNTRUSTED_NOT_BLOCKED, untrusted_leader_problem

__all__ = [
    'KUBERNETES_POD_LABELS',
    'REFUSED_KEYS',
    'REFUSED_PREFIXES',
    'UNTRUSTED_NOT_BLOCKED',
    'ForeignLabels',
    'LabelExpectation',
    'MeshData',
    'Violation',
    'check_app',
    'check_labels',
    'label_refusal',
    'read_mesh_databag',
    'rollout_pending',
    'untrusted_leader_problem',
]
