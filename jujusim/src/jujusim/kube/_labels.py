"""Label key/value validation and label selectors, as Kubernetes defines them.

Validation: ``staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go``
(``IsQualifiedName``, ``IsValidLabelValue``, ``IsDNS1123Subdomain``) and
``apimachinery/pkg/apis/meta/v1/validation/validation.go`` (``ValidateLabels``: one
``field.Invalid`` per problem, all at the ``metadata.labels`` path).
Selectors: ``apimachinery/pkg/labels/selector.go`` and
https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from . import _errors, _json

_QNAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    'alphanumeric character'
)
_LABEL_VALUE_FMT = f'({_QNAME_FMT})?'
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'
_DNS1123_SUBDOMAIN_FMT = f'{_DNS1123_LABEL_FMT}(\\.{_DNS1123_LABEL_FMT})*'
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
# Go's regexp "$" (no (?m)) is the end of the text; Python's "$" also matches before a final
# newline, so "x\n" would pass. fullmatch() anchors both ends as Go's "^...$" does.
_QNAME_RE = re.compile(_QNAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_CONFIG_MAP_KEY_FMT = '[-._a-zA-Z0-9]+'
_CONFIG_MAP_KEY_RE = re.compile(_CONFIG_MAP_KEY_FMT)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # validation.go RegexError: examples quoted, each followed by ", ", joined by " or ".
    quoted = ' or '.join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {quoted}regex used for validation is '{fmt}')"


def dns1123_subdomain_errors(value: str) -> list[str]:
    """``IsDNS1123Subdomain``: the problems with ``value``, empty if none."""
    errs: list[str] = []
    if len(value) > 253:
        errs.append('must be no more than 253 characters')
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, 'example.com'))
    return errs


def config_map_key_errors(key: str) -> list[str]:
    """``IsConfigMapKey`` (validation.go): the problems with a ConfigMap data key."""
    errs: list[str] = []
    if len(key) > 253:
        errs.append('must be no more than 253 characters')
    if not _CONFIG_MAP_KEY_RE.fullmatch(key):
        errs.append(
            _regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                _CONFIG_MAP_KEY_FMT,
                'key.name',
                'KEY_NAME',
                'key-name',
            )
        )
    # hasChDirPrefix.
    if key == '.':
        errs.append("must not be '.'")
    elif key == '..':
        errs.append("must not be '..'")
    elif key.startswith('..'):
        errs.append("must not start with '..'")
    return errs


def label_key_errors(key: str) -> list[str]:
    """``IsQualifiedName``: the problems with label key ``key``, empty if none."""
    errs: list[str] = []
    parts = key.split('/')
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append('prefix part must be non-empty')
        else:
            errs.extend(f'prefix part {m}' for m in dns1123_subdomain_errors(prefix))
    else:
        example = _regex_error(_QNAME_MSG, _QNAME_FMT, 'MyName', 'my.name', '123-abc')
        return [
            f'a qualified name {example} with an optional DNS subdomain prefix and '
            "'/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append('name part must be non-empty')
    elif len(name) > 63:
        errs.append('name part must be no more than 63 characters')
    if not _QNAME_RE.fullmatch(name):
        errs.append(
            'name part ' + _regex_error(_QNAME_MSG, _QNAME_FMT, 'MyName', 'my.name', '123-abc')
        )
    return errs


def label_value_errors(value: str) -> list[str]:
    """``IsValidLabelValue``: the problems with label value ``value``, empty if none."""
    errs: list[str] = []
    if len(value) > 63:
        errs.append('must be no more than 63 characters')
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345')
        )
    return errs


def _go_quote(value: Any) -> str:
    # field.Invalid renders strings Go-quoted (%q); JSON quoting matches it for these charsets.
    return json.dumps(value) if isinstance(value, str) else str(value)


def validate_labels(labels: Any, field: str) -> list[_errors.Cause]:
    """``ValidateLabels``: one cause per problem, each at ``field`` (e.g. ``metadata.labels``)."""
    causes: list[_errors.Cause] = []
    if labels is None:
        return causes
    label_map = _json.as_map(labels)
    if label_map is None:
        return [
            _errors.Cause(
                reason='FieldValueInvalid',
                message=f'Invalid value: {_go_quote(labels)}: must be a map of strings',
                field=field,
            )
        ]
    for key_s, value in sorted(label_map.items()):
        for msg in label_key_errors(key_s):
            causes.append(
                _errors.Cause(
                    reason='FieldValueInvalid',
                    message=f'Invalid value: {_go_quote(key_s)}: {msg}',
                    field=field,
                )
            )
        if not isinstance(value, str):
            causes.append(
                _errors.Cause(
                    reason='FieldValueInvalid',
                    message=f'Invalid value: {_go_quote(value)}: must be a string',
                    field=field,
                )
            )
            continue
        for msg in label_value_errors(value):
            causes.append(
                _errors.Cause(
                    reason='FieldValueInvalid',
                    message=f'Invalid value: {_go_quote(value)}: {msg}',
                    field=field,
                )
            )
    return causes


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One selector requirement: ``key op values``."""

    key: str
    op: str  # '=', '!=', 'in', 'notin', 'exists', '!', 'gt', 'lt'
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement (``Requirement.Matches``)."""
        has = self.key in labels
        if self.op in ('=', 'in'):
            return has and labels[self.key] in self.values
        if self.op in ('!=', 'notin'):
            # selector.go: NotEquals / NotIn also match objects without the key.
            return not has or labels[self.key] not in self.values
        if self.op == 'exists':
            return has
        if self.op == '!':
            return not has
        if not has:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.op == 'gt' else have < want


@dataclasses.dataclass(frozen=True)
class Selector:
    """A parsed label selector: every requirement must hold (an empty one matches all)."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with ``labels`` is selected."""
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)


class SelectorError(ValueError):
    """A selector string that Kubernetes would refuse to parse."""


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unable to parse requirement: unexpected ')' in {text!r}")
        if ch == ',' and depth == 0:
            parts.append(''.join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise SelectorError(f"unable to parse requirement: unclosed '(' in {text!r}")
    parts.append(''.join(current))
    return parts


_SET_RE = re.compile(r'^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$')
_CMP_RE = re.compile(r'^(?P<key>[^=!<>\s]+)\s*(?P<op>==|!=|=|>|<)\s*(?P<value>[^=!<>]*)$')


def _check_key(key: str) -> None:
    errs = label_key_errors(key)
    if errs:
        raise SelectorError(f'unable to parse requirement: key: Invalid value: "{key}": {errs[0]}')


def _check_value(value: str) -> None:
    errs = label_value_errors(value)
    if errs:
        raise SelectorError(
            f'unable to parse requirement: values[0]: Invalid value: "{value}": {errs[0]}'
        )


def _parse_requirement(text: str) -> Requirement:
    if text.startswith('!'):
        key = text[1:].strip()
        _check_key(key)
        return Requirement(key, '!')
    if m := _SET_RE.fullmatch(text):
        key = m['key']
        _check_key(key)
        if not m['values'].strip():
            # selector.go NewRequirement: In and NotIn need at least one value.
            raise SelectorError(
                "unable to parse requirement: values: Invalid value: []: for 'in', 'notin' "
                "operators, values set can't be empty"
            )
        values = tuple(v.strip() for v in m['values'].split(','))
        for v in values:
            _check_value(v)
        return Requirement(key, m['op'], values)
    if m := _CMP_RE.fullmatch(text):
        key, op, value = m['key'], m['op'], m['value'].strip()
        _check_key(key)
        if op in ('>', '<'):
            if not value.isdigit():
                raise SelectorError(
                    f'unable to parse requirement: for {op!r}, {op!r} operators, exactly one '
                    f'value is required and must be an integer, not {value!r}'
                )
            return Requirement(key, 'gt' if op == '>' else 'lt', (value,))
        _check_value(value)
        return Requirement(key, '!=' if op == '!=' else '=', (value,))
    if re.fullmatch(r'[^\s=!()<>,]+', text):
        _check_key(text)
        return Requirement(text, 'exists')
    raise SelectorError(f'unable to parse requirement: found {text!r}, expected a requirement')


def parse_selector(text: str | None) -> Selector:
    """Parse ``labelSelector``: ``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``.

    Raises:
        SelectorError: for text ``labels.Parse`` would reject.
    """
    if text is None or not text.strip():
        return Selector()
    reqs: list[Requirement] = []
    for part in _split_top_level(text):
        part = part.strip()
        if not part:
            raise SelectorError(f'unable to parse requirement: empty requirement in {text!r}')
        reqs.append(_parse_requirement(part))
    return Selector(tuple(reqs))


def selector_from_match_labels(spec: Any) -> Selector:
    """A ``LabelSelector`` object (``matchLabels`` and ``matchExpressions``) as a Selector."""
    spec_map = _json.as_map(spec)
    if spec_map is None:
        return Selector()
    reqs = [
        Requirement(key, '=', (value,))
        for key, value in sorted(_json.str_map(spec_map.get('matchLabels')).items())
    ]
    ops = {'In': 'in', 'NotIn': 'notin', 'Exists': 'exists', 'DoesNotExist': '!'}
    for raw in _json.as_list(spec_map.get('matchExpressions')) or []:
        expr = _json.as_map(raw)
        if expr is None or expr.get('operator') not in ops:
            continue
        values = _json.as_list(expr.get('values')) or []
        reqs.append(
            Requirement(str(expr.get('key')), ops[str(expr['operator'])], tuple(map(str, values)))
        )
    return Selector(tuple(reqs))
