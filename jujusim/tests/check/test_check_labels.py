"""The R1-R4 rules on one object's labels, without an API."""

import functools

import pytest

from jujusim.check import KUBERNETES_POD_LABELS, LabelExpectation, check_labels

expect = functools.partial(LabelExpectation, namespace='m', app='app')


def test_desired_labels_present_is_clean():
    exp = expect(desired={'foo': 'bar'})
    assert check_labels(exp, {'foo': 'bar', 'other': 'x'}, 'Pod/app-0', {'other': 'x'}) == []


def test_a_label_nobody_accounts_for_is_r1_r3():
    # Not desired, not released, not someone else's: left behind (e.g. by the upstream
    # library) and nobody cleaned it up.
    exp = expect(desired={'foo': 'bar'})
    [violation] = check_labels(exp, {'foo': 'bar', 'stray': 'x'}, 'Pod/app-0', {})
    assert (violation.requirement, violation.key, violation.expected) == ('R1-R3', 'stray', None)
    assert str(violation) == (
        "R1-R3: Pod/app-0 label 'stray' is 'x', expected absent "
        '(not desired and nobody else wrote it)'
    )


def test_kubernetes_own_pod_labels_are_nobody_s_to_manage():
    exp = expect(desired={})
    labels = dict.fromkeys(KUBERNETES_POD_LABELS, 'x')
    assert check_labels(exp, labels, 'Pod/app-0', {}) == []


@pytest.mark.parametrize('labels', [{}, {'foo': 'baz'}])
def test_desired_label_missing_or_wrong_is_r1_r3(labels: dict[str, str]):
    exp = expect(desired={'foo': 'bar'})
    [violation] = check_labels(exp, labels, 'Pod/app-0', {})
    assert violation.requirement == 'R1-R3'
    assert violation.key == 'foo'
    assert violation.expected == 'bar'
    assert 'Pod/app-0' in str(violation)


def test_adr_counterexample_shape_released_label_left_behind():
    # {"foo": "bar"} was applied, the data went to {}: foo must be gone.
    exp = expect(desired={}, released=frozenset({'foo'}))
    [violation] = check_labels(exp, {'foo': 'bar'}, 'StatefulSet/app template', {})
    assert violation.requirement == 'R1-R3'
    assert violation.found == 'bar'
    assert violation.expected is None
    assert str(violation).endswith("is 'bar', expected absent")


def test_released_key_goes_back_to_its_foreign_value():
    exp = expect(desired={}, released=frozenset({'mode'}))
    foreign = {'mode': 'none'}
    assert check_labels(exp, {'mode': 'none'}, 'Service/app', foreign) == []
    [violation] = check_labels(exp, {}, 'Service/app', foreign)
    assert violation.requirement == 'R4'
    assert violation.expected == 'none'


def test_foreign_label_changed_or_deleted_is_r4():
    exp = expect(desired={'foo': 'bar'})
    foreign = {'team': 'a', 'gone': None}
    assert check_labels(exp, {'foo': 'bar', 'team': 'a'}, 'Pod/app-1', foreign) == []
    violations = check_labels(exp, {'foo': 'bar', 'team': 'b', 'gone': 'x'}, 'Pod/app-1', foreign)
    assert [(v.requirement, v.key) for v in violations] == [('R4', 'gone'), ('R4', 'team')]


def test_taken_over_key_follows_desired_not_foreign():
    # R4's exception: a foreign key that desired names is the library's while desired.
    exp = expect(desired={'mode': 'ambient'})
    foreign = {'mode': 'none'}
    assert check_labels(exp, {'mode': 'ambient'}, 'Pod/app-0', foreign) == []
    [violation] = check_labels(exp, {'mode': 'none'}, 'Pod/app-0', foreign)
    assert violation.requirement == 'R1-R3'
