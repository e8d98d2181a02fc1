"""Fidelity: each modelled Juju behaviour, seen from inside real charm code.

The ``recorder`` test charm appends what it sees in every event (kind, dispatch, is-leader,
StoredState, relation data, API answers) to a JSON-lines file, failed hooks included, so
these tests assert on what a charm would see under Juju, not on the model's bookkeeping.
Each test's docstring names the source of the behaviour (docs/design-notes.md, "Juju").
"""

import dataclasses
import itertools
import json
import pathlib
import re
import time
from collections.abc import Mapping
from typing import Any

import pytest
from model_helpers import RECORDER

from jujusim.model import Model
from jujusim.model._pods import POD_STARTUP

Record = dict[str, Any]
COUNTER = pathlib.Path(__file__).parents[1] / 'charms' / 'counter'
_TRACE = re.compile(r'^\s*(?P<time>\d+\.\d)  (?P<text>.*)$')


@dataclasses.dataclass
class Log:
    """The recorder's JSON-lines file."""

    path: pathlib.Path

    def records(self, unit: str | None = None) -> list[Record]:
        """Every record, in the order written, optionally of one unit only."""
        if not self.path.exists():
            return []
        out = [json.loads(line) for line in self.path.read_text().splitlines()]
        return [r for r in out if unit is None or r['unit'] == unit]

    def hooks(self, unit: str, *, life: str | None = None) -> list[Record]:
        """The records of the hooks Juju dispatched (not re-emitted deferred events)."""
        return [
            r for r in self.records(unit) if _dispatched(r) and (life is None or r['life'] == life)
        ]

    def kinds(self, unit: str, *, life: str | None = None) -> list[str]:
        """The kinds of the hooks dispatched to ``unit``, in order."""
        return [r['kind'] for r in self.hooks(unit, life=life)]

    def lives(self, unit: str) -> list[str]:
        """The lives of the unit's local state (one per pod), in order of first record."""
        return list(dict.fromkeys(r['life'] for r in self.records(unit)))


def _dispatched(record: Record) -> bool:
    # A deferred event re-emitted by ops runs under another hook's dispatch path.
    return str(record['dispatch']).replace('-', '_').endswith(record['kind'])


def trace_lines(model: Model) -> list[tuple[float, str]]:
    """The model's trace as (virtual time, text)."""
    out: list[tuple[float, str]] = []
    for line in model.trace:
        match = _TRACE.match(line)
        assert match is not None, line
        out.append((float(match['time']), match['text']))
    return out


def hook_overlaps(lines: list[tuple[float, str]]) -> tuple[list[str], int]:
    """Units that started a hook while one was running, and the most units running at once.

    A hook starts at ``U runs ...`` and ends at ``U <hook> done``, ``FAILED``, or the
    unit's process being killed.
    """
    running: set[str] = set()
    overlapping: list[str] = []
    most = 0
    for _, text in lines:
        unit, _, rest = text.partition(' ')
        if rest.startswith('runs '):
            if unit in running:
                overlapping.append(unit)
            running.add(unit)
            most = max(most, len(running))
        elif re.search(r' (done|FAILED)\b', rest) or 'SIGKILL' in text:
            victim = text.rsplit(' ', 1)[1] if text.startswith('pod ') else unit
            running.discard(victim)
    return overlapping, most


def runs(model: Model, unit: str, kind: str) -> list[float]:
    """The virtual times at which ``unit`` started a ``kind`` hook."""
    prefix = f'{unit} runs {kind}('
    return [t for t, text in trace_lines(model) if text.startswith(prefix)]


def deploy_recorder(
    model: Model,
    log: Log,
    *,
    app: str = 'rec',
    units: int = 3,
    trust: bool = False,
    config: Mapping[str, str] | None = None,
) -> None:
    """Deploy the recorder charm logging to ``log``, with extra config."""
    full = {'log': str(log.path), **(config or {})}
    model.deploy(RECORDER, app=app, units=units, config=full, trust=trust)


def drain(model: Model) -> None:
    """Make every decision possible now, without moving the clock."""
    while model.step():
        pass


# -- ordering ----------------------------------------------------------------------------


def test_hook_overlap_check_catches_two_hooks_on_one_unit():
    # The per-unit check below is not vacuous: an overlapping trace is caught.
    lines = [(0.0, 'a/0 runs install()'), (0.0, 'a/0 runs start()'), (0.0, 'a/0 start() done')]
    assert hook_overlaps(lines)[0] == ['a/0']
    fine = [(0.0, 'a/0 runs install()'), (0.0, 'a/0 install() done')]
    assert hook_overlaps(fine) == ([], 1)


def test_deploy_order_and_one_hook_at_a_time(tmp_path: pathlib.Path):
    """Deploy: install, relation-created, leader-elected (leader) or leader-settings-changed
    (non-leaders), pebble-ready, config-changed, start; one hook at a time per unit, no
    order across units.

    Sources: juju ``internal/worker/uniter/resolver.go`` (``NextOp``: once idle after
    install, relation-created, leadership and the optional resolvers (pebble-ready) come
    before ``nextOp``'s config-changed; one operation at a time per uniter),
    ``internal/worker/uniter/container/workload.go`` (pebble-ready whenever idle),
    ``operation/runhook.go`` (config-changed queues start);
    https://documentation.ubuntu.com/juju/latest/reference/hook (no cross-unit order).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=3) as model:
        # Hooks interleave at API calls: probing on config-changed and start makes some.
        deploy_recorder(model, log, config={'probe-on': 'config_changed,start'})
        model.settle()
        leader = model.leader('rec')
        assert leader is not None
        for unit in ('rec/0', 'rec/1', 'rec/2'):
            head = log.kinds(unit)[:6]
            if unit == leader:
                assert head == [
                    'install',
                    'relation_created',
                    'leader_elected',
                    'pebble_ready',
                    'config_changed',
                    'start',
                ]
            else:
                assert head == [
                    'install',
                    'relation_created',
                    'leader_settings_changed',
                    'pebble_ready',
                    'config_changed',
                    'start',
                ]
            assert 'leader_elected' not in log.kinds(unit)[6:]
        overlapping, most = hook_overlaps(trace_lines(model))
        assert overlapping == []
        assert most > 1  # units did run hooks at the same time


# -- pod restarts ------------------------------------------------------------------------


def test_a_new_pods_agent_may_run_in_an_idle_process_but_never_with_its_local_state():
    # A pod deleted while its agent was idle: the process may serve the next pod
    # (AgentPool.set_aside), its StoredState gone all the same. One deleted mid-hook: the
    # process dies with it.
    with Model(seed=0) as model:
        model.deploy(COUNTER, units=1)
        model.settle()
        before = model.pool.process('counter/0')
        assert before is not None and 'install' in recalled(model)
        model.delete_pod('counter/0', graceful=False)
        model.settle()
        after = model.pool.process('counter/0')
        assert after is not None and after.pid == before.pid
        assert recalled(model).split(',')[0] == 'upgrade_charm'

        model.config('counter', **{'fail-on': 'nothing'})
        model.run_until('hook-start', unit='counter/0')
        model.delete_pod('counter/0', graceful=False)
        model.settle()
        again = model.pool.process('counter/0')
        assert again is not None and again.pid != before.pid


def recalled(model: Model) -> str:
    """The hooks counter/0 counted in its StoredState, comma-separated."""
    model.run_action('counter/0', 'count')
    model.settle()
    results = model.actions[-1].results
    assert results is not None
    return str(results['kinds'])


def test_pod_restart_sequence_loses_local_state_keeps_juju_state(tmp_path: pathlib.Path):
    """A recreated pod runs upgrade-charm, config-changed, start, leader-settings-changed
    (non-leader only), pebble-ready; no install, no leader-elected, no relation hooks.
    StoredState and deferred events are lost; relation data and the leader's lease are kept.

    Sources: juju ``internal/worker/uniter/operation/runhook.go`` (``Commit``:
    upgrade-charm queues config-changed, which queues start; queued hooks run before the
    leadership and pebble-ready resolvers, which need the uniter idle); juju/juju
    ``caas/kubernetes/provider/application/application.go``
    (``charm-data`` is an emptyDir); https://documentation.ubuntu.com/ops/latest/howto/
    manage-stored-state.html and ``ops/storage.py`` (StoredState and deferred events live in
    the unit's state file); docs/design-notes.md, "Pod restarts" (leader back within its lease).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=4) as model:
        deploy_recorder(
            model, log, app='writer', units=2, config={'value': 'w', 'defer-on': 'start'}
        )
        model.settle()
        leader = model.leader('writer')
        assert leader is not None
        follower = next(u for u in ('writer/0', 'writer/1') if u != leader)
        for unit in (leader, follower):
            # Before the restart the deferred start is re-emitted ahead of later hooks.
            assert any(r['kind'] == 'start' and not _dispatched(r) for r in log.records(unit))

        mark = len(model.trace)
        for unit in (follower, leader):
            model.delete_pod(unit, graceful=False)
            model.settle()

        assert model.leader('writer') == leader  # back within its lease: still leader
        for unit in (leader, follower):
            old, new = log.lives(unit)
            assert new != old
            expected = ['upgrade_charm', 'config_changed', 'start', 'pebble_ready']
            if unit == follower:
                expected.insert(3, 'leader_settings_changed')
            assert log.kinds(unit, life=new) == expected
            first = log.records(unit)[[r['life'] for r in log.records(unit)].index(new)]
            # The first thing the new pod ran is upgrade-charm itself: no deferred start
            # carried over, and an empty StoredState.
            assert (first['kind'], first['dispatch'], first['stored']) == (
                'upgrade_charm',
                'upgrade-charm',
                [],
            )
            assert first['leader'] is (unit == leader)
            # Juju-side: the unit's own relation data written before the restart is there.
            [bags] = first['seen'].values()  # the peer relation
            assert bags[unit] == {'value': 'w'}
        # Relation data did not change: the restarts ran no relation hook anywhere.
        assert not any(' runs relation_' in line for line in model.trace[mark:])


# -- leadership --------------------------------------------------------------------------


def test_lease_lasts_60_s_and_is_renewed_with_30_s_left(tmp_path: pathlib.Path):
    """The lease is 60 s, renewed when 30 s are left; a live leader keeps it indefinitely.

    Sources: juju/juju ``worker/leadership/tracker.go`` (2 x 30 s ``LeadershipGuarantee``,
    renewal at half-time); https://juju.is/docs/juju/leader.
    """
    log = Log(tmp_path / 'log')
    with Model(seed=5) as model:
        deploy_recorder(model, log, units=2)
        model.settle()
        leader = model.leader('rec')
        lease = model.apps['rec'].lease
        claimed = lease.expiry - 60  # the first pod's agent claimed it (pods take time)
        assert claimed <= model.clock.now < claimed + 30
        model.advance(claimed + 29 - model.clock.now)
        assert lease.expiry == pytest.approx(claimed + 60)  # over 30 s left: not renewed
        model.advance(2)
        assert lease.expiry == pytest.approx(claimed + 90)  # renewed with 30 s left
        model.advance(1000)
        assert model.leader('rec') == leader
        assert all('leader_elected' not in log.kinds(u)[6:] for u in ('rec/0', 'rec/1'))


def test_stalled_leader_loses_the_lease_and_its_hook_sees_it(tmp_path: pathlib.Path):
    """A leader stalled past its lease loses it; another unit gets leader-elected; the
    stalled hook's next is-leader (ops re-asks after 30 s) answers False.

    Sources: https://juju.is/docs/sdk/leader-elected-event (stale leader);
    ``worker/leadership/tracker.go`` (60 s lease); ``ops/model.py``
    ``_ModelBackend.is_leader`` (cached 30 s, then re-asked).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=6) as model:
        # Its config-changed probes the API: stall it at its first call, mid-hook.
        old, stale = _leader_stalled_mid_probe(model, log, call=1)
        new = model.leader('rec')
        assert new not in (None, old)
        assert 'leader_elected' in log.kinds(new)
        assert (stale['leader'], stale['leader_after']) == (True, False)
        # The deposed leader is told: leader-settings-changed (3.x; docs/design-notes.md,
        # "Leadership").
        assert log.kinds(old)[-1] == 'leader_settings_changed'


def test_an_is_leader_answer_sent_ahead_holds_only_until_the_next_request(
    tmp_path: pathlib.Path,
):
    """The answer the scheduler sends ahead of a response is not used past the unit's next
    request: a leader stalled 120 s at its second call, after its first was answered
    (its lease gone meanwhile), asks Juju again and hears False.

    Sources: ``ops/model.py`` ``_ModelBackend.is_leader`` (cached 30 s, then re-asked);
    juju/juju ``internal/worker/uniter/runner/context/leader.go`` (``ensureLeader``).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=6) as model:
        # Its probe GETs its pod, then the StatefulSet: the stall is at the second GET.
        _, stale = _leader_stalled_mid_probe(model, log, call=2)
        assert (stale['leader'], stale['leader_after']) == (True, False)


def _leader_stalled_mid_probe(model: Model, log: Log, *, call: int) -> tuple[str, Record]:
    """Stall the recorder's leader 120 s at API call ``call`` of its probing config-changed.

    Returns the old leader and its probe's record, once the model has settled and that
    hook has asked Juju again (past ops' 30 s cache) whether it still leads.
    """
    deploy_recorder(model, log, units=2)
    model.settle()
    old = model.leader('rec')
    assert old is not None
    model.stall_at_call(old, call, 120)
    model.config('rec', **{'probe-on': 'config_changed'})
    model.settle()
    assert any(f'{old} is-leader asks Juju again -> False' in line for line in model.trace)
    [stale] = [r for r in log.records(old) if r['kind'] == 'config_changed' and 'probe' in r]
    return old, stale


def test_is_leader_within_ops_cache_crosses_no_process(tmp_path: pathlib.Path):
    """Within ops' 30 s cache a hook's is-leader answers need no question to the model: the
    hook starts with its answer, and each API response is preceded by the answer that holds
    after it. The charm still sees Juju's answers (the leader True after its probe, the
    other unit False).

    Source: ``ops/model.py`` ``_ModelBackend.is_leader`` (cached 30 s).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=6) as model:
        deploy_recorder(model, log, units=2)
        model.settle()
        leader = model.leader('rec')
        asked = model.pool.is_leader_questions
        model.config('rec', **{'probe-on': 'config_changed'})
        model.settle()
        assert model.pool.is_leader_questions == asked
        probed = {
            r['unit']: (r['leader'], r['leader_after'])
            for r in log.records()
            if r['kind'] == 'config_changed' and 'probe' in r
        }
        assert probed == {u: (u == leader, u == leader) for u in ('rec/0', 'rec/1')}


def test_is_leader_asked_before_the_scheduler_moves_on_answers_from_the_lease(
    tmp_path: pathlib.Path,
):
    """A hook that asks is-leader at once is answered from the lease, however late the
    scheduler's thread gets back to its bookkeeping after sending the hook.

    Source: juju/juju ``worker/uniter/runner/context/leader.go`` (is-leader asks the
    lease); the model answers whenever its pool next reads, maybe before the scheduler's
    thread is back from sending the hook.
    """
    log = Log(tmp_path / 'log')
    with Model(seed=3) as model:
        deploy_recorder(model, log, units=1)
        model.settle()
        start_hook = model.pool.start_hook

        def descheduled_after_send(*args: Any, **kwargs: Any) -> int:
            hook_id = start_hook(*args, **kwargs)
            time.sleep(0.5)  # as if the OS took the scheduler's CPU right after the send
            return hook_id

        model.pool.start_hook = descheduled_after_send
        model.config('rec', value='v2')
        model.settle()
        [record] = [r for r in log.records('rec/0') if r['kind'] == 'config_changed'][-1:]
        assert record['leader'] is True


def test_leader_elected_waits_until_the_unit_is_out_of_error(tmp_path: pathlib.Path):
    """A unit in error may win the lease but runs leader-elected only once it recovers.

    Source: juju/juju ``worker/uniter/leadership/resolver.go`` (leadership is accepted
    only when the uniter is not in a hook error); docs/design-notes.md, "Leadership".
    """
    log = Log(tmp_path / 'log')
    with Model(seed=7) as model:
        deploy_recorder(model, log, units=2, config={'fail-on': 'leader_settings_changed'})
        model.settle()
        old = model.leader('rec')
        other = next(u for u in ('rec/0', 'rec/1') if u != old)
        unit = model.apps['rec'].units[other]
        assert unit.in_error
        model.stall(old or '', 300)
        model.advance(100)
        assert model.leader('rec') == other
        assert unit.in_error
        assert 'leader_elected' not in log.kinds(other)
        model.config('rec', **{'fail-on': ''})
        model.advance(400)
        assert not unit.in_error
        assert runs(model, other, 'leader_elected')
        last_failure = max(
            t
            for t, text in trace_lines(model)
            if text.startswith(f'{other} ') and 'FAILED' in text
        )
        assert min(runs(model, other, 'leader_elected')) > last_failure


# -- relation data -----------------------------------------------------------------------


def test_relation_changes_coalesce_reads_are_live_and_removal_departs_then_breaks(
    tmp_path: pathlib.Path,
):
    """Two commits of one databag reach a stalled unit as ONE relation-changed; a hook that
    starts after a commit reads it even before its relation-changed; removing the relation
    runs departed per remote unit, then broken once.

    Sources: juju/juju ``worker/uniter/remotestate/snapshot.go`` and
    ``worker/uniter/relation/state.go`` (per-databag versions);
    https://discourse.charmhub.io/t/event-relation-name-relation-changed/6475;
    https://discourse.charmhub.io/t/6474 (departed, then broken).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=8) as model:
        deploy_recorder(model, log, app='writer', units=2, config={'value': 'v0'})
        deploy_recorder(model, log, app='reader', units=1)
        relation = model.integrate('writer:source', 'reader:feed')
        model.settle()
        before = len(log.records('reader/0'))

        model.stall('reader/0', 10)
        model.config('writer', value='v1')
        drain(model)
        model.config('writer', value='v2')
        drain(model)
        assert model.relations[relation].bag('writer/0').version >= 3  # '', v0, v1, v2
        model.config('reader', value='x')
        model.settle()

        after = log.records('reader/0')[before:]
        assert [r['kind'] for r in after] == [
            'config_changed',
            'relation_changed',
            'relation_changed',
        ]
        # config-changed started after the commits: it reads v2 already (live reads).
        assert after[0]['seen'][str(relation)]['writer/0'] == {'value': 'v2'}
        # One relation-changed per writer unit, each seeing v2; v1 was never seen.
        assert sorted(r['remote_unit'] for r in after[1:]) == ['writer/0', 'writer/1']
        assert all(r['seen'][str(relation)]['writer/0'] == {'value': 'v2'} for r in after[1:])
        assert not any('v1' in json.dumps(r['seen']) for r in log.records('reader/0'))

        model.remove_relation(relation)
        model.settle()
        tail = [r for r in log.hooks('reader/0') if r.get('relation') == relation][-3:]
        assert [(r['kind'], r.get('departing')) for r in tail] == [
            ('relation_departed', 'writer/0'),
            ('relation_departed', 'writer/1'),
            ('relation_broken', None),
        ]
        for unit in ('writer/0', 'writer/1'):
            tail = [r for r in log.hooks(unit) if r.get('relation') == relation][-2:]
            assert [r['kind'] for r in tail] == ['relation_departed', 'relation_broken']
        assert relation not in model.relations


def test_failed_hook_writes_vanish_retries_back_off_and_recover(tmp_path: pathlib.Path):
    """A failing hook puts the unit in error and its relation writes are discarded; it is
    retried after 5 s, then each backoff doubles (+/-3 %), and succeeds once the cause goes.

    Sources: juju/juju ``apiserver/hookretrystrategy`` (5 s doubling, 5 min cap),
    ``internal/worker/uniter/timer.go`` (``backoffTimer``: +/-3 % jitter);
    ``automatically-retry-hooks`` (https://documentation.ubuntu.com/juju/3.6/reference/
    configuration/list-of-model-configuration-keys); ``worker/uniter/runner/context/
    context.go`` (relation data committed only on success).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=9) as model:
        deploy_recorder(model, log, units=2, config={'value': 'good'})
        model.settle()
        [peers] = [r.id for r in model.relations.values() if r.interface == 'recorder-peers']
        start = model.clock.now

        model.config('rec', value='bad', **{'fail-on': 'config_changed'})
        model.advance(100)
        for unit in ('rec/0', 'rec/1'):
            assert model.apps['rec'].units[unit].in_error
            failed = [
                t for t, text in trace_lines(model) if f'{unit} config_changed() FAILED' in text
            ]
            gaps = [b - a for a, b in itertools.pairwise(failed)]
            assert failed[0] == start
            assert gaps[0] == 5
            assert len(gaps) >= 4
            # Each backoff doubles the last, +/-3 % (to the trace's 0.1 s).
            assert all(
                1.94 * a - 0.1 <= b <= 2.06 * a + 0.1 for a, b in itertools.pairwise(gaps)
            ), gaps
            # Each attempt wrote 'bad', then raised: none of it reached Juju.
            assert len([r for r in log.records(unit) if r['kind'] == 'config_changed']) >= 6
            assert model.relations[peers].bag(unit).data == {'value': 'good'}
        assert 'bad' not in json.dumps([r['seen'] for r in log.records()])

        model.config('rec', value='fixed', **{'fail-on': ''})
        model.advance(200)
        for unit, other in (('rec/0', 'rec/1'), ('rec/1', 'rec/0')):
            assert not model.apps['rec'].units[unit].in_error
            assert model.relations[peers].bag(unit).data == {'value': 'fixed'}
            assert log.records(unit)[-1]['seen'][str(peers)][other] == {'value': 'fixed'}


# -- timers ------------------------------------------------------------------------------


def test_update_status_on_its_interval(tmp_path: pathlib.Path):
    """update-status runs every 5 minutes, 0.8-1.2x, on each started unit, with
    ``Model.advance``.

    Source: ``update-status-hook-interval`` default 5m (https://documentation.ubuntu.com/
    juju/3.6/reference/configuration/list-of-model-configuration-keys); juju
    ``internal/worker/uniter/timer.go`` (``NewUpdateStatusTimer``: +/-20 %).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=10) as model:
        deploy_recorder(model, log, units=2)
        model.settle()
        started = {u: runs(model, u, 'start')[-1] for u in ('rec/0', 'rec/1')}
        model.advance(min(started.values()) + 239 - model.clock.now)
        assert all('update_status' not in log.kinds(u) for u in ('rec/0', 'rec/1'))
        model.advance(max(started.values()) + 1500 - model.clock.now)
        for unit, start in started.items():
            # Each unit's timer runs from its own start, and again from each run.
            times = [start, *runs(model, unit, 'update_status')]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert len(gaps) >= 4
            assert all(240 - 0.1 <= gap <= 360 + 0.1 for gap in gaps), gaps
            assert log.kinds(unit).count('update_status') == len(gaps)


# -- Kubernetes objects ------------------------------------------------------------------


def test_template_change_rolls_every_pod_from_the_highest_ordinal(tmp_path: pathlib.Path):
    """A pod-template change rolls every pod, highest ordinal first, one at a time, each
    deleted gracefully: SIGTERM, the hook in flight may finish, stop runs if the agent can,
    SIGKILL when the grace period ends; the next pod goes once the new one is Ready.

    Sources: kubernetes ``pkg/controller/statefulset/stateful_set_control.go``
    (updateStatefulSet: highest ordinal first, an unhealthy pod stops the rollout; a
    controller's pod delete is graceful); juju ``internal/worker/uniter/resolver.go`` (on
    shutdown no queued hook runs, stop runs if the unit started).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=11) as model:
        deploy_recorder(model, log, trust=True)
        model.settle()
        begin = len(model.trace)
        # rec/2 stalls through its whole grace period; rec/0 and rec/1 resume before theirs.
        model.stall_at_call('rec/2', 1, 60)
        for n in (0, 1):
            model.stall_at_call(f'rec/{n}', 1, 5)
        model.config('rec', **{'probe-on': 'config_changed'})
        while any(model.stall_pending(f'rec/{n}') for n in (0, 1, 2)):
            assert model.step()
        mark = len(model.trace)
        model.write_labels('StatefulSet.template', 'rec', {'team': 'a'})
        model.settle()

        lines = trace_lines(model)
        terminating = [
            (t, text.split()[1])
            for t, text in lines[mark:]
            if re.match(r'pod rec-\d termin', text)
        ]
        assert [pod for _, pod in terminating] == ['rec-2', 'rec-1', 'rec-0']
        started = {
            text.split()[1]: t for t, text in lines[mark:] if re.match(r'pod rec-\d started', text)
        }
        # The next pod is deleted only once the previous one's replacement is Ready.
        assert terminating[1][0] >= started['rec-2'] + POD_STARTUP
        assert terminating[2][0] >= started['rec-1'] + POD_STARTUP
        texts = [text for _, text in lines[begin:]]
        # rec/2 was stalled all through: no stop, SIGKILL when the grace period ended.
        killed = texts.index('grace period over for rec/2: SIGKILL')
        assert not any(t.startswith('rec/2 config_changed() done') for t in texts[:killed])
        assert 'rec/2 runs stop (pod rec-2 terminating)' not in texts
        for n in (0, 1):
            unit = f'rec/{n}'
            # Its hook finished; it ran stop, then its pod went; no other hook in between.
            sigterm = texts.index(next(t for t in texts if t.startswith(f'pod rec-{n} termin')))
            stop = texts.index(f'{unit} runs stop (pod rec-{n} terminating)')
            assert not any(t.startswith(f'{unit} runs ') for t in texts[sigterm:stop])
            assert texts.index(f'{unit} stop done; pod rec-{n} goes') > stop
            assert 'stop' in log.kinds(unit, life=log.lives(unit)[0])
        for n in (0, 1, 2):
            unit = f'rec/{n}'
            # The new pod ran the restart sequence.
            assert log.kinds(unit, life=log.lives(unit)[-1])[0] == 'upgrade_charm'
        pods = model.kube.objects('Pod', model.name)
        assert all(p['metadata']['labels'].get('team') == 'a' for p in pods)
        assert model.check('rec') == []


def test_juju_labels_rewrite_and_trust(tmp_path: pathlib.Path):
    """Juju's labels on its objects; re-ensuring the StatefulSet resets Juju's template keys,
    keeps foreign ones and sends the StatefulSet's own labels back as read; an untrusted app
    gets 403 on its StatefulSet, pods are allowed.

    Sources: juju/juju ``caas/kubernetes/provider/application/application.go`` (labels),
    ``caas/kubernetes/provider/resources/statefulset.go`` (Ensure as a strategic-merge
    patch), ``caas/kubernetes/provider/application/trust.go`` and
    canonical/vault-k8s-operator #917 (the 403 and its message).
    """
    log = Log(tmp_path / 'log')
    with Model(name='fid', seed=12) as model:
        deploy_recorder(model, log, units=2, config={'probe-on': 'start'})
        model.settle()
        sts = model.kube.get('StatefulSet', 'fid', 'rec')
        assert sts is not None
        assert sts['metadata']['labels'] == {
            'app.kubernetes.io/name': 'rec',
            'app.kubernetes.io/managed-by': 'juju',
        }
        assert sts['spec']['template']['metadata']['labels'] == {'app.kubernetes.io/name': 'rec'}
        service = model.kube.get('Service', 'fid', 'rec')
        assert service is not None
        assert service['metadata']['labels']['app.kubernetes.io/managed-by'] == 'juju'
        for pod in model.kube.objects('Pod', 'fid'):
            labels = pod['metadata']['labels']
            assert labels['app.kubernetes.io/name'] == 'rec'
            assert labels['statefulset.kubernetes.io/pod-name'] == pod['metadata']['name']
            assert 'controller-revision-hash' in labels

        for unit in ('rec/0', 'rec/1'):
            [probe] = [r['probe'] for r in log.hooks(unit) if r['kind'] == 'start']
            assert probe['pod'] == {'code': 200}
            assert probe['statefulset'] == {
                'code': 403,
                'message': 'statefulsets.apps "rec" is forbidden: User '
                '"system:serviceaccount:fid:rec" cannot get resource "statefulsets" in API '
                'group "apps" in the namespace "fid"',
            }

        model.write_labels('StatefulSet', 'rec', {'app.kubernetes.io/managed-by': 'me', 'o': 'x'})
        model.write_labels('StatefulSet.template', 'rec', {'team': 'a'})
        model.trust('rec')  # Juju re-ensures the StatefulSet on a trust change
        model.settle()
        sts = model.kube.get('StatefulSet', 'fid', 'rec')
        assert sts is not None
        # Apply replaces only the annotations and the template of the object it read.
        assert sts['metadata']['labels'] == {
            'app.kubernetes.io/name': 'rec',
            'app.kubernetes.io/managed-by': 'me',
            'o': 'x',
        }
        assert sts['spec']['template']['metadata']['labels'] == {
            'app.kubernetes.io/name': 'rec',
            'team': 'a',
        }
        # Trusted now: the rolled pods' start probes read the StatefulSet.
        for unit in ('rec/0', 'rec/1'):
            probe = [r['probe'] for r in log.hooks(unit) if r['kind'] == 'start'][-1]
            assert probe['statefulset'] == {'code': 200}


# -- determinism -------------------------------------------------------------------------


def seeded_run(seed: int) -> tuple[list[str], dict[str, dict[str, str]]]:
    """A schedule with interleaving units, foreign labels, a pod kill and a stall."""
    with Model(seed=seed) as model:
        model.deploy(RECORDER, app='writer', units=2, config={'value': 'a'})
        model.deploy(RECORDER, app='reader', units=1, config={'probe-on': 'relation_changed'})
        model.integrate('writer:source', 'reader:feed')
        model.settle()
        model.write_labels('Pod', 'writer-1', {'team': 'x'})
        model.write_labels('Service', 'reader', {'tier': 'web'})
        model.config('writer', value='b')
        model.delete_pod('reader/0', graceful=False)
        model.stall('writer/0', 90)
        model.config('writer', value='c')
        model.settle()
        labels = {
            f'{obj["kind"]}/{obj["metadata"]["name"]}': obj['metadata'].get('labels', {})
            for kind in ('StatefulSet', 'Service', 'Pod')
            for obj in model.kube.objects(kind, model.name)
        }
        return list(model.trace), labels


def hook_starts(trace: list[str]) -> list[str]:
    """The order in which hooks started, without times."""
    return [line.split('  ', 1)[1] for line in trace if ' runs ' in line]


def test_a_seed_replays_exactly_and_seeds_differ():
    """Same seed, same run: identical trace and final labels; another seed interleaves
    differently. Source: issue 6 ("the same seed gives the same run, byte for byte").
    """
    trace_a, labels_a = seeded_run(21)
    trace_b, labels_b = seeded_run(21)
    trace_c, labels_c = seeded_run(22)
    assert trace_a == trace_b
    assert labels_a == labels_b
    assert any('SIGKILL' in line for line in trace_a)
    assert any('stall writer/0' in line for line in trace_a)
    # Another seed: the same hooks run, in another interleaving, to the same end state.
    assert trace_c != trace_a
    assert hook_starts(trace_c) != hook_starts(trace_a)
    assert labels_c == labels_a


def test_a_trusted_applications_stop_hook_runs_trusted(tmp_path: pathlib.Path):
    """``juju trust`` is the application's: every hook it runs has it, ``stop`` included.

    Source: https://juju.is/docs/juju/juju-trust (trust is granted to an application).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=4) as model:
        deploy_recorder(model, log, units=1, trust=True)
        model.settle()
        seen: list[tuple[str, bool]] = []
        start_hook = model.pool.start_hook

        def spy(*args: Any, **kwargs: Any) -> int:
            seen.append((args[1].kind, bool(kwargs.get('trusted', False))))
            return start_hook(*args, **kwargs)

        model.pool.start_hook = spy
        model.delete_pod('rec/0', graceful=True)
        model.settle()
        assert ('stop', True) in seen
        assert all(trusted for _, trusted in seen), seen
