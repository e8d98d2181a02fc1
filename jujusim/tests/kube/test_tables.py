"""Server-side printing: the Table kubectl asks for."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from jujusim.kube import ApiRequest, ApiResponse
from jujusim.kube._tables import human_age, negotiate_table, to_table

KUBECTL_ACCEPT = (
    'application/json;as=Table;v=v1;g=meta.k8s.io,'
    'application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'
)
NOW = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def _pod(name: str, *, ready: bool, labels: dict[str, str]) -> dict[str, Any]:
    return {
        'kind': 'Pod',
        'apiVersion': 'v1',
        'metadata': {
            'name': name,
            'namespace': 'ns',
            'labels': labels,
            'creationTimestamp': '2025-01-01T11:59:30Z',
        },
        'spec': {'containers': [{'name': 'a'}, {'name': 'b'}], 'nodeName': 'node-1'},
        'status': {
            'phase': 'Running',
            'containerStatuses': [
                {'name': 'a', 'ready': ready, 'restartCount': 2},
                {'name': 'b', 'ready': True, 'restartCount': 1},
            ],
        },
    }


@pytest.mark.parametrize(
    ('seconds', 'printed'),
    [
        # Cases from HumanDuration's branches (apimachinery pkg/util/duration/duration.go).
        (-5, '<invalid>'),
        (-1, '0s'),
        (0, '0s'),
        (119, '119s'),
        (120, '2m'),
        (121, '2m1s'),
        (600, '10m'),
        (179 * 60, '179m'),
        (3 * 3600, '3h'),
        (3 * 3600 + 60, '3h1m'),
        (8 * 3600, '8h'),
        (47 * 3600, '47h'),
        (48 * 3600, '2d'),
        (49 * 3600, '2d1h'),
        (8 * 86400, '8d'),
        (729 * 86400, '729d'),
        (730 * 86400, '2y'),
        (731 * 86400, '2y1d'),
        (8 * 365 * 86400, '8y'),
    ],
)
def test_human_age_matches_kubectl(seconds: int, printed: str):
    assert human_age(seconds) == printed


def test_pod_list_table_has_kubectl_columns_and_labels():
    pods = {
        'kind': 'PodList',
        'apiVersion': 'v1',
        'metadata': {'resourceVersion': '42'},
        'items': [
            _pod('web-0', ready=True, labels={'app': 'web'}),
            _pod('web-1', ready=False, labels={'app': 'web', 'x': 'y'}),
        ],
    }
    table = to_table(pods, now=NOW)
    assert table['kind'] == 'Table'
    assert table['apiVersion'] == 'meta.k8s.io/v1'
    assert table['metadata'] == {'resourceVersion': '42'}
    columns = [(c['name'], c['priority']) for c in table['columnDefinitions']]
    assert columns[:5] == [('Name', 0), ('Ready', 0), ('Status', 0), ('Restarts', 0), ('Age', 0)]
    assert all(priority == 1 for _, priority in columns[5:])  # -o wide only
    assert [row['cells'][:5] for row in table['rows']] == [
        ['web-0', '2/2', 'Running', '3', '30s'],
        ['web-1', '1/2', 'Running', '3', '30s'],
    ]
    assert table['rows'][0]['cells'][6] == 'node-1'
    # kubectl --show-labels and -L read labels from the row's object metadata.
    assert table['rows'][1]['object']['metadata']['labels'] == {'app': 'web', 'x': 'y'}
    assert table['rows'][1]['object']['kind'] == 'PartialObjectMetadata'


def test_pod_ready_by_condition_when_no_container_statuses():
    pod = _pod('web-0', ready=True, labels={})
    del pod['status']['containerStatuses']
    assert to_table(pod, now=NOW)['rows'][0]['cells'][1] == '0/2'
    pod['status']['conditions'] = [{'type': 'Ready', 'status': 'True'}]
    assert to_table(pod, now=NOW)['rows'][0]['cells'][1] == '2/2'


def test_terminating_pod_and_statefulset_rows():
    pod = _pod('web-0', ready=True, labels={})
    pod['metadata']['deletionTimestamp'] = '2025-01-01T12:00:00Z'
    assert to_table(pod, now=NOW)['rows'][0]['cells'][2] == 'Terminating'
    sts = {
        'kind': 'StatefulSet',
        'metadata': {'name': 'web', 'creationTimestamp': '2025-01-01T11:00:00Z'},
        'spec': {
            'replicas': 3,
            'template': {'spec': {'containers': [{'name': 'c', 'image': 'img:1'}]}},
        },
        'status': {'readyReplicas': 2},
    }
    assert to_table(sts, now=NOW)['rows'][0]['cells'] == ['web', '2/3', '60m', 'c', 'img:1']


def _get(accept: str, path: str = '/api/v1/namespaces/ns/pods') -> ApiRequest:
    return ApiRequest(method='GET', path=path, headers={'accept': accept})


def test_negotiation_only_converts_what_kubectl_asked_for():
    body: dict[str, Any] = {'kind': 'PodList', 'apiVersion': 'v1', 'metadata': {}, 'items': []}
    ok = ApiResponse.json(200, body)
    assert json.loads(negotiate_table(_get(KUBECTL_ACCEPT), ok).body)['kind'] == 'Table'
    # A client that asks for plain JSON (lightkube, kubectl -o yaml) gets the list.
    assert negotiate_table(_get('application/json'), ok) is ok
    # Errors and kinds without a printer pass through untouched.
    missing = ApiResponse.json(404, {'kind': 'Status', 'code': 404})
    assert negotiate_table(_get(KUBECTL_ACCEPT), missing) is missing
    status = ApiResponse.json(200, {'kind': 'Status', 'status': 'Success'})
    assert negotiate_table(_get(KUBECTL_ACCEPT), status) is status
    post = ApiRequest(method='POST', path='/x', headers={'accept': KUBECTL_ACCEPT})
    assert negotiate_table(post, ok) is ok
