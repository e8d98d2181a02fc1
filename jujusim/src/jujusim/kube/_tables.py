"""Server-side printing: answer kubectl's ``Accept: ...;as=Table`` with a ``Table``.

``kubectl get`` asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the
server's columns; from a plain list it would print only NAME and AGE. The columns below are
the real server's (kubernetes/kubernetes pkg/printers/internalversion/printers.go,
``AddHandlers``), limited to what the fake's objects carry.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any, cast

from . import _http

_Row = Callable[[dict[str, Any]], list[Any]]


def _column(name: str, *, priority: int = 0, fmt: str = '') -> dict[str, Any]:
    return {'name': name, 'type': 'string', 'format': fmt, 'description': '', 'priority': priority}


def _get(obj: dict[str, Any], *keys: str) -> Any:
    """``obj[k1][k2]...``, or None where a level is missing or not an object."""
    value: Any = obj
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = cast('dict[str, Any]', value).get(key)
    return value


def _items(obj: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
    """The objects in the list at ``keys`` (an empty list if there is none)."""
    value = _get(obj, *keys)
    if not isinstance(value, list):
        return []
    return [cast('dict[str, Any]', v) for v in cast('list[Any]', value) if isinstance(v, dict)]


def _mapping(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    value = _get(obj, *keys)
    return cast('dict[str, Any]', value) if isinstance(value, dict) else {}


def _strings(obj: dict[str, Any], *keys: str) -> list[str]:
    value = _get(obj, *keys)
    return [str(v) for v in cast('list[Any]', value)] if isinstance(value, list) else []


def _pod_row(pod: dict[str, Any]) -> list[Any]:
    # printPod: READY is ready containers / containers; STATUS the reason or the phase,
    # "Terminating" once a deletionTimestamp is set.
    containers = _items(pod, 'spec', 'containers')
    statuses = _items(pod, 'status', 'containerStatuses')
    ready = sum(1 for s in statuses if s.get('ready') is True)
    if not statuses and any(
        c.get('type') == 'Ready' and c.get('status') == 'True'
        for c in _items(pod, 'status', 'conditions')
    ):
        # The fake has no kubelet to report containerStatuses; its StatefulSet controller
        # marks a pod Ready by condition only. Then every container counts as ready.
        ready = len(containers)
    restarts = sum(int(s.get('restartCount') or 0) for s in statuses)
    status = _get(pod, 'status', 'reason') or _get(pod, 'status', 'phase') or 'Pending'
    if _get(pod, 'metadata', 'deletionTimestamp'):
        status = 'Terminating'
    return [
        f'{ready}/{len(containers)}',
        status,
        str(restarts),
        _get(pod, 'status', 'podIP') or '<none>',
        _get(pod, 'spec', 'nodeName') or '<none>',
        '<none>',
        '<none>',
    ]


def _template_containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return _items(obj, 'spec', 'template', 'spec', 'containers')


def _statefulset_row(sts: dict[str, Any]) -> list[Any]:
    # printStatefulSet: READY is status.readyReplicas / spec.replicas.
    replicas = _get(sts, 'spec', 'replicas')
    return [
        f'{_get(sts, "status", "readyReplicas") or 0}/{1 if replicas is None else replicas}',
        ','.join(str(c.get('name', '')) for c in _template_containers(sts)),
        ','.join(str(c.get('image', '')) for c in _template_containers(sts)),
    ]


def _service_row(svc: dict[str, Any]) -> list[Any]:
    ports = _items(svc, 'spec', 'ports')
    external = _strings(svc, 'spec', 'externalIPs')
    selector = _mapping(svc, 'spec', 'selector')
    return [
        _get(svc, 'spec', 'type') or 'ClusterIP',
        _get(svc, 'spec', 'clusterIP') or '<none>',
        ','.join(external) or '<none>',
        ','.join(f'{p.get("port")}/{p.get("protocol", "TCP")}' for p in ports) or '<none>',
        ','.join(f'{k}={v}' for k, v in sorted(selector.items())) or '<none>',
    ]


def _configmap_row(cm: dict[str, Any]) -> list[Any]:
    return [str(len(_mapping(cm, 'data')) + len(_mapping(cm, 'binaryData')))]


def _namespace_row(ns: dict[str, Any]) -> list[Any]:
    return [_get(ns, 'status', 'phase') or 'Active']


def _revision_row(rev: dict[str, Any]) -> list[Any]:
    owners = [o for o in _items(rev, 'metadata', 'ownerReferences') if o.get('controller')]
    controller = '<none>'
    if owners:
        # printControllerRevision: "statefulset.apps/web", the group only if there is one.
        group, _, _ = str(owners[0].get('apiVersion', '')).rpartition('/')
        kind = str(owners[0].get('kind', '')).lower()
        controller = f'{kind}{"." + group if group else ""}/{owners[0].get("name")}'
    return [controller, str(_get(rev, 'revision') or 0)]


# kind -> (columns between Name and Age, wide columns after Age, row function). The row
# function returns the middle cells then the wide cells, in that order.
_PRINTERS: dict[str, tuple[list[str], list[str], _Row]] = {
    'Pod': (
        ['Ready', 'Status', 'Restarts'],
        ['IP', 'Node', 'Nominated Node', 'Readiness Gates'],
        _pod_row,
    ),
    'StatefulSet': (['Ready'], ['Containers', 'Images'], _statefulset_row),
    'Service': (
        ['Type', 'Cluster-IP', 'External-IP', 'Port(s)'],
        ['Selector'],
        _service_row,
    ),
    'ConfigMap': (['Data'], [], _configmap_row),
    'Namespace': (['Status'], [], _namespace_row),
    'ControllerRevision': (['Controller', 'Revision'], [], _revision_row),
}


def human_age(seconds: float) -> str:
    """A duration as kubectl's AGE column prints it.

    Follows ``HumanDuration`` (kubernetes/kubernetes staging/src/k8s.io/apimachinery/pkg/
    util/duration/duration.go).
    """
    s = int(seconds)  # truncates towards zero, as Go's int(d.Seconds()) does
    if s < -1:
        return '<invalid>'
    if s < 0:
        return '0s'  # up to a second of clock skew counts as now
    if s < 60 * 2:
        return f'{s}s'
    minutes = s // 60
    if minutes < 10:
        return f'{minutes}m{s % 60}s' if s % 60 else f'{minutes}m'
    if minutes < 60 * 3:
        return f'{minutes}m'
    hours = minutes // 60
    if hours < 8:
        return f'{hours}h{minutes % 60}m' if minutes % 60 else f'{hours}h'
    if hours < 48:
        return f'{hours}h'
    if hours < 24 * 8:
        return f'{hours // 24}d{hours % 24}h' if hours % 24 else f'{hours // 24}d'
    if hours < 24 * 365 * 2:
        return f'{hours // 24}d'
    if hours < 24 * 365 * 8:
        days = hours // 24
        return f'{days // 365}y{days % 365}d' if days % 365 else f'{days // 365}y'
    return f'{hours // 24 // 365}y'


def _age(obj: dict[str, Any], now: datetime.datetime) -> str:
    stamp = _get(obj, 'metadata', 'creationTimestamp')
    if not isinstance(stamp, str):
        return '<unknown>'
    try:
        created = datetime.datetime.fromisoformat(stamp.replace('Z', '+00:00'))
    except ValueError:
        return '<unknown>'
    return human_age((now - created).total_seconds())


def wants_table(request: _http.ApiRequest) -> bool:
    accept = request.headers.get('accept', '')
    return any(
        'as=Table' in part and 'g=meta.k8s.io' in part and 'v=v1' in part
        for part in accept.split(',')
    )


def to_table(obj: dict[str, Any], *, now: datetime.datetime | None = None) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` ``Table`` of one object or of a ``...List``."""
    now = now or datetime.datetime.now(datetime.UTC)
    kind = str(obj.get('kind', ''))
    items = _items(obj, 'items') if kind.endswith('List') else [obj]
    item_kind = kind.removesuffix('List') if kind.endswith('List') else kind
    middle, wide, row = _PRINTERS.get(item_kind, ([], [], lambda _: []))
    columns = [
        _column('Name', fmt='name'),
        *(_column(name) for name in middle),
        _column('Age'),
        *(_column(name, priority=1) for name in wide),
    ]
    rows: list[dict[str, Any]] = []
    for item in items:
        cells = row(item)
        rows.append(
            {
                'cells': [
                    _get(item, 'metadata', 'name'),
                    *cells[: len(middle)],
                    _age(item, now),
                    *cells[len(middle) :],
                ],
                # includeObject=Metadata is the default: kubectl reads labels (--show-labels,
                # -L) and the namespace from this PartialObjectMetadata.
                'object': {
                    'kind': 'PartialObjectMetadata',
                    'apiVersion': 'meta.k8s.io/v1',
                    'metadata': _mapping(item, 'metadata'),
                },
            }
        )
    metadata = _mapping(obj, 'metadata') if kind.endswith('List') else {}
    return {
        'kind': 'Table',
        'apiVersion': 'meta.k8s.io/v1',
        'metadata': {k: v for k, v in metadata.items() if k in ('resourceVersion', 'continue')},
        'columnDefinitions': columns,
        'rows': rows,
    }


def negotiate_table(request: _http.ApiRequest, response: _http.ApiResponse) -> _http.ApiResponse:
    """``response`` as a ``Table`` if the client asked for one and it is a served object."""
    if response.stream is not None:
        return response  # a watch renders its own events
    if response.status != 200 or request.method != 'GET' or not wants_table(request):
        return response
    try:
        obj: Any = json.loads(response.body)
    except ValueError:
        return response
    if not isinstance(obj, dict):
        return response
    obj = cast('dict[str, Any]', obj)
    if str(obj.get('kind', '')).removesuffix('List') not in _PRINTERS:
        return response
    return _http.ApiResponse.json(200, to_table(obj))
