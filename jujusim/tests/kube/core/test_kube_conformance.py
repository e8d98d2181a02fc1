"""Conformance checks, and proof that they catch deliberately broken variants of the store."""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kube_core_helpers import ADMIN_TOKEN, statefulset_resource
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import ConfigMap

from jujusim import kube
from jujusim.kube import _controller, _store


def check_noop_write_keeps_resource_version(api: kube.FakeKube) -> None:
    with kube.lightkube_client(api, token=ADMIN_TOKEN) as c:
        made = c.create(ConfigMap(metadata=ObjectMeta(name='noop', labels={'a': '1'})))
        again = c.patch(ConfigMap, 'noop', {'metadata': {'labels': {'a': '1'}}})
        assert made.metadata is not None and again.metadata is not None
        assert again.metadata.resourceVersion == made.metadata.resourceVersion, 'no-op bumped rv'


def check_stale_write_conflicts(api: kube.FakeKube) -> None:
    with kube.lightkube_client(api, token=ADMIN_TOKEN) as c:
        old = c.create(ConfigMap(metadata=ObjectMeta(name='stale')))
        c.patch(ConfigMap, 'stale', {'data': {'a': 'b'}})
        try:
            c.replace(old)
        except ApiError as e:
            assert e.status.code == 409, e.status
        else:
            raise AssertionError('a stale PUT was accepted')


def check_generation_tracks_spec_only(api: kube.FakeKube) -> None:
    with kube.lightkube_client(api, token=ADMIN_TOKEN) as c:
        c.create(statefulset_resource('gen'))
        meta = c.patch(StatefulSet, 'gen', {'metadata': {'labels': {'x': 'y'}}}).metadata
        assert meta is not None and meta.generation == 1, 'metadata change bumped generation'
        meta = c.patch(StatefulSet, 'gen', {'spec': {'replicas': 2}}).metadata
        assert meta is not None and meta.generation == 2, 'spec change did not bump generation'


CHECKS: list[Callable[[kube.FakeKube], None]] = [
    check_noop_write_keeps_resource_version,
    check_stale_write_conflicts,
    check_generation_tracks_spec_only,
]


class AlwaysWrites(_store.Store):
    """Broken: every write bumps resourceVersion, even when nothing changed."""

    def is_noop(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        return False


class IgnoresResourceVersion(_store.Store):
    """Broken: last writer wins; the body's resourceVersion is dropped."""

    def update(self, resource: Any, namespace: str, name: str, body: Any, **kw: Any) -> Any:
        body = {**body, 'metadata': {**body.get('metadata', {}), 'resourceVersion': None}}
        return super().update(resource, namespace, name, body, **kw)


class BumpsGenerationOnEveryWrite(_store.Store):
    """Broken: generation follows every change, not spec changes only."""

    def update(self, resource: Any, namespace: str, name: str, body: Any, **kw: Any) -> Any:
        before = self.resource_version
        old_generation = self.get(resource, namespace, name)['metadata'].get('generation')
        new = super().update(resource, namespace, name, body, **kw)
        if old_generation is not None and self.resource_version != before:
            new['metadata']['generation'] = old_generation + 1
        return new


def _fake(store_class: type[_store.Store]) -> kube.FakeKube:
    api = kube.FakeKube(namespaces=())
    api.store = store_class()
    api.controller = _controller.StatefulSetController(api.store, api.log)
    api.ensure_namespace('default')
    api.register_caller(ADMIN_TOKEN, kube.AdminPolicy())
    return api


@pytest.mark.parametrize('check', CHECKS, ids=lambda c: c.__name__)
def test_the_fake_passes(check: Callable[[kube.FakeKube], None]) -> None:
    check(_fake(_store.Store))


@pytest.mark.parametrize(
    ('broken', 'check'),
    [
        (AlwaysWrites, check_noop_write_keeps_resource_version),
        (IgnoresResourceVersion, check_stale_write_conflicts),
        (BumpsGenerationOnEveryWrite, check_generation_tracks_spec_only),
    ],
    ids=lambda x: getattr(x, '__name__', ''),
)
def test_broken_variants_are_caught(
    broken: type[_store.Store], check: Callable[[kube.FakeKube], None]
) -> None:
    with pytest.raises(AssertionError):
        check(_fake(broken))
