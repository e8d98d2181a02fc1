"""Errors raised by the library; every message names what is at fault."""

from __future__ import annotations

MAX_MESSAGE_BYTES = 1000
"""The longest problem text the library reports (UTF-8 bytes), under Juju's status limit.

A whole offending key in a status can be megabytes, and ``status-set`` then fails with
"Argument list too long"; every message names the fault with values cut by :func:`shown`,
and :func:`bounded` is the last guard.
"""

SHOWN_CHARS = 100
"""How much of an offending value a message shows, as a Python literal."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)``, cut to about ``limit`` characters with the full length named."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f', {len(value)} characters' if isinstance(value, str) else ''
    return f'{text[:limit]}... (cut{size})'


def bounded(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``message`` cut to at most ``limit`` UTF-8 bytes, marked when cut."""
    encoded = message.encode('utf-8', 'backslashreplace')
    if len(encoded) <= limit:
        return message
    marker = ' ... (cut)'
    head = encoded[: limit - len(marker)].decode('utf-8', 'ignore')
    return head + marker


class LabelError(Exception):
    """Base class of the library's errors."""


class InvalidLabelsError(LabelError, ValueError):
    """Desired labels that Kubernetes would reject, or that the library refuses.

    Also raised, with ``key`` empty, when the labels are valid one by one but together
    need a ledger larger than a ConfigMap can hold.

    Attributes:
        key: the label key at fault ('' when no single key is).
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


class ApiRefusedError(LabelError):
    """The Kubernetes API refused a request, with an answer that retrying will not change.

    For example 400 or 422 (the API server found the request invalid), 401, 405, 413, or a
    404 on the Pod list. Nothing more is written in that reconcile; a batch cut short is
    recorded in the ledger and finished by the next reconcile that succeeds.

    Attributes:
        status: the HTTP status code of the answer.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class TransientError(LabelError):
    """The API kept failing (5xx, connection errors, conflicts) after bounded retries.

    Raise it out of the hook so that Juju retries the hook later; the ledger makes the
    partial work safe to finish or undo.
    """


class ClusterUnreachableError(LabelError):
    """No Kubernetes API to talk to: not in a Juju pod, and no kubeconfig; or a mocked client.

    In a charm's unit tests, use :class:`k8s_labels.testing.FakeCluster`.
    """
