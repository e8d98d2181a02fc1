"""Property tests: arbitrary relation data and ledger contents against the consumer.

Each example runs one relation-changed hook of the consumer (ops.testing) against a copy
of an application on the fake API that already carries labels. Whatever the input:

- the hook raises nothing but ``TransientError`` (the in-process fake never needs it);
- a rejection is a BlockedStatus under 1 KiB that names the fault, and changes no object;
- an accepted input leaves exactly the desired labels on every object.

Relation data is also judged against an oracle written here from Kubernetes' rules (Go
regexps anchor at the end of the text, so a trailing newline is invalid): accepted if
and only if the oracle says it is valid.

Deterministic: ``derandomize=True`` and no example database, so CI runs the same
examples every time; ``max_examples`` sets how many.
"""

from __future__ import annotations

import functools
import json
import re
import typing
from typing import Any

import ops
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from k8s_labels_testenv import LEDGER, NS, Env, relation, state
from ops import testing

import k8s_labels

AMBIENT = {'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp'}
SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def _base() -> Env:
    env = Env()
    ctx = env.context()
    rel = relation(AMBIENT)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))
    assert out.unit_status == ops.ActiveStatus()
    env.settle()
    return env


def run(env: Env, databag: dict[str, str]) -> testing.State | k8s_labels.TransientError:
    """One relation-changed hook; a TransientError out of the hook is returned."""
    ctx = env.context()
    rel = relation(raw=databag)
    try:
        return ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel))
    except testing.errors.UncaughtCharmError as e:
        # Anything else fails the test with its traceback.
        if isinstance(e.__cause__, k8s_labels.TransientError):
            return e.__cause__
        raise


# -- an oracle for relation data, from Kubernetes' rules ----------------------------------

_NAME = re.compile(r'\A([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z')
_LABEL = r'[a-z0-9]([-a-z0-9]*[a-z0-9])?'
_SUBDOMAIN = re.compile(rf'\A{_LABEL}(\.{_LABEL})*\Z')


def valid_key(key: str) -> bool:
    prefix, slash, name = key.rpartition('/')
    if slash and not (0 < len(prefix) <= 253 and _SUBDOMAIN.match(prefix)):
        return False
    if not (len(name) <= 63 and _NAME.match(name)):
        return False
    return key not in k8s_labels.RESERVED_KEYS and prefix not in k8s_labels.RESERVED_PREFIXES


def valid_value(value: object) -> bool:
    return isinstance(value, str) and (
        value == '' or (len(value) <= 63 and bool(_NAME.match(value)))
    )


def depth(value: object) -> int:
    """The nesting depth of a decoded JSON value (iterative: it may be ~1000 deep)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        children: list[object] = []
        if isinstance(item, dict):
            children = list(typing.cast('dict[str, object]', item).values())
        elif isinstance(item, list):
            children = typing.cast('list[object]', item)
        else:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def expected(databag: dict[str, str]) -> tuple[dict[str, str] | None, str]:
    """The labels the consumer must apply, or None and what its message must name."""
    labels: dict[str, object] = {}
    for field in ('labels', 'mesh_type'):
        if field not in databag:
            continue
        try:
            decoded = json.loads(databag[field])
        except (ValueError, RecursionError):
            return None, f'"{field}"'
        if depth(decoded) > 32:
            return None, f'"{field}"'
        if field == 'labels':
            if not isinstance(decoded, dict):
                return None, '"labels"'
            labels = typing.cast('dict[str, object]', decoded)
        elif not isinstance(decoded, str):
            return None, '"mesh_type"'
    # The first key at fault in sorted order is named (cut if long).
    for key in sorted(labels):
        if not (valid_key(key) and valid_value(labels[key])):
            return None, repr(key)[:40]
    return typing.cast('dict[str, str]', labels), ''


# -- strategies -----------------------------------------------------------------------------

KEY_CHARS = st.sampled_from('abcz09-_./AZ\n é\x00')
# Near misses: a valid key or value with one thing appended (a trailing newline passes
# Python's ``$``, not Go's).
SUFFIXES = st.sampled_from(['', '\n', '\r\n', ' ', '-', '\x00', 'é'])
good_keys = st.sampled_from(['a.io/x', 'x', 'example.com/role', 'team', 'sub.k8s.io/ok'])
good_values = st.sampled_from(['v', 'ambient', '', '1', 'x' * 63])
near_keys = st.one_of(
    st.builds(str.__add__, good_keys, SUFFIXES),
    st.sampled_from(
        [*sorted(k8s_labels.RESERVED_KEYS), 'kubernetes.io/hostname', 'k8s.io/x', 'a.io\n/x']
    ),
    st.text(KEY_CHARS, max_size=20),
    st.integers(60, 5_000).map(lambda n: 'k' * n),
    st.integers(250, 260).map(lambda n: 'p' * n + '/n'),
)
near_values = st.one_of(
    st.builds(str.__add__, good_values, SUFFIXES),
    st.text(KEY_CHARS, max_size=20),
    st.integers(64, 200_000).map(lambda n: 'v' * n),
)


@st.composite
def label_maps(draw: st.DrawFn) -> dict[str, str]:
    """Valid labels and at most one near miss, in its key or in its value."""
    labels = draw(st.dictionaries(good_keys, good_values, max_size=2))
    fault = draw(st.sampled_from(['key', 'value', 'none']))
    key = draw(near_keys if fault == 'key' else good_keys)
    labels[key] = draw(near_values if fault == 'value' else good_values)
    return labels


keys = st.one_of(good_keys, near_keys)
values = st.one_of(good_values, near_values)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


def nested(n: int, inner: str = '') -> str:
    return '[' * n + inner + ']' * n


deep_text = st.one_of(
    st.integers(1, 100_000).map(nested),
    st.integers(1, 10_000).map(lambda n: '{"a.io/x": ' + nested(n, '"v"') + '}'),
    st.integers(1, 10_000).map(lambda n: '{"a":' * n + '"v"' + '}' * n),
)
label_json = label_maps().map(json.dumps)
field_text = st.one_of(
    label_json,
    label_json,
    label_json,
    json_values.map(json.dumps),
    deep_text,
    st.text(max_size=30),
    st.dictionaries(keys, json_values, max_size=3).map(json.dumps),
)
databags = st.fixed_dictionaries(
    {},
    optional={
        'labels': field_text,
        'mesh_type': st.one_of(st.just('"istio"'), field_text),
        'other': st.text(max_size=5),
    },
)


@SETTINGS
@given(databag=databags)
def test_any_relation_data_is_applied_or_blocked_and_nothing_else(databag: dict[str, str]):
    env = _base().clone()
    before = env.objects()
    out = run(env, databag)
    assert not isinstance(out, k8s_labels.TransientError), out
    labels, fault = expected(databag)
    status = out.unit_status
    event(f'{type(status).__name__}, expected {"refused" if labels is None else "applied"}')
    if labels is None:
        assert isinstance(status, ops.BlockedStatus), status
        message = status.message
        assert len(message.encode()) < 1024
        assert message.startswith('service-mesh relation data: '), message[:200]
        assert fault in message, (fault, message[:200])
        assert env.objects() == before
        return
    assert status == ops.ActiveStatus(), status
    env.check(labels, managed={*AMBIENT, *labels})


# -- ledger contents ------------------------------------------------------------------------

LEDGER_FIELDS = ['format', 'app', 'writer', 'epoch', 'open', 'fence_pending', 'legacy']


def _set_field(field: str, value: object) -> Any:
    def edit(cm: dict[str, Any], doc: dict[str, Any]) -> str | None:
        doc[field] = value
        return None

    return edit


def _entry(where: str, key: str, entry: object) -> Any:
    def edit(cm: dict[str, Any], doc: dict[str, Any]) -> str | None:
        doc[where][key] = entry
        return None

    return edit


def _pod(name: str, record: object) -> Any:
    def edit(cm: dict[str, Any], doc: dict[str, Any]) -> str | None:
        doc['pods'][name] = record
        return None

    return edit


def _text(text: str) -> Any:
    def edit(cm: dict[str, Any], doc: dict[str, Any]) -> str | None:
        return text

    return edit


def _owner(name: str, uid: str | None) -> Any:
    def edit(cm: dict[str, Any], doc: dict[str, Any]) -> str | None:
        ref = cm['metadata']['ownerReferences'][0]
        ref['name'] = name
        if uid is not None:
            ref['uid'] = uid
        return None

    return edit


good_keys = st.sampled_from(['a.io/x', 'team', 'example.com/role', *AMBIENT])
good_values = st.sampled_from(['1', 'blue', 'ambient', 'wp', ''])
entries = st.one_of(
    st.fixed_dictionaries(
        {'values': st.lists(values, min_size=1, max_size=3), 'foreign': st.none() | values}
    ),
    st.fixed_dictionaries(
        {
            'values': st.lists(good_values, min_size=1, max_size=3),
            'foreign': st.none() | good_values,
        }
    ),
    json_values,
)
edits = st.lists(
    st.one_of(
        st.builds(_set_field, st.sampled_from(LEDGER_FIELDS), json_values),
        st.builds(_entry, st.sampled_from(['template', 'service']), keys, entries),
        st.builds(
            _pod,
            st.sampled_from(['app-0', 'app-1', 'app-9', 'x\n']),
            st.fixed_dictionaries(
                {'uid': st.text(max_size=5), 'labels': st.just(dict[str, str]())}
            )
            | json_values,
        ),
        st.builds(_text, deep_text | st.text(max_size=20)),
        st.builds(_owner, st.sampled_from(['app', 'other']), st.none() | st.text(max_size=5)),
    ),
    min_size=1,
    max_size=3,
)


@SETTINGS
@given(edits=edits, desired=st.sampled_from([{}, AMBIENT, {'a.io/x': '1'}]))
def test_any_ledger_is_used_or_blocked_and_nothing_else(edits: list[Any], desired: dict[str, str]):
    env = _base().clone()
    cm = env.api.get('ConfigMap', NS, LEDGER)
    assert cm is not None
    doc = json.loads(cm['data']['ledger.json'])
    text: str | None = None
    for edit in edits:
        text = edit(cm, doc) or text
    cm['data']['ledger.json'] = text if text is not None else json.dumps(doc)
    env.api.put_object(cm)
    before = env.objects()
    out = run(env, {'labels': json.dumps(desired), 'mesh_type': '"istio"'})
    assert not isinstance(out, k8s_labels.TransientError), out
    status = out.unit_status
    event(type(status).__name__)
    if isinstance(status, ops.BlockedStatus):
        message = status.message
        assert len(message.encode()) < 1024
        assert message.startswith(f'ConfigMap {NS}/{LEDGER} is corrupt: '), message[:200]
        assert env.objects() == before
        return
    assert status == ops.ActiveStatus(), status
    # Whatever the ledger claimed, Juju's labels are where Juju put them.
    assert env.template()['app.kubernetes.io/name'] == 'app'
    assert env.service()['app.kubernetes.io/name'] == 'app'
    for key, value in desired.items():
        assert env.template()[key] == value
        assert env.service()[key] == value
