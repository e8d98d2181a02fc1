"""Leases, the clock and databags: Juju's rules as the model keeps them."""

import pytest

from jujusim.model._clock import VirtualClock
from jujusim.model._leadership import LEASE_DURATION, Lease
from jujusim.model._relations import Databag, Relation


def test_clock_moves_forward_only():
    clock = VirtualClock()
    assert clock.advance(5) == 5
    assert clock.advance_to(3) == 5  # advance_to never goes back
    with pytest.raises(ValueError, match='cannot go back'):
        clock.advance(-1)


def test_first_claim_wins_and_holds_until_expiry():
    lease = Lease()
    assert lease.claim('app/0', now=0)
    assert not lease.claim('app/1', now=1)
    assert lease.held_by('app/0', now=LEASE_DURATION - 0.1)
    assert not lease.held_by('app/0', now=LEASE_DURATION)
    assert lease.claim('app/1', now=LEASE_DURATION)


def test_renewal_only_in_the_last_30_seconds():
    lease = Lease()
    lease.claim('app/0', now=0)
    assert not lease.renew('app/0', now=29)  # 31 s left: too early
    assert lease.next_renewal() == 30
    assert lease.renew('app/0', now=30)
    assert lease.expiry == 90
    assert not lease.renew('app/1', now=60)  # not the holder


def test_stalled_leader_loses_the_lease_to_another_claim():
    lease = Lease()
    lease.claim('app/0', now=0)
    # app/0's agent stalls: nobody renews; after 60 s another unit's claim wins.
    assert lease.claim('app/1', now=60)
    assert not lease.held_by('app/0', now=60)


def test_databag_version_moves_only_on_a_real_change():
    bag = Databag()
    assert bag.commit({'labels': '{}'})
    assert bag.version == 1
    assert not bag.commit({'labels': '{}'})
    assert bag.version == 1
    assert bag.commit({})
    assert bag.version == 2


def test_relation_other_app_and_peer():
    rel = Relation(id=1, endpoints={'a': 'x', 'b': 'y'}, interface='i')
    assert rel.other_app('a') == 'b'
    peer = Relation(id=2, endpoints={'a': 'peers'}, interface='p')
    assert peer.other_app('a') == 'a'
    rel.bag('b').commit({'k': 'v'})
    assert rel.versions(['a', 'b']) == {'a': 0, 'b': 1}


def test_a_live_holder_keeps_the_lease_over_a_clock_jump():
    lease = Lease()
    lease.claim('app/0', now=0)
    lease.kept_by('app/0', now=125)  # renewed at 30, 60, 90, 120 meanwhile
    assert lease.held_by('app/0', now=125)
    assert lease.expiry - 125 > 30
    lease.kept_by('app/1', now=200)  # not the holder: nothing changes
    assert not lease.held_by('app/0', now=lease.expiry)
