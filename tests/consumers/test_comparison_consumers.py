"""Each comparison consumer in tests/charms fails the requirement it is known to fail.

These are the designs the ADR rejected and the upstream library; each test drives the
scenario that breaks it on jujusim and asserts the checker names the broken requirement,
so a harness change that hid the failure would fail here.
"""

import json
import pathlib

import pytest

from jujusim.model import STALE_WRITE, Model

ROOT = pathlib.Path(__file__).parents[2]
CHARMS = ROOT / 'tests' / 'charms'
BEACON_STUB = ROOT / 'charms' / 'beacon-stub'
MESH_CONSUMER = ROOT / 'charms' / 'mesh-consumer'
APP = 'consumer'


def deploy_pair(model: Model, consumer: pathlib.Path, *, units: int = 3) -> int:
    model.deploy(consumer, app=APP, units=units, trust=True)
    model.deploy(BEACON_STUB, app='beacon', units=1)
    relation = model.integrate(APP, 'beacon')
    model.settle()
    return relation


def publish(model: Model, labels: dict[str, str]) -> None:
    model.config('beacon', labels=json.dumps(labels))


def labels_problems(problems: list[str]) -> list[str]:
    """``problems`` but the stale writes (shown apart: every unit writes in some designs)."""
    return [p for p in problems if not p.startswith(f'{STALE_WRITE}: ')]


def take_over_and_release(model: Model, consumer: pathlib.Path) -> list[str]:
    """Someone else owns a key; the provider asks for it, then stops: it must come back."""
    deploy_pair(model, consumer)
    model.write_labels('Service', APP, {'istio.io/dataplane-mode': 'none'}, caller='ops-team')
    publish(model, {'istio.io/dataplane-mode': 'ambient'})
    model.settle()
    # The key is the provider's while it asks for it.
    assert labels_problems(model.check(APP)) == []
    publish(model, {})
    model.settle()
    return labels_problems(model.check(APP))


@pytest.mark.parametrize('design', ['adr-every-unit', 'upstream-service-mesh'])
def test_designs_where_every_unit_writes_overwrite_the_leaders_writes(model: Model, design: str):
    # Each unit's relation-changed writes too: one that lands after the leader's is a stale
    # write, whatever the labels it leaves (the leader-only designs and this library make
    # none here). Three changes: in one, the leader's hook may happen to run last.
    deploy_pair(model, CHARMS / design)
    stale: list[str] = []
    for value in ('a', 'b', 'c'):
        publish(model, {'foo': value})
        model.settle()
        stale += [p for p in model.check(APP) if p.startswith(f'{STALE_WRITE}: ')]
    leader = model.leader(APP)
    assert stale, 'no write of a non-leader was seen'
    assert all(', never leader, ' in p and f'after the leader {leader} ' in p for p in stale)


@pytest.mark.parametrize('design', ['adr-original', 'adr-peer-relation'])
def test_leader_only_designs_make_no_stale_write_without_a_leader_change(
    model: Model, design: str
):
    deploy_pair(model, CHARMS / design)
    for value in ('a', 'b', 'c'):
        publish(model, {'foo': value})
        model.settle()
        assert [p for p in model.check(APP) if p.startswith(f'{STALE_WRITE}: ')] == []


def test_every_unit_design_never_gives_a_foreign_value_back(model: Model):
    # The design never records the value it overwrote, so the owner's 'none' cannot come
    # back: with Juju-backed StoredState the release deletes the key; with StoredState in
    # the pod (jujusim) the roll erased the record first and 'ambient' stays.
    problems = take_over_and_release(model, CHARMS / 'adr-every-unit')
    assert any(
        p.startswith("R4: Service/consumer label 'istio.io/dataplane-mode' is ")
        and p.endswith("expected 'none'")
        for p in problems
    ), problems


def test_every_unit_design_forgets_everything_when_its_pods_restart(model: Model):
    # jujusim keeps StoredState in the pod, as ops does unless use_juju_for_storage is set
    # (jujusim does not model Juju-backed storage): once every pod has restarted (a
    # rollout, a node drain) no unit remembers {"foo": "bar"}, and the reset to {}
    # removes nothing. This is the ADR's own reason for requiring Juju-backed storage;
    # with it this case would hold, the R4 case above would not.
    deploy_pair(model, CHARMS / 'adr-every-unit')
    publish(model, {'foo': 'bar'})
    model.settle()
    assert model.check(APP) == []
    for unit in [u.name for u in model.units() if u.app == APP]:
        model.delete_pod(unit)
    model.settle()
    assert model.check(APP) == []
    publish(model, {})
    model.settle()
    problems = model.check(APP)
    assert "R1-R3: Service/consumer label 'foo' is 'bar', expected absent" in problems


def test_peer_relation_design_loses_its_record_when_killed_after_a_patch(model: Model):
    # Juju commits the hook's peer data only if the hook succeeds: killed after its first
    # patch (applied, response lost), the leader's record still says {}; the data is reset
    # before it runs again, so the restarted leader sees {} == {} and leaves foo behind.
    deploy_pair(model, CHARMS / 'adr-peer-relation')
    leader = model.leader(APP)
    assert leader is not None
    model.kill_at_call(leader, 1, applied=True)
    publish(model, {'foo': 'bar'})
    while model.kill_pending(leader):
        assert model.step(), 'the kill never fired'
    publish(model, {})
    model.settle()
    assert "R1-R3: Service/consumer label 'foo' is 'bar', expected absent" in model.check(APP)


def test_peer_relation_design_deletes_a_foreign_value_it_took_over(model: Model):
    problems = take_over_and_release(model, CHARMS / 'adr-peer-relation')
    assert problems == [
        "R4: Service/consumer label 'istio.io/dataplane-mode' is absent, expected 'none'"
    ]


def test_upstream_library_deletes_a_foreign_value_it_took_over(model: Model):
    # RESEARCH F5: the ConfigMap records keys, not the values they replaced.
    problems = take_over_and_release(model, CHARMS / 'upstream-service-mesh')
    assert problems == [
        "R4: Service/consumer label 'istio.io/dataplane-mode' is absent, expected 'none'"
    ]


def test_upstream_library_orphans_a_label_patched_before_it_was_recorded(model: Model):
    # RESEARCH F1: the ConfigMap is written after the StatefulSet and the Service, so a
    # hook killed between them leaves a label no record names; with the data reset by
    # then, nothing ever removes it.
    deploy_pair(model, CHARMS / 'upstream-service-mesh', units=1)
    [unit] = [u.name for u in model.units() if u.app == APP]
    model.kill_at_call(unit, 2, applied=True)  # GET ConfigMap, PATCH StatefulSet: killed
    publish(model, {'foo': 'bar'})
    while model.kill_pending(unit):
        assert model.step(), 'the kill never fired'
    publish(model, {})
    model.settle()
    assert (
        "R1-R3: StatefulSet/consumer template label 'foo' is 'bar', expected absent"
        in model.check(APP)
    )


def test_mesh_consumer_holds_the_same_scenarios(model: Model):
    # The same scenarios cannot fail for any consumer: the library under test holds them.
    assert take_over_and_release(model, MESH_CONSUMER) == []
