"""A stale leader against a new leader killed mid-claim: the fencing protocol of k8s_labels.

The stale leader (A) records its batch in the ledger and stalls before one of its calls,
past its lease; the data changes; another unit (B) is elected and is killed before one of
its own calls; its pod restarts and finishes; then A resumes. Whatever call each stopped
at, R1-R4 hold once everything has settled. The third unit is kept out of the election
(stalled) so that B is the new leader.
"""

from __future__ import annotations

import pytest
from model_helpers import BEACON_STUB, MESH_CONSUMER, set_labels

from jujusim.model import Model

APP = 'consumer'
# The stale leader's reconcile: 4 reads, the ledger, the Service, 3 pods, the template
# (call 10), the ledger again. Stalled before call 11, it has changed the template: the
# rollout replaces its pod (SIGKILL at the end of the grace period, as it is stalled) well
# before its lease runs out, and it is leader again in its new pod: a kill, not a stale
# leader (test_model_chaos.py covers kills at every call).
STALE_CALLS = 10
# The labels at the start of every round, and what the new leader's data goes back to:
# then it has nothing to write but its fence, and only the fence can stop the stale
# leader's writes (a new leader that changes labels moves every object's resourceVersion
# anyway; test_model_chaos.py covers that).
BASE = {'x': '1'}
# The stale leader's data, round after round: add, change, remove all, replace.
STALE = [{'x': '1', 'y': '1'}, {'x': '2'}, {}, {'y': '1'}]


def deploy(seed: int) -> Model:
    model = Model(seed=seed)
    model.deploy(MESH_CONSUMER, app=APP, units=3, trust=True)
    model.deploy(BEACON_STUB, app='beacon', units=1)
    model.integrate(APP, 'beacon')
    set_labels(model, BASE)
    model.settle()
    return model


def stale_leader_round(
    model: Model,
    *,
    stale_call: int,
    new_call: int,
    applied: bool,
    stale_labels: dict[str, str],
    new_labels: dict[str, str],
) -> tuple[str, str, bool]:
    """One round; returns (stale leader, new leader, whether the new leader was killed).

    Raises AssertionError (with the trace) if the stale leader never reached its stall.
    """
    stale = model.leader(APP)
    assert stale is not None
    others = sorted(u for u in model.apps[APP].units if u != stale)
    new, bystander = others[0], others[1]
    lease_left = model.apps[APP].lease.expiry - model.clock.now
    # A resumes 30 s after its lease ran out: B has been elected, killed, restarted (10 s)
    # and has settled by then.
    model.stall_at_call(stale, stale_call, lease_left + 30)
    set_labels(model, stale_labels)
    while model.stall_pending(stale) and model.step():
        pass
    assert not model.stall_pending(stale), 'the stale leader never reached its stall:\n' + (
        '\n'.join(model.trace)
    )
    model.stall(bystander, lease_left + 1)  # out of the election: B is the new leader
    model.kill_at_call(new, new_call, applied=applied)
    set_labels(model, new_labels)
    model.settle()
    killed = not model.kill_pending(new)
    if not killed:
        # B made fewer calls than this: disarm the kill for the rounds that follow.
        model.kill_at_call(new, 10_000, applied=applied)
    return stale, new, killed


def test_a_new_leader_killed_between_its_claim_and_its_fence():
    """The sequence that left a stale leader's label on the Service and the pods.

    A (leader) records ``y: 1`` in the ledger, then stalls before its Service patch. The
    provider drops ``y``; B is elected, claims the ledger and is killed before its first
    fence patch. B's pod restarts and B reconciles as the ledger's writer; then A resumes.
    """
    with deploy(seed=1) as model:
        start = len(model.trace)
        stale, new, killed = stale_leader_round(
            model,
            stale_call=6,  # the Service patch, after its ledger write
            new_call=6,  # the first fence patch, after its claim
            applied=False,
            stale_labels={**BASE, 'y': '1'},
            new_labels=BASE,
        )
        trace = '\n'.join(model.trace[start:])
        assert killed, trace
        assert f'{stale} stalls' in trace
        assert f'{new} SIGKILL before' in trace
        assert model.leader(APP) == new
        assert model.check(APP) == [], trace
        for kind, name in [('Service', APP), *(('Pod', f'{APP}-{n}') for n in range(3))]:
            obj = model.kube.get(kind, model.name, name) or {}
            assert obj['metadata']['labels'].get('y') is None, (kind, name, trace)


@pytest.mark.parametrize('stale_call', range(1, STALE_CALLS + 1))
def test_stale_leader_stalled_at_any_call_new_leader_killed_at_any_call(stale_call: int):
    """For A stalled before its call ``stale_call``, B killed before (or after) each call.

    One model per ``stale_call``; each round arms B's kill one call later, applied or
    not, until B's reconcile makes fewer calls than that. Checked after every round.
    """
    with deploy(seed=100 + stale_call) as model:
        for applied in (False, True):
            new_call = 0
            while True:
                new_call += 1
                start = len(model.trace)
                stale, new, killed = stale_leader_round(
                    model,
                    stale_call=stale_call,
                    new_call=new_call,
                    applied=applied,
                    stale_labels=STALE[new_call % len(STALE)],
                    new_labels=BASE,
                )
                trace = '\n'.join(model.trace[start:])
                problems = model.check(APP)
                assert problems == [], (
                    f'{stale} stalled at call {stale_call}, {new} killed at call {new_call} '
                    f'(applied={applied}): {problems}\n{trace}'
                )
                if not killed:
                    break
            # The new leader's reconcile: 4 reads and its claim; if the stale leader's
            # ledger write had landed (its call 5), a fence on each of 5 objects and the
            # closing ledger write too. Every one of those calls was a kill point.
            assert new_call > (10 if stale_call > 5 else 5), new_call
