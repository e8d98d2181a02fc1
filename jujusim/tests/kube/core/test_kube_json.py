"""The JSON helpers the store copies every object through."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from jujusim.kube._json import Obj, deep_copy


def _pod() -> Obj:
    return {
        'apiVersion': 'v1',
        'kind': 'Pod',
        'metadata': {'name': 'p', 'labels': {'a': 'b'}, 'generation': 3},
        'spec': {'containers': [{'name': 'c', 'ports': [{'containerPort': 80}]}]},
        'status': {'ready': True, 'ratio': 0.5, 'reason': None},
    }


def _copies_deeply(copier: Callable[[Obj], Any]) -> bool:
    original = _pod()
    copied = copier(original)
    if copied != original:
        return False
    copied['metadata']['labels']['a'] = 'changed'
    copied['spec']['containers'][0]['ports'].append({'containerPort': 81})
    return original == _pod()


def test_deep_copy_is_equal_and_shares_nothing():
    assert _copies_deeply(deep_copy)
    assert not _copies_deeply(copy.copy)  # the check catches a shallow copy


def test_deep_copy_keeps_json_types():
    copied = deep_copy(_pod())
    assert [type(v) for v in copied['status'].values()] == [bool, float, type(None)]
    assert type(copied['metadata']['generation']) is int
