"""Discovery documents, generated from RESOURCES, so that kubectl can find its way."""

from __future__ import annotations

import functools
import http
from typing import Any

from . import _errors, _http, _resources

# The version kubectl's gcloud dispatcher and version-skew check see; kubectl v1.32 is
# what this machine has, so claim the same minor.
SERVER_VERSION: dict[str, str] = {
    'major': '1',
    'minor': '32',
    'gitVersion': 'v1.32.4+jujusim',
    'gitCommit': '0000000000000000000000000000000000000000',
    'gitTreeState': 'clean',
    'buildDate': '2025-01-01T00:00:00Z',
    'goVersion': 'go1.23.6',
    'compiler': 'gc',
    'platform': 'linux/amd64',
}

# Kinds in the "all" category (``kubectl get all``): pod, service and statefulset storage
# declare it (kubernetes/kubernetes pkg/registry/core/pod/storage/storage.go,
# pkg/registry/core/service/storage/storage.go, pkg/registry/apps/statefulset/storage/
# storage.go: ``Categories() []string { return []string{"all"} }``).
_ALL_CATEGORY = frozenset({'Pod', 'Service', 'StatefulSet'})


def discovery_response(request: _http.ApiRequest) -> _http.ApiResponse | None:
    """The discovery document at ``request.path``, or None if it is not a discovery path.

    Discovery is open to every caller, as the real server's ``system:discovery`` and
    ``system:public-info-viewer`` roles make it
    (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#discovery-roles).
    """
    path = request.path.rstrip('/') or '/'
    document: dict[str, Any] | None = _documents().get(path)  # built once: RESOURCES is fixed
    if document is None:
        return None
    if request.method != 'GET':
        return _errors.method_not_allowed(None, request.method).response()
    # Aggregated discovery (Accept: application/json;g=apidiscovery.k8s.io;v=v2) is not
    # served: a plain application/json answer makes client-go fall back to the legacy
    # documents (kubernetes/kubernetes staging/src/k8s.io/client-go/discovery/
    # discovery_client.go, ``downloadLegacy`` after a non-aggregated content type).
    return _http.ApiResponse.json(http.HTTPStatus.OK, document)


def _group_versions() -> dict[tuple[str, str], list[_resources.ResourceType]]:
    by_group_version: dict[tuple[str, str], list[_resources.ResourceType]] = {}
    for resource in _resources.RESOURCES:
        by_group_version.setdefault((resource.group, resource.version), []).append(resource)
    return by_group_version


def _resource_list(group_version: str, kinds: list[_resources.ResourceType]) -> dict[str, Any]:
    # APIResourceList: kubernetes/kubernetes staging/src/k8s.io/apimachinery/pkg/apis/
    # meta/v1/types.go (APIResource).
    resources: list[dict[str, Any]] = []
    for kind in kinds:
        entry: dict[str, Any] = {
            'name': kind.plural,
            'singularName': kind.kind.lower(),
            'namespaced': kind.namespaced,
            'kind': kind.kind,
            'verbs': list(kind.verbs),
        }
        if kind.short_names:
            entry['shortNames'] = list(kind.short_names)
        if kind.kind in _ALL_CATEGORY:
            entry['categories'] = ['all']
        resources.append(entry)
    return {
        'kind': 'APIResourceList',
        'apiVersion': 'v1',
        'groupVersion': group_version,
        'resources': resources,
    }


@functools.cache
def _documents() -> dict[str, dict[str, Any]]:
    documents: dict[str, dict[str, Any]] = {'/version': SERVER_VERSION}
    core_versions: list[str] = []
    groups: list[dict[str, Any]] = []
    for (group, version), kinds in _group_versions().items():
        if group:
            group_version = f'{group}/{version}'
            documents[f'/apis/{group_version}'] = _resource_list(group_version, kinds)
            entry = {'groupVersion': group_version, 'version': version}
            groups.append({'name': group, 'versions': [entry], 'preferredVersion': entry})
        else:
            core_versions.append(version)
            documents[f'/api/{version}'] = _resource_list(version, kinds)
    # APIVersions and APIGroupList: same types.go as above.
    documents['/api'] = {
        'kind': 'APIVersions',
        'versions': core_versions,
        'serverAddressByClientCIDRs': [],
    }
    documents['/apis'] = {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': groups}
    root: dict[str, Any] = {}
    for (group, version), kinds in _group_versions().items():
        key = f'apis/{group}/{version}' if group else f'api/{version}'
        root[key] = {'serverRelativeURL': f'/openapi/v3/{key}'}
        documents[f'/openapi/v3/{key}'] = _openapi_v3(group, version, kinds)
    documents['/openapi/v3'] = {'paths': root}
    return documents


def _openapi_v3(group: str, version: str, kinds: list[_resources.ResourceType]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    prefix = f'/apis/{group}/{version}' if group else f'/api/{version}'
    for kind in kinds:
        scope = '/namespaces/{namespace}' if kind.namespaced else ''
        paths[f'{prefix}{scope}/{kind.plural}/{{name}}'] = {
            'patch': {
                'x-kubernetes-group-version-kind': {
                    'group': group,
                    'version': version,
                    'kind': kind.kind,
                },
                'parameters': [
                    {'name': 'fieldValidation', 'in': 'query', 'schema': {'type': 'string'}}
                ],
                'responses': {'200': {'description': 'OK'}},
            }
        }
    return {
        'openapi': '3.0.0',
        'info': {'title': 'Kubernetes', 'version': SERVER_VERSION['gitVersion']},
        'paths': paths,
        'components': {'schemas': {}},
    }
