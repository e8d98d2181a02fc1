"""JSON decoding with a bound on nesting, for text the library does not control.

``json.loads`` recurses once per level of nesting, so 100,000 nested arrays raise
``RecursionError`` out of the hook. The standard library has no depth option, and the
text is checked before it is parsed, so this small scan is hand-written rather than a
dependency every charm would have to vendor.
"""

from __future__ import annotations

import itertools
import json
import re

MAX_DEPTH = 32
"""The deepest nesting accepted; relation data needs 1 level, the ledger 6."""

# A JSON string literal (escapes included), whose brackets do not count. The unrolled
# form matches in linear time. An unterminated string is not matched: its brackets then
# count, which can only refuse text that json.loads refuses anyway.
_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r'[^\[\]{}]+')


class TooDeepError(ValueError):
    """JSON text nested deeper than allowed."""


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (0 for a scalar)."""
    if text.count('[') + text.count('{') == 0:
        return 0
    brackets = _NOT_BRACKETS.sub('', _STRING_RE.sub('', text))
    steps = (1 if c in '[{' else -1 for c in brackets)
    return max(0, max(itertools.accumulate(steps), default=0))


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> object:
    """Decode JSON text, refusing nesting deeper than ``max_depth`` before parsing it.

    Raises:
        TooDeepError: the text nests deeper than ``max_depth``.
        ValueError: the text is not valid JSON (``json.JSONDecodeError``, or an integer
            longer than Python's digit limit).
    """
    # Cheap bound first: there cannot be more levels than opening brackets.
    if text.count('[') + text.count('{') > max_depth and depth(text) > max_depth:
        raise TooDeepError(f'nested more than {max_depth} levels deep')
    return json.loads(text)
