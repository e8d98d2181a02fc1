"""Arbitrary requests at the served API: never a 5xx, always an answer, every failure a Status.

Hypothesis throws methods, paths, query parameters (selectors, resourceVersions, dry runs),
headers and bodies (arbitrary JSON: huge numbers, lone surrogates, NaN, deep nesting, wrong
types in the fields the server types; and raw bytes) at one server over loopback HTTP. After
each request the same server must still answer a plain GET. Derandomised, so CI runs the
same examples every time (about 15 s for 400 examples on one core).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kube_paths import NS, TOKEN, new_fake

from jujusim import kube

KINDS = [
    ('api/v1', 'configmaps'),
    ('api/v1', 'pods'),
    ('api/v1', 'services'),
    ('api/v1', 'events'),
    ('apis/apps/v1', 'statefulsets'),
    ('apis/apps/v1', 'controllerrevisions'),
]
FIELDS = [
    'metadata',
    'name',
    'labels',
    'annotations',
    'namespace',
    'resourceVersion',
    'spec',
    'replicas',
    'selector',
    'matchLabels',
    'template',
    'containers',
    'data',
    'binaryData',
    'status',
    'kind',
    'apiVersion',
    'ownerReferences',
    'uid',
    '$patch',
    '$retainKeys',
    '$setElementOrder/containers',
    '$deleteFromPrimitiveList/finalizers',
    'finalizers',
    'updateStrategy',
    'rollingUpdate',
    'partition',
    'ports',
    'port',
    'targetPort',
    'op',
    'path',
    'value',
    'from',
]
MEDIA_TYPES = [
    'application/json',
    'application/merge-patch+json',
    'application/strategic-merge-patch+json',
    'application/json-patch+json',
    'application/apply-patch+yaml',
    'application/vnd.kubernetes.protobuf',
    'application/yaml',
    'text/plain',
    '',
]
# Printable, no CR/LF: what http.client lets a header or URL carry.
_SAFE_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)

names = st.one_of(st.sampled_from(['a', 'web', 'web-0', NS, 'x' * 300]), _SAFE_TEXT)
# A few names that creates and later requests share, so patches and deletes find objects.
SHARED_NAMES = ['web-0', 'web-1', 'web-2']
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(['\ud800', 'x\udc00y', 'v\n', 'a' * 70, 'web', 'app']),
    st.sampled_from(['\ud800', 'x\udc00y']),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), children, max_size=5
        ),
    ),
    max_leaves=25,
)


def _encode(value: Any) -> bytes:
    # surrogatepass: a lone surrogate goes out as the bytes a careless client would send.
    return json.dumps(value).encode('utf-8', 'surrogatepass')


bodies = st.one_of(
    json_values.map(_encode),
    st.binary(max_size=64),
    st.integers(min_value=1, max_value=3000).map(lambda n: b'[' * n + b']' * n),
    st.just(b'\xef\xbb\xbf{}'),
    st.just(b''),
)


_META = {'name': 'web-0', 'labels': {'app': 'web'}, 'annotations': {'a': 'b'}}
_CONTAINERS = [{'name': 'c', 'image': 'img', 'ports': [{'containerPort': 80}]}]
# A valid object of each kind, which shaped_bodies then spoils in a field or two.
TEMPLATES: dict[str, dict[str, Any]] = {
    'configmaps': {'data': {'k': 'v'}},
    'pods': {'spec': {'containers': _CONTAINERS}},
    'services': {
        'spec': {'selector': {'app': 'web'}, 'ports': [{'port': 80, 'targetPort': 8080}]}
    },
    'events': {'involvedObject': {'kind': 'Pod', 'name': 'web-0'}, 'reason': 'R', 'message': 'm'},
    'statefulsets': {
        'spec': {
            'replicas': 2,
            'serviceName': 'web',
            'selector': {'matchLabels': {'app': 'web'}},
            'template': {
                'metadata': {'labels': {'app': 'web'}},
                'spec': {'containers': _CONTAINERS},
            },
        }
    },
    'controllerrevisions': {'data': {'spec': {}}, 'revision': 1},
}
_PATHS = [
    ('metadata', 'name'),
    ('metadata', 'labels'),
    ('metadata', 'labels', 'app'),
    ('metadata', 'annotations', 'a'),
    ('metadata', 'resourceVersion'),
    ('data',),
    ('data', 'k'),
    ('spec', 'replicas'),
    ('spec', 'selector'),
    ('spec', 'template', 'spec', 'containers'),
    ('spec', 'template', 'metadata', 'labels'),
    ('spec', 'ports'),
    ('spec', '$retainKeys'),
    ('spec', 'template', 'spec', '$setElementOrder/containers'),
    ('kind',),
    ('apiVersion',),
    ('metadata', 'ownerReferences'),
    ('status',),
    ('spec', 'containers'),
    ('metadata', '$patch'),
    ('revision',),
    ('involvedObject', 'name'),
    ('spec', 'updateStrategy'),
]
_SAME_TYPE = st.one_of(
    st.integers(min_value=-3, max_value=5), st.sampled_from(['web', 'app', 'v', '', 'a' * 64])
)


@st.composite
def shaped_bodies(draw: st.DrawFn, plural: str) -> bytes:
    """A valid object of the kind at ``plural``, with up to two fields set to other JSON."""
    body: Any = json.loads(json.dumps({'metadata': _META, **TEMPLATES[plural]}))
    body['metadata']['name'] = draw(st.sampled_from(SHARED_NAMES))
    for path in draw(st.lists(st.sampled_from(_PATHS), max_size=2)):
        node: dict[str, Any] | None = body
        for key in path[:-1]:
            child: Any = node.get(key) if node is not None else None
            node = cast('dict[str, Any]', child) if isinstance(child, dict) else None
        if node is not None:
            node[path[-1]] = draw(st.one_of(_SAME_TYPE, json_values))
    return _encode(body)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    """One request: method, path with query, headers, body."""
    # Weighted towards writes: they reach decoding, validation, patches and the controller.
    method = draw(
        st.sampled_from(['POST'] * 4 + ['PUT', 'PATCH'] * 2 + ['GET', 'DELETE', 'HEAD', 'OPTIONS'])
    )
    prefix, plural = draw(st.sampled_from(KINDS))
    namespaced = draw(st.booleans()) or plural not in ('namespaces',)
    parts = [prefix]
    if namespaced:
        namespace = draw(st.sampled_from([NS, NS, NS, None]))
        parts += ['namespaces', namespace if namespace is not None else draw(names)]
    parts.append(plural)
    rarely = draw(st.sampled_from([False, False, False, False, True]))
    if rarely if method == 'POST' else not rarely:  # POST goes to collections, others by name
        shared = draw(st.sampled_from([*SHARED_NAMES, None]))
        parts.append(shared if shared is not None else draw(names))
        if draw(st.sampled_from([False, False, False, True])):
            parts.append(draw(st.sampled_from(['status', 'scale', 'exec', 'x'])))
    if draw(st.sampled_from([False] * 9 + [True])):
        parts = [draw(_SAFE_TEXT)]  # anything at all
    path = '/' + '/'.join(urllib.parse.quote(p, safe='') for p in parts)
    query: dict[str, str] = {}
    for key in draw(
        st.sets(
            st.sampled_from(
                [
                    'labelSelector',
                    'fieldSelector',
                    'resourceVersion',
                    'dryRun',
                    'propagationPolicy',
                    'force',
                    'fieldManager',
                    'limit',
                    'watch',
                ]
            ),
            max_size=3,
        )
    ):
        query[key] = draw(
            st.one_of(_SAFE_TEXT, st.sampled_from(['a in ()', 'a=b,c!=d', '1', 'All', 'true']))
        )
    if 'watch' in query:
        query['timeoutSeconds'] = '0'  # a watch here must end: its events are read whole
    if query:
        path += '?' + urllib.parse.urlencode(query)
    headers = {
        'Authorization': draw(st.sampled_from([f'Bearer {TOKEN}'] * 8 + ['Bearer nope', '']))
    }
    media = draw(st.one_of(st.sampled_from(MEDIA_TYPES), _SAFE_TEXT))
    if draw(st.sampled_from([True, True, True, False])):
        # The type most requests carry, to get past negotiation to decoding and validation.
        media = 'application/json' if method != 'PATCH' else draw(st.sampled_from(MEDIA_TYPES[:4]))
    if media:
        headers['Content-Type'] = media
    if draw(st.booleans()):
        headers['Accept'] = draw(
            st.sampled_from(
                ['application/json;as=Table;v=v1;g=meta.k8s.io', 'application/json', '*/*']
            )
        )
    shaped = shaped_bodies(plural)
    return method, path, headers, draw(st.one_of(shaped, shaped, bodies))


CM = f'/api/v1/namespaces/{NS}/configmaps'
STS = f'/apis/apps/v1/namespaces/{NS}/statefulsets'
JSON_TYPE = {'Authorization': f'Bearer {TOKEN}', 'Content-Type': 'application/json'}


@pytest.fixture(scope='module')
def server() -> Iterator[kube.KubeServer]:
    fake = new_fake()
    with kube.KubeServer(fake.handle, read_timeout=2) as server:
        yield server


def _exchange(
    conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers={k: v for k, v in headers.items() if v})
    response = conn.getresponse()
    return response.status, response.read()


@settings(
    derandomize=True,
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests())
# The issue's own cases always run, besides whatever Hypothesis draws.
@example(request=('POST', CM, JSON_TYPE, b'[' * 100_000 + b']' * 100_000))
@example(request=('POST', CM, JSON_TYPE, b'{"metadata": {"name": "s"}, "data": {"a": "\\ud800"}}'))
@example(
    request=(
        'POST',
        STS,
        JSON_TYPE,
        _encode({'metadata': {'name': 'h'}, 'spec': {'replicas': 2**63}}),
    )
)
@example(request=('HEAD', CM, {'Authorization': f'Bearer {TOKEN}'}, b''))
def test_any_request_is_answered_without_a_5xx(
    server: kube.KubeServer, request: tuple[str, str, dict[str, str], bytes]
):
    method, path, headers, body = request
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
    try:
        status, answer = _exchange(conn, method, path, headers, body)
        assert status < 500, (status, answer[:300])
        if status >= 300 and method != 'HEAD':
            status_body = json.loads(answer)
            assert status_body['kind'] == 'Status', status_body
            assert status_body['code'] == status
        # The server still answers, on this connection if it kept it, else on a new one.
        again = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
        try:
            code, _ = _exchange(
                again, 'GET', '/api/v1/namespaces', {'Authorization': f'Bearer {TOKEN}'}, b''
            )
        finally:
            again.close()
        assert code == 200
    finally:
        conn.close()
