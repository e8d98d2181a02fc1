"""Which one object a REST path names, routed as the fake API routes requests."""

import pytest

from jujusim.kube import object_of_path


@pytest.mark.parametrize(
    ('path', 'named'),
    [
        ('/api/v1/namespaces/m/pods/web-0', ('Pod', 'm', 'web-0')),
        ('/api/v1/namespaces/m/services/web', ('Service', 'm', 'web')),
        ('/apis/apps/v1/namespaces/m/statefulsets/web', ('StatefulSet', 'm', 'web')),
        ('/api/v1/namespaces/m/configmaps/web-ledger', ('ConfigMap', 'm', 'web-ledger')),
        ('/api/v1/namespaces/m', ('Namespace', '', 'm')),
        # Not one object's own fields: a collection, a subresource, nothing served.
        ('/api/v1/namespaces/m/pods', None),
        ('/api/v1/namespaces/m/pods/web-0/status', None),
        ('/apis/apps/v1/namespaces/m/statefulsets/web/scale', None),
        ('/api/v1/namespaces/m/widgets/w', None),
        ('/healthz', None),
    ],
)
def test_object_of_path(path: str, named: tuple[str, str, str] | None):
    assert object_of_path(path) == named
