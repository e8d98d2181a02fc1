"""Request bodies decoded as kube-apiserver decodes them, refusing what it refuses.

The API server reads JSON with ``sigs.k8s.io/json`` (a fork of Go's ``encoding/json``), whose
rules differ from Python's ``json`` module in ways a client can trip over:

- a byte-order mark is not JSON (Go: ``invalid character 'ï' looking for beginning of value``);
- ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON either;
- invalid UTF-8 and lone UTF-16 surrogates inside strings are not errors: each becomes U+FFFD
  (``encoding/json`` ``Unmarshal`` doc and ``decode.go`` ``unquoteBytes``: "invalid UTF-8 or
  invalid UTF-16 surrogate pairs are not treated as an error. Instead, they are replaced by
  the Unicode replacement character U+FFFD");
- nesting deeper than ``maxNestingDepth`` (10,000, ``encoding/json/scanner.go``) is a syntax
  error, ``exceeded max depth``.

Python cannot recurse 10,000 levels (its recursion limit is 1,000, and patches, copies and
validation all recurse), so the fake refuses past :data:`MAX_DEPTH` with the same error. No
Kubernetes object comes near it; the deepest kinds served here nest about 15 levels.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from . import _json

MAX_DEPTH = 200
"""Deepest nesting of arrays and objects accepted (the real server: 10,000; see above)."""

_BOM = b'\xef\xbb\xbf'
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPENERS = frozenset(b'[{')
_SURROGATE_ESCAPE = re.compile(rb'\\u[dD][89a-fA-F]')
_LONE_SURROGATE = re.compile('[\ud800-\udfff]')


class DecodeError(ValueError):
    """A body kube-apiserver's JSON decoder would refuse; the message is Go's wording."""


def _refuse_constant(name: str) -> Any:
    # encoding/json scanner.go: NaN and Infinity are not values.
    raise DecodeError(f"invalid character '{name[0]}' looking for beginning of value")


def nesting_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in ``body`` (strings skipped), cheaply."""
    if body.count(b'[') + body.count(b'{') <= MAX_DEPTH:
        return 0  # cannot be deeper than the count of openers: skip the scan
    structural = _STRING.sub(b'', body)
    brackets = structural.translate(None, delete=bytes(set(range(256)) - set(b'[]{}')))
    return max(itertools.accumulate(1 if byte in _OPENERS else -1 for byte in brackets), default=0)


def _replace_surrogates(value: Any) -> Any:
    # Iterative, not recursive: the value may be as deep as MAX_DEPTH allows.
    if isinstance(value, str):
        return _LONE_SURROGATE.sub('\ufffd', value)
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        item: Any = parent[key]
        if isinstance(item, str):
            parent[key] = _LONE_SURROGATE.sub('\ufffd', item)
        elif (items := _json.as_list(item)) is not None:
            stack.extend((items, i) for i in range(len(items)))
        elif (mapping := _json.as_map(item)) is not None:
            fixed = {_LONE_SURROGATE.sub('\ufffd', k): v for k, v in mapping.items()}
            if any(k not in mapping for k in fixed):
                mapping.clear()
                mapping.update(fixed)
            stack.extend((mapping, k) for k in mapping)
    return root[0]


def decode_json(body: bytes) -> Any:
    """Decode ``body`` as the API server would; raise :class:`DecodeError` where it refuses."""
    if body.startswith(_BOM):
        raise DecodeError("invalid character 'ï' looking for beginning of value")
    if nesting_depth(body) > MAX_DEPTH:
        raise DecodeError('exceeded max depth')
    text = body.decode('utf-8', 'replace')  # invalid UTF-8 becomes U+FFFD, as in Go
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise DecodeError(e.msg + f' at offset {e.pos}') from None
    except RecursionError:  # a belt for the MAX_DEPTH braces
        raise DecodeError('exceeded max depth') from None
    if _SURROGATE_ESCAPE.search(body):
        value = _replace_surrogates(value)
    return value
