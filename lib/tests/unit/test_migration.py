"""Switching from the upstream service_mesh library: its ConfigMap is adopted, then removed.

The upstream library (charmlibs-interfaces-service-mesh 1.0.2 with canonical-service-mesh
0.3.1, ``utils/istio/_labels.py``) keeps ``data.labels`` = JSON object in the ConfigMap
``juju-service-mesh-{app}-labels`` and puts those labels on the pod template and the
Service (docs/design-notes.md, "What the upstream library does").
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import ops
import pytest
from k8s_labels_testenv import LEDGER, LEGACY, NS, Env, Killed, iter_kills, relation, state

UPSTREAM = {'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'w'}


def upstream_env(labels: Mapping[str, str] = UPSTREAM, text: str | None = None) -> Env:
    """An app the upstream library labelled: template, Service and its ConfigMap."""
    env = Env(template_labels=labels, service_labels=labels)
    env.api.create(
        {
            'apiVersion': 'v1',
            'kind': 'ConfigMap',
            'metadata': {'name': LEGACY, 'namespace': NS},
            'data': {'labels': json.dumps(labels) if text is None else text},
        }
    )
    return env


def run(env: Env, desired: Mapping[str, str]) -> object:
    ctx = env.context()
    rel = relation(desired)
    return ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state(rel)).unit_status


def test_switching_cleans_up_the_upstream_labels_and_configmap():
    env = upstream_env()
    desired = {'istio.io/dataplane-mode': 'ambient', 'c.io/z': '3'}
    assert run(env, desired) == ops.ActiveStatus()
    env.check(desired, managed={*UPSTREAM, 'c.io/z'})
    assert env.api.get('ConfigMap', NS, LEGACY) is None
    ledger = env.ledger()
    assert ledger is not None and ledger['legacy'] is None
    # The adopted key is the library's now: released like its own, nothing to give back.
    run(env, {})
    env.check({}, managed={*UPSTREAM, 'c.io/z'})


def test_the_upstream_configmap_is_read_only_while_there_is_no_ledger():
    env = upstream_env()
    run(env, UPSTREAM)
    assert env.api.get('ConfigMap', NS, LEDGER) is not None
    env.api.log.clear()
    run(env, UPSTREAM)
    assert [e.name for e in env.api.log.entries(env.caller) if e.kind == 'ConfigMap'] == [LEDGER]


def test_a_key_changed_since_the_upstream_library_wrote_it_is_not_adopted():
    env = upstream_env()
    env.label('service', 'istio.io/use-waypoint', 'changed-by-someone')
    run(env, {})
    assert env.service()['istio.io/use-waypoint'] == 'changed-by-someone'
    assert 'istio.io/use-waypoint' not in env.template()


def test_a_kill_anywhere_in_the_migration_still_removes_the_upstream_configmap():
    probe = upstream_env()
    run(probe, {})
    total = len(probe.api.log.entries(probe.caller))
    for kill in iter_kills(total):
        env = upstream_env()
        env.kill = kill
        with pytest.raises(Killed):
            run(env, {})
        ctx = env.context(1)
        ctx.run(ctx.on.leader_elected(), state(relation({})))
        env.check({}, managed=set(UPSTREAM))
        assert env.api.get('ConfigMap', NS, LEGACY) is None, kill


def test_a_corrupt_upstream_configmap_blocks_and_names_it():
    env = upstream_env(text='{"a": ')
    objects = env.objects()
    status = run(env, {})
    assert status == ops.BlockedStatus(
        f'ConfigMap {NS}/{LEGACY} is corrupt: data["labels"] is not valid JSON; fix or delete it'
    )
    assert env.objects() == objects
