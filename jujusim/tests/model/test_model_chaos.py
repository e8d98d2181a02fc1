"""mesh-consumer under the faults the ADR worries about, on the simulated model."""

import itertools

import pytest
from model_helpers import BEACON_STUB, MESH_CONSUMER, set_labels

from jujusim.model import Model

APP = 'consumer'
# Each step changes the labels in a different way: add, change, take away, all gone.
LABEL_CYCLE = [
    {'mesh': 'a'},
    {'mesh': 'a', 'tier': 'web'},
    {'mesh': 'b', 'tier': 'web'},
    {'tier': 'web'},
    {},
]


def deploy(model: Model, *, units: int = 3) -> None:
    model.deploy(MESH_CONSUMER, app=APP, units=units, trust=True)
    model.deploy(BEACON_STUB, app='beacon', units=1)
    model.integrate(APP, 'beacon')
    model.settle()


@pytest.mark.parametrize('applied', [False, True], ids=['before-apply', 'after-apply'])
def test_kill_at_every_api_call_of_a_reconcile(applied: bool):
    """R1-R4 hold whichever API call of the leader's reconcile a SIGKILL lands on.

    Each round changes the labels (add, change, remove in turn) and kills the leader's
    process at its Nth call of the next hook (the relation-changed that reconciles), with
    the request applied or not; the pod is recreated with fresh local state, the leader
    keeps its lease, and everything settles. Rounds go on until N passes the reconcile's
    last call.
    """
    with Model(seed=11) as model:
        deploy(model)
        set_labels(model, LABEL_CYCLE[-1])
        model.settle()
        fired: list[int] = []
        labels = itertools.cycle(LABEL_CYCLE)
        for call in range(1, 40):
            leader = model.leader(APP)
            assert leader is not None
            model.kill_at_call(leader, call, applied=applied)
            set_labels(model, next(labels))
            model.settle()
            assert model.check(APP) == [], f'kill at call {call}:\n' + '\n'.join(model.trace)
            if model.kill_pending(leader):
                break  # the reconcile made fewer calls than this: every call was covered
            fired.append(call)
        assert len(fired) >= 6, fired  # reads, ledger, objects, ledger again


def test_stale_leader_resuming_after_a_new_leader_took_over():
    """A leader stalled mid-reconcile with old data must not leave its labels behind.

    The leader stalls before its Nth API call; the data changes meanwhile; its lease runs
    out, another unit is elected and reconciles the newer data; the stall ends 5 s after
    the lease did, so the stale hook resumes while the new leader's rollout has not yet
    reached its pod (https://juju.is/docs/sdk/leader-elected-event). Repeated for every
    call of the reconcile.
    """
    with Model(seed=5) as model:
        deploy(model)
        resumed = rounds = 0
        labels = itertools.cycle(LABEL_CYCLE)
        for call in range(1, 40):
            old_leader = model.leader(APP)
            assert old_leader is not None
            lease_left = model.apps[APP].lease.expiry - model.clock.now
            model.stall_at_call(old_leader, call, lease_left + 5)
            set_labels(model, next(labels))
            # Let the leader start its reconcile and reach the stall, then change the data.
            while model.stall_pending(old_leader) and model.step():
                pass
            if model.stall_pending(old_leader):
                break  # fewer calls than this: every call was covered
            rounds += 1
            start = len(model.trace)
            set_labels(model, next(labels))
            model.settle()
            assert model.check(APP) == [], f'stall at call {call}:\n' + '\n'.join(model.trace)
            if _stale_hook_resumed(model.trace[start:], old_leader):
                resumed += 1
                assert model.leader(APP) != old_leader
            # Otherwise a rollout replaced the stalled pod first: its new agent renews the
            # lease, which it may still hold.
        # A stale hook whose pod the new leader's rollout replaces first never resumes;
        # most do, and those are the rounds that matter.
        assert rounds >= 6
        assert resumed >= rounds // 2, (resumed, rounds)


def _stale_hook_resumed(trace: list[str], unit: str) -> bool:
    """Whether ``unit``'s stalled hook went on (was not killed by the rollout first)."""
    for line in trace:
        # Killed when its pod was deleted at once, or when a graceful deletion's grace
        # period ran out while it was stalled.
        if f'SIGKILL {unit}' in line or f'grace period over for {unit}:' in line:
            return False
        if f'{unit} relation_changed(' in line and (line.endswith(' done') or 'FAILED' in line):
            return True
    return False


def test_foreign_labels_written_with_kubectl_survive():
    """R4: labels kubectl writes on the served API are left alone, or given back."""
    with Model(seed=3) as model:
        deploy(model, units=2)
        model.write_labels('Service', APP, {'team': 'blue'}, via_kubectl=True)
        model.write_labels('Pod', f'{APP}-1', {'owner': 'ops'}, via_kubectl=True)
        model.write_labels('StatefulSet.template', APP, {'mesh': 'none'}, via_kubectl=True)
        model.settle()
        set_labels(model, {'mesh': 'ambient', 'tier': 'web'})  # takes 'mesh' over
        model.settle()
        assert model.check(APP) == []
        template = model.kube.get('StatefulSet', model.name, APP) or {}
        assert template['spec']['template']['metadata']['labels']['mesh'] == 'ambient'
        set_labels(model, {})  # releases 'mesh': kubectl's value comes back
        model.settle()
        assert model.check(APP) == []
        template = model.kube.get('StatefulSet', model.name, APP) or {}
        assert template['spec']['template']['metadata']['labels']['mesh'] == 'none'
        service = model.kube.get('Service', model.name, APP) or {}
        assert service['metadata']['labels']['team'] == 'blue'


def test_no_ledger_left_after_the_app_is_removed():
    with Model(seed=2) as model:
        deploy(model, units=1)
        set_labels(model, {'mesh': 'a'})
        model.settle()
        assert model.leftover_configmaps(APP)  # the ledger exists while the app does
        model.remove_application(APP)
        assert model.leftover_configmaps(APP) == []
        assert (
            model.kube.objects('Pod', model.name, selector=f'app.kubernetes.io/name={APP}') == []
        )


def test_graceful_pod_deletion_runs_stop_then_the_pod_is_replaced():
    with Model(seed=4) as model:
        deploy(model, units=2)
        set_labels(model, {'mesh': 'a'})
        model.settle()
        before = len(model.trace)
        model.delete_pod(f'{APP}/1', graceful=True)
        model.settle()
        lines = model.trace[before:]
        stop = next(i for i, line in enumerate(lines) if f'{APP}/1 runs stop' in line)
        restart = next(i for i, line in enumerate(lines) if f'pod {APP}-1 started' in line)
        assert stop < restart
        assert model.check(APP) == []


def test_a_stalled_unit_is_killed_when_the_grace_period_ends():
    with Model(seed=4) as model:
        deploy(model, units=2)
        model.stall(f'{APP}/1', 300)
        model.delete_pod(f'{APP}/1', graceful=True)
        model.settle()
        assert any(f'grace period over for {APP}/1: SIGKILL' in line for line in model.trace)
        assert not any(f'{APP}/1 runs stop' in line for line in model.trace)
