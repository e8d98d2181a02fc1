"""Each comparison consumer in tests/charms fails the requirement it is known to fail.

These are the designs the ADR rejected and the upstream library; each test drives the
scenario that breaks it on jujusim and asserts the checker names the broken requirement,
so a harness change that hid the failure would fail here.
"""

import json
import pathlib

from jujusim.model import Model

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


def take_over_and_release(model: Model, consumer: pathlib.Path) -> list[str]:
    """Someone else owns a key; the provider asks for it, then stops: it must come back."""
    deploy_pair(model, consumer)
    model.write_labels('Service', APP, {'istio.io/dataplane-mode': 'none'}, caller='ops-team')
    publish(model, {'istio.io/dataplane-mode': 'ambient'})
    model.settle()
    assert model.check(APP) == []  # the key is the provider's while it asks for it
    publish(model, {})
    model.settle()
    return model.check(APP)


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
