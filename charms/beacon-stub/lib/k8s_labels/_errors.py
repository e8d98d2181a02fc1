"""Errors raised by the library; every message names what is at fault."""

from __future__ import annotations


class LabelError(Exception):
    """Base class of the library's errors."""


class InvalidLabelsError(LabelError, ValueError):
    """Desired labels that Kubernetes would reject, or that the library refuses.

    Attributes:
        key: the label key at fault.
    """

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


class InvalidRelationDataError(LabelError, ValueError):
    """Relation data that is not JSON, or not of the expected shape.

    Attributes:
        field: the databag field at fault (``labels``, ``mesh_type``, ...).
    """

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class LedgerCorruptError(LabelError):
    """The ledger ConfigMap (or the upstream library's ConfigMap) cannot be parsed.

    Nothing is written while this persists; fix or delete the named ConfigMap.

    Attributes:
        configmap: ``namespace/name`` of the ConfigMap at fault.
    """

    def __init__(self, configmap: str, message: str):
        super().__init__(message)
        self.configmap = configmap


class PermissionDeniedError(LabelError):
    """The Kubernetes API answered 403: the application lacks the rights it needs.

    On Juju this means the application is not trusted (``juju trust``).
    """


class TransientError(LabelError):
    """The API kept failing (5xx, connection errors, conflicts) after bounded retries.

    Raise it out of the hook so that Juju retries the hook later; the ledger makes the
    partial work safe to finish or undo.
    """


class ClusterUnreachableError(LabelError):
    """No Kubernetes API to talk to: not in a Juju pod, and no kubeconfig; or a mocked client.

    In a charm's unit tests, use :class:`k8s_labels.testing.FakeCluster`.
    """
