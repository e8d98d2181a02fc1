"""validate_labels: Kubernetes syntax and the keys the library refuses."""

from __future__ import annotations

import pytest

import k8s_labels


def test_valid_labels_come_back_sorted():
    labels = {'istio.io/use-waypoint': 'm-waypoint', 'istio.io/dataplane-mode': 'ambient'}
    result = k8s_labels.validate_labels(labels)
    assert result == labels
    assert list(result) == ['istio.io/dataplane-mode', 'istio.io/use-waypoint']


@pytest.mark.parametrize(
    'key',
    [
        'plain',
        'a',
        'x' * 63,
        'app.kubernetes.io/part-of',  # a recommended label, not reserved
        'example.com/Mixed_Case.name-1',
        f'{"a" * 63}.{"b" * 63}.{"c" * 63}.{"d" * 61}/n',  # a 253-character prefix
    ],
)
def test_valid_keys(key: str):
    assert k8s_labels.validate_labels({key: 'v'}) == {key: 'v'}


@pytest.mark.parametrize('value', ['', 'v', 'A-b_c.D', 'x' * 63])
def test_valid_values(value: str):
    assert k8s_labels.validate_labels({'k': value}) == {'k': value}


@pytest.mark.parametrize(
    ('key', 'fragment'),
    [
        ('bad key!', 'invalid name'),
        ('-leading', 'invalid name'),
        ('trailing-', 'invalid name'),
        ('x' * 64, 'invalid name'),
        # Python's ``$`` matches before a final newline; the API server refuses these (422).
        ('x\n', 'invalid name'),
        ('a.io/x\n', 'invalid name'),
        ('a.io\n/x', 'invalid prefix'),
        ('/name', 'empty prefix'),
        ('example.com/', 'empty name'),
        ('Example.com/name', 'invalid prefix'),
        ('a/b/c', 'invalid prefix'),
        (f'{"a" * 254}/n', 'invalid prefix'),
        ('', 'empty name'),
    ],
)
def test_invalid_keys_name_the_key(key: str, fragment: str):
    with pytest.raises(k8s_labels.InvalidLabelsError) as info:
        k8s_labels.validate_labels({key: 'v'})
    assert info.value.key == key
    # Named, cut if long (the whole key in a status can be megabytes).
    assert repr(key)[:100] in str(info.value)
    assert fragment in str(info.value)


@pytest.mark.parametrize('value', ['bad value', '-x', 'x-', 'x' * 64, 'ü', 'v\n', 'v\r\n'])
def test_invalid_values_name_the_key(value: str):
    with pytest.raises(k8s_labels.InvalidLabelsError) as info:
        k8s_labels.validate_labels({'good': 'v', 'k': value})
    assert info.value.key == 'k'
    assert repr(value) in str(info.value)


@pytest.mark.parametrize('value', [1, None, True, ['a'], {'a': 'b'}])
def test_non_string_values_are_refused(value: object):
    with pytest.raises(k8s_labels.InvalidLabelsError, match="'k': value must be a string"):
        k8s_labels.validate_labels({'k': value})


@pytest.mark.parametrize(
    'key',
    [
        *sorted(k8s_labels.RESERVED_KEYS),
        'kubernetes.io/hostname',
        'k8s.io/anything',
    ],
)
def test_reserved_keys_are_refused(key: str):
    with pytest.raises(k8s_labels.InvalidLabelsError, match='reserved') as info:
        k8s_labels.validate_labels({key: 'v'})
    assert info.value.key == key


def test_the_issue_lists_every_reserved_key():
    # The keys the library refuses (lib/README.md, 'Keys refused').
    assert {
        'app.kubernetes.io/name',
        'app.kubernetes.io/managed-by',
        'controller-revision-hash',
        'statefulset.kubernetes.io/pod-name',
        'pod-template-hash',
    } <= k8s_labels.RESERVED_KEYS
    assert {'kubernetes.io', 'k8s.io'} <= k8s_labels.RESERVED_PREFIXES


def test_first_bad_key_in_sorted_order_is_named():
    with pytest.raises(k8s_labels.InvalidLabelsError) as info:
        k8s_labels.validate_labels({'z z': 'v', 'a a': 'v'})
    assert info.value.key == 'a a'


@pytest.mark.parametrize(
    ('labels', 'named'),
    [
        pytest.param({'k' * 1_000_000: 'v'}, 'kkkk', id='megabyte-key'),
        pytest.param({'k': 'v' * 1_000_000}, "'k'", id='megabyte-value'),
        pytest.param({'é' * 100_000: 'v'}, 'éééé', id='wide-key'),
    ],
)
def test_messages_stay_short_and_name_the_key(labels: dict[str, str], named: str):
    with pytest.raises(k8s_labels.InvalidLabelsError) as info:
        k8s_labels.validate_labels(labels)
    message = str(info.value)
    assert len(message.encode()) < 1024
    assert named in message
    assert 'cut' in message
