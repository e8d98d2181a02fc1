"""Typed access to decoded JSON, so the rest of the package stays free of ``Unknown``."""

from __future__ import annotations

import json
from typing import Any, cast

import msgspec

Obj = dict[str, Any]
"""A Kubernetes object (or any JSON object) as decoded from JSON."""


def as_map(value: object) -> Obj | None:
    """``value`` as a JSON object, or None if it is not one."""
    # No typing.cast call: this runs on every field access, and a call costs.
    return value if isinstance(value, dict) else None  # pyright: ignore[reportUnknownVariableType]


def as_list(value: object) -> list[Any] | None:
    """``value`` as a JSON array, or None if it is not one."""
    return value if isinstance(value, list) else None  # pyright: ignore[reportUnknownVariableType]


def str_map(value: object) -> dict[str, str]:
    """``value`` as a map of strings (labels, annotations); anything else gives ``{}``."""
    m = as_map(value)
    if m is None:
        return {}
    return {k: v for k, v in m.items() if isinstance(v, str)}


def child(obj: Obj, key: str) -> Obj:
    """``obj[key]`` as a JSON object, created empty if missing or not an object."""
    m = as_map(obj.get(key))
    if m is None:
        m = {}
        obj[key] = m
    return m


def dig(obj: object, *keys: str) -> Any:
    """``obj[k1][k2]...``, or None where a step is missing or not an object."""
    cur: Any = obj
    for key in keys:
        m = as_map(cur)
        if m is None:
            return None
        cur = m.get(key)
    return cur


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()


def deep_copy(obj: Obj) -> Obj:
    """A deep copy of a JSON object."""
    # A JSON round trip copies JSON data: through msgspec ~5x faster than the json
    # module's, which is several times faster than copy.deepcopy (a Pod: 7, 31 us).
    return cast('Obj', _DECODER.decode(_ENCODER.encode(obj)))


def canonical(value: object) -> str:
    """A canonical JSON rendering (sorted keys), for hashing and equality."""
    return json.dumps(value, sort_keys=True, separators=(',', ':'))
