"""What kube-apiserver refuses, the fake refuses alike: one table, through both front ends.

Each case names the code and reason a real v1.32 server answers, and the source that says so
(kubernetes/kubernetes unless another repository is named). Every case runs in-process
(httpx through ``KubeTransport``) and served (loopback HTTP); both must give the same Status.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from kube_paths import NS, PATHS, new_fake

from jujusim import kube
from jujusim.kube import _decode

JSON = {'Content-Type': 'application/json'}
MERGE = {'Content-Type': 'application/merge-patch+json'}
STRATEGIC = {'Content-Type': 'application/strategic-merge-patch+json'}
CM_PATH = f'/api/v1/namespaces/{NS}/configmaps'
STS_PATH = f'/apis/apps/v1/namespaces/{NS}/statefulsets'


def _cm(name: str = 'cm', **fields: Any) -> bytes:
    return json.dumps(
        {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': name}, **fields}
    ).encode()


def _sts(**spec: Any) -> bytes:
    body = {
        'apiVersion': 'apps/v1',
        'kind': 'StatefulSet',
        'metadata': {'name': 'web'},
        'spec': {
            'replicas': 1,
            'selector': {'matchLabels': {'app': 'web'}},
            'serviceName': 'web',
            'template': {
                'metadata': {'labels': {'app': 'web'}},
                'spec': {'containers': [{'name': 'c', 'image': 'img'}]},
            },
            **spec,
        },
    }
    return json.dumps(body).encode()


def _nested(depth: int) -> bytes:
    return b'{"metadata": {"name": "deep"}, "data": {"a": ' + b'[' * depth + b']' * depth + b'}}'


@dataclasses.dataclass(frozen=True)
class Case:
    """One request and the answer kube-apiserver gives it."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    code: int
    reason: str | None  # the Status reason; None for a success
    source: str
    message: str = ''  # a fragment the Status message must contain
    setup: Callable[[kube.FakeKube], None] | None = None


def _with_objects(fake: kube.FakeKube) -> None:
    fake.create(json.loads(_cm('cm', data={'a': 'b'})), namespace=NS)
    fake.create(json.loads(_sts()), namespace=NS)


CASES = [
    # -- names, labels: Go's regexp "$" is end of text, so a trailing newline fails ---------------
    Case(
        'label value ending in a newline',
        'POST',
        CM_PATH,
        JSON,
        _cm(metadata={'name': 'cm', 'labels': {'a': 'v\n'}}),
        422,
        'Invalid',
        'apimachinery pkg/util/validation/validation.go IsValidLabelValue (labelValueRegexp)',
        'metadata.labels: Invalid value: "v\\n"',
    ),
    Case(
        'label key ending in a newline',
        'POST',
        CM_PATH,
        JSON,
        _cm(metadata={'name': 'cm', 'labels': {'a.io/x\n': 'v'}}),
        422,
        'Invalid',
        'apimachinery validation.go IsQualifiedName (qualifiedNameRegexp)',
        'metadata.labels',
    ),
    Case(
        'object name ending in a newline',
        'POST',
        CM_PATH,
        JSON,
        _cm('cm\n'),
        422,
        'Invalid',
        'apimachinery validation.go IsDNS1123Subdomain',
        'metadata.name',
    ),
    # -- ConfigMap data ---------------------------------------------------------------------------
    Case(
        'ConfigMap data over 1 MiB in total',
        'POST',
        CM_PATH,
        JSON,
        _cm(data={'a': 'x' * (512 * 1024), 'b': 'y' * (512 * 1024 + 1)}),
        422,
        'Invalid',
        'pkg/apis/core/validation/validation.go ValidateConfigMap '
        '(core.MaxSecretSize, field.TooLong)',
        'Too long: may not be more than 1048576 bytes',
    ),
    Case(
        'ConfigMap key that is not a config key',
        'POST',
        CM_PATH,
        JSON,
        _cm(data={'a b': 'x'}),
        422,
        'Invalid',
        'validation.go ValidateConfigMap / IsConfigMapKey',
        'data[a b]',
    ),
    Case(
        'ConfigMap data value that is not a string',
        'POST',
        CM_PATH,
        JSON,
        _cm(data={'a': 5}),
        400,
        'BadRequest',
        'staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go transformDecodeError '
        '(encoding/json UnmarshalTypeError into ConfigMap.Data map[string]string)',
        'cannot unmarshal number into Go struct field ConfigMap.data.a of type string',
    ),
    Case(
        'annotation value that is not a string',
        'POST',
        CM_PATH,
        JSON,
        _cm(metadata={'name': 'cm', 'annotations': {'a': True}}),
        400,
        'BadRequest',
        'handlers/rest.go transformDecodeError (ObjectMeta.Annotations)',
        'of type string',
    ),
    Case(
        'NaN in a body',
        'POST',
        CM_PATH,
        JSON,
        b'{"metadata": {"name": "cm"}, "data": {"a": NaN}}',
        400,
        'BadRequest',
        'encoding/json scanner: NaN is not a JSON value',
        "couldn't get version/kind; json parse error",
    ),
    Case(
        'a body starting with a byte-order mark',
        'POST',
        CM_PATH,
        JSON,
        b'\xef\xbb\xbf' + _cm(),
        400,
        'BadRequest',
        'encoding/json scanner: a BOM is not the start of a value',
        'invalid character',
    ),
    Case(
        'a body nested 100,000 levels (create)',
        'POST',
        CM_PATH,
        JSON,
        _nested(100_000),
        400,
        'BadRequest',
        'encoding/json scanner.go maxNestingDepth (10,000)',
        'exceeded max depth',
    ),
    Case(
        'a patch nested 100,000 levels',
        'PATCH',
        f'{CM_PATH}/cm',
        MERGE,
        _nested(100_000),
        400,
        'BadRequest',
        'encoding/json scanner.go maxNestingDepth',
        'exceeded max depth',
        setup=_with_objects,
    ),
    Case(
        'a lone surrogate is U+FFFD, not an error',
        'POST',
        CM_PATH,
        JSON,
        b'{"metadata": {"name": "cm"}, "data": {"a": "\\ud800"}}',
        201,
        None,
        'encoding/json Unmarshal: invalid UTF-16 surrogates become U+FFFD '
        '(decode.go unquoteBytes)',
    ),
    # -- media types ------------------------------------------------------------------------------
    *(
        Case(
            f'POST as {media}',
            'POST',
            CM_PATH,
            {'Content-Type': media},
            _cm(),
            415,
            'UnsupportedMediaType',
            'apiserver pkg/endpoints/handlers/negotiation/negotiate.go NegotiateInputSerializer',
            'the body of the request was in an unknown format',
        )
        for media in ('text/plain', 'application/xml', 'multipart/form-data; boundary=x')
    ),
    Case(
        'POST without a Content-Type is read as JSON',
        'POST',
        CM_PATH,
        {},
        _cm(),
        201,
        None,
        'negotiate.go NegotiateInputSerializerForMediaType: none means the first (JSON)',
    ),
    Case(
        'PUT as text/plain',
        'PUT',
        f'{CM_PATH}/cm',
        {'Content-Type': 'text/plain'},
        _cm(),
        415,
        'UnsupportedMediaType',
        'negotiate.go NegotiateInputSerializer',
        setup=_with_objects,
    ),
    # -- typed fields -----------------------------------------------------------------------------
    Case(
        'replicas beyond int32',
        'POST',
        STS_PATH,
        JSON,
        _sts(replicas=9223372036854775808),
        400,
        'BadRequest',
        'handlers/rest.go transformDecodeError (StatefulSetSpec.Replicas *int32)',
        'cannot unmarshal number 9223372036854775808 into Go struct field '
        'StatefulSetSpec.spec.replicas of type int32',
    ),
    Case(
        'replicas: true',
        'POST',
        STS_PATH,
        JSON,
        _sts(replicas=True),
        400,
        'BadRequest',
        'handlers/rest.go transformDecodeError',
        'cannot unmarshal bool into Go struct field StatefulSetSpec.spec.replicas of type int32',
    ),
    Case(
        'containers: 5',
        'POST',
        STS_PATH,
        JSON,
        _sts(template={'metadata': {'labels': {'app': 'web'}}, 'spec': {'containers': 5}}),
        400,
        'BadRequest',
        'handlers/rest.go transformDecodeError (PodSpec.Containers []Container)',
        'of type []v1.Container',
    ),
    Case(
        'a merge patch making replicas a bool',
        'PATCH',
        f'{STS_PATH}/web',
        MERGE,
        b'{"spec": {"replicas": true}}',
        422,
        'Invalid',
        'handlers/patch.go applyPatchToCurrentObject: NewInvalid on the field "patch"',
        'patch: Invalid value',
        setup=_with_objects,
    ),
    Case(
        '$retainKeys that is not a list',
        'PATCH',
        f'{STS_PATH}/web',
        STRATEGIC,
        b'{"spec": {"$retainKeys": 5}}',
        400,
        'BadRequest',
        'handlers/patch.go interpretStrategicMergePatchError '
        '(mergepatch.ErrBadPatchFormatForRetainKeys)',
        'invalid patch format of retainKeys',
        setup=_with_objects,
    ),
    # -- selectors --------------------------------------------------------------------------------
    Case(
        "the selector 'a in ()'",
        'GET',
        f'{CM_PATH}?labelSelector=a%20in%20()',
        {},
        b'',
        400,
        'BadRequest',
        'apimachinery pkg/labels/selector.go NewRequirement: In needs values',
        "values set can't be empty",
    ),
]


@pytest.mark.parametrize('path', list(PATHS))
@pytest.mark.parametrize('case', CASES, ids=[c.name for c in CASES])
def test_the_fake_answers_as_kube_apiserver(case: Case, path: str):
    fake = new_fake()
    if case.setup is not None:
        case.setup(fake)
    before = {k: fake.objects(k, NS) for k in ('ConfigMap', 'StatefulSet')}
    with PATHS[path](fake) as send:
        answer = send(case.method, case.path, case.headers, case.body)
    assert answer.status == case.code, (case.source, answer.body[:500])
    body = answer.json()
    if case.reason is None:
        return
    assert body['kind'] == 'Status' and body['status'] == 'Failure', body
    assert (body['code'], body['reason']) == (case.code, case.reason), body
    assert case.message in body['message'], body['message']
    # A refused request changes nothing.
    assert {k: fake.objects(k, NS) for k in ('ConfigMap', 'StatefulSet')} == before


@pytest.mark.parametrize('path', list(PATHS))
def test_a_lone_surrogate_is_stored_as_the_replacement_character(path: str):
    fake = new_fake()
    with PATHS[path](fake) as send:
        send(
            'POST',
            CM_PATH,
            JSON,
            b'{"metadata": {"name": "cm"}, "data": {"k": "a\\ud800b", "j": "\\udc00"}}',
        )
        answer = send('GET', f'{CM_PATH}/cm', {}, b'')
    assert answer.json()['data'] == {'k': 'a\ufffdb', 'j': '\ufffd'}


@pytest.mark.parametrize('path', list(PATHS))
def test_nesting_within_the_limit_is_served(path: str):
    # Nesting the fake accepts goes through create, strategic and merge patches and reads.
    fake = new_fake()
    value: Any = 'leaf'
    for _ in range(_decode.MAX_DEPTH - 4):
        value = [value]
    with PATHS[path](fake) as send:
        created = send(
            'POST',
            f'/apis/apps/v1/namespaces/{NS}/controllerrevisions',
            JSON,
            json.dumps({'metadata': {'name': 'r'}, 'data': value, 'revision': 1}).encode(),
        )
        assert created.status == 201, created.body[:300]
        for headers in (MERGE, STRATEGIC):
            patched = send(
                'PATCH',
                f'/apis/apps/v1/namespaces/{NS}/controllerrevisions/r',
                headers,
                json.dumps({'data': value}).encode(),
            )
            assert patched.status == 200, patched.body[:300]


def test_refusals_are_the_same_through_both_front_ends():
    # The table above runs both; this pins one Status body whole, equal on both.
    answers: list[Any] = []
    for each in PATHS.values():
        with each(new_fake()) as send:
            answers.append(send('POST', STS_PATH, JSON, _sts(replicas=True)).json())
    assert answers[0] == answers[1]
