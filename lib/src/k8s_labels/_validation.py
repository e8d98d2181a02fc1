"""Kubernetes label syntax, and the keys the library refuses to manage."""

from __future__ import annotations

import re
from collections.abc import Mapping

from . import _errors

# Syntax: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
# and kubernetes/apimachinery pkg/util/validation/validation.go (IsQualifiedName,
# IsValidLabelValue, IsDNS1123Subdomain). Go's regexp ``$`` is the end of the text; Python's
# also matches before a final newline, so these are used with ``fullmatch`` only (a key or
# value ending in a newline is refused, as the API server refuses it with 422).
_NAME_MAX = 63
_PREFIX_MAX = 253
_NAME_RE = re.compile(r'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')
_DNS1123_LABEL = r'[a-z0-9]([-a-z0-9]*[a-z0-9])?'
_DNS1123_SUBDOMAIN_RE = re.compile(rf'{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*')

RESERVED_KEYS: frozenset[str] = frozenset(
    {
        # Juju's selector and ownership labels on the StatefulSet, its pods and the Service
        # (juju/juju caas/kubernetes/provider/application/application.go).
        'app.kubernetes.io/name',
        'app.kubernetes.io/managed-by',
        # Set by the StatefulSet controller on each pod
        # (https://kubernetes.io/docs/reference/labels-annotations-taints/).
        'controller-revision-hash',
        'statefulset.kubernetes.io/pod-name',
        'apps.kubernetes.io/pod-index',
        # Set by the Deployment controller; a selector hijack if copied onto pods.
        'pod-template-hash',
    }
)
"""Keys the library refuses: they would hijack selectors or fight Juju and Kubernetes."""

RESERVED_PREFIXES: frozenset[str] = frozenset({'kubernetes.io', 'k8s.io'})
"""Key prefixes reserved for Kubernetes core components (same source as above)."""


def validate_labels(labels: Mapping[str, object]) -> dict[str, str]:
    """Check labels against Kubernetes' syntax and the keys the library refuses.

    Args:
        labels: label keys to values, for example decoded from relation data.

    Returns:
        A new ``dict`` of the same labels, sorted by key.

    Raises:
        InvalidLabelsError: naming the first key (in sorted order) that is at fault.
    """
    result: dict[str, str] = {}
    for key in sorted(labels, key=str):
        value = labels[key]
        check_key(key)
        if not isinstance(value, str):
            raise _errors.InvalidLabelsError(
                key,
                f'label {_errors.shown(key)}: value must be a string, not {type(value).__name__}',
            )
        problem = value_problem(value)
        if problem:
            raise _errors.InvalidLabelsError(
                key, f'label {_errors.shown(key)}: value {_errors.shown(value)} {problem}'
            )
        result[key] = value
    return result


def check_key(key: object) -> None:
    """Raise :class:`InvalidLabelsError` if ``key`` is not a valid, allowed label key."""
    if not isinstance(key, str):
        raise _errors.InvalidLabelsError(
            _errors.shown(key), f'label key {_errors.shown(key)} is not a string'
        )
    problem = key_problem(key) or reserved_problem(key)
    if problem:
        raise _errors.InvalidLabelsError(key, f'label key {_errors.shown(key)} {problem}')


def reserved_problem(key: str) -> str | None:
    """Say why the library refuses a syntactically valid key, or return None."""
    prefix, _, _ = key.rpartition('/')
    if key in RESERVED_KEYS or prefix in RESERVED_PREFIXES:
        return 'is reserved for Juju or Kubernetes and is refused'
    return None


def key_problem(key: str) -> str | None:
    """Say what is wrong with a label key's syntax, or return None if nothing is."""
    prefix, slash, name = key.rpartition('/')
    if slash and not prefix:
        return 'has an empty prefix'
    if slash and (len(prefix) > _PREFIX_MAX or not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix)):
        return (
            f'has an invalid prefix: it must be a lowercase DNS subdomain '
            f'of at most {_PREFIX_MAX} characters'
        )
    if not name:
        return 'has an empty name'
    if len(name) > _NAME_MAX or not _NAME_RE.fullmatch(name):
        return (
            f'has an invalid name: at most {_NAME_MAX} characters of [A-Za-z0-9-_.], '
            f'starting and ending with a letter or digit'
        )
    return None


def value_problem(value: str) -> str | None:
    """Say what is wrong with a label value's syntax, or return None if nothing is."""
    if value and (len(value) > _NAME_MAX or not _NAME_RE.fullmatch(value)):
        return (
            f'is invalid: at most {_NAME_MAX} characters of [A-Za-z0-9-_.], '
            f'starting and ending with a letter or digit, or empty'
        )
    return None
