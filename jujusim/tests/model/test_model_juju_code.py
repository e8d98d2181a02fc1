"""Fidelity to Juju's and Kubernetes' code where the model once followed documentation.

Each test names the source it checks (repository, path, function) and fails on a model
that behaves as the documentation says rather than as the code does. The ``recorder`` test
charm logs what it sees in every event (see ``test_model_fidelity.py``).
"""

import itertools
import json
import pathlib
import random
import re
import socket

import ops
import pytest
from model_helpers import BEACON_STUB, COUNTER, MESH_CONSUMER, RECORDER, deploy_pair, set_labels
from test_model_fidelity import Log, deploy_recorder, drain, trace_lines

from jujusim.agent import CharmSource, HookSpec
from jujusim.kube import FakeKube
from jujusim.model import (
    Application,
    HookFailureKind,
    LivelockError,
    Model,
    ModelError,
    Unit,
    VirtualClock,
)
from jujusim.model._hooks import Running
from jujusim.model._leadership import Leadership
from jujusim.model._lease import Lease
from jujusim.model._trace import Trace
from jujusim.model._world import World


def started_at(model: Model, mark: int = 0) -> dict[str, list[float]]:
    """When each pod was started (created), per pod name, from the trace after ``mark``."""
    out: dict[str, list[float]] = {}
    for t, text in trace_lines(model)[mark:]:
        match = re.match(r'pod (\S+) started', text)
        if match:
            out.setdefault(match[1], []).append(t)
    return out


# -- 1: Parallel pod management ----------------------------------------------------------


def test_statefulset_is_parallel_so_pods_start_and_restart_together(tmp_path: pathlib.Path):
    """Juju's StatefulSet has ``podManagementPolicy: Parallel``: all pods are created at
    once on deploy, and pods deleted together are recreated together, not one per pod
    startup.

    Source: juju ``caas/kubernetes/provider/application/application.go`` (``Ensure``);
    kubernetes ``pkg/controller/statefulset/stateful_set_control.go`` (a non-monotonic set
    does not wait for each pod to be Ready).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=3) as model:
        deploy_recorder(model, log, units=3)
        model.settle()
        sts = model.kube.get('StatefulSet', model.name, 'rec')
        assert sts is not None
        assert sts['spec']['podManagementPolicy'] == 'Parallel'
        assert {pod: times[0] for pod, times in started_at(model).items()} == {
            'rec-0': 0.0,
            'rec-1': 0.0,
            'rec-2': 0.0,
        }
        mark = len(model.trace)
        now = model.clock.now
        for n in (0, 1, 2):
            model.delete_pod(f'rec/{n}', graceful=False)
        model.settle()
        assert {pod: times[0] for pod, times in started_at(model, mark).items()} == {
            'rec-0': now,
            'rec-1': now,
            'rec-2': now,
        }
        # Their restart sequences overlap: each unit started its first hook before any
        # other finished its restart.
        lines = [text for _, text in trace_lines(model)[mark:]]
        firsts = [
            lines.index(f'rec/{n} runs upgrade_charm()' + _lead(model, n)) for n in (0, 1, 2)
        ]
        lasts = [
            max(i for i, text in enumerate(lines) if text.startswith(f'rec/{n} pebble_ready'))
            for n in (0, 1, 2)
        ]
        assert max(firsts) < min(lasts)


def _lead(model: Model, n: int) -> str:
    return ' (leader)' if model.leader('rec') == f'rec/{n}' else ''


# -- 5: pods the StatefulSet controller deletes are deleted gracefully --------------------


def test_rollout_deletes_pods_gracefully_with_stop_and_a_terminating_phase(
    tmp_path: pathlib.Path,
):
    """A rollout's pod deletion is graceful: the pod is Terminating (deletionTimestamp),
    the unit's agent runs no queued hook, runs stop, and the pod goes; a unit that cannot
    (stalled) is killed when the 30 s grace period ends.

    Sources: kubernetes ``pkg/registry/core/pod/strategy.go`` (``CheckGracefulDelete``)
    and ``pkg/controller/statefulset/stateful_set_control.go`` (the controller deletes with
    the pod's grace period); juju ``caas/kubernetes/provider/application/application.go``
    (``TerminationGracePeriodSeconds``), ``internal/worker/uniter/resolver.go`` (``nextOp``
    on shutdown: stop if started).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=5) as model:
        deploy_recorder(model, log, units=2)
        model.settle()
        model.write_labels('StatefulSet.template', 'rec', {'team': 'a'})
        # Step until the controller marks rec-1 Terminating: it is still there.
        while True:
            assert model.step()
            pod = model.kube.get('Pod', model.name, 'rec-1')
            assert pod is not None
            if pod['metadata'].get('deletionTimestamp'):
                break
        assert pod['metadata']['deletionGracePeriodSeconds'] == 30
        model.settle()
        first_life = log.lives('rec/1')[0]
        assert log.kinds('rec/1', life=first_life)[-1] == 'stop'
        assert not any('SIGKILL rec/' in line for line in model.trace)
        # A stalled agent cannot stop: SIGKILL at the end of the grace period.
        mark = len(model.trace)
        model.stall('rec/1', 120)
        model.write_labels('StatefulSet.template', 'rec', {'team': 'b'})
        model.settle()
        lines = trace_lines(model)[mark:]
        [(sigterm, _)] = [(t, x) for t, x in lines if x.startswith('pod rec-1 terminating')]
        [(sigkill, _)] = [(t, x) for t, x in lines if x == 'grace period over for rec/1: SIGKILL']
        assert sigkill - sigterm == 30
        assert model.check('rec') == []


def test_scale_down_by_the_statefulset_is_graceful_too(tmp_path: pathlib.Path):
    """Lowering ``spec.replicas`` by hand deletes the highest pod gracefully: stop runs."""
    log = Log(tmp_path / 'log')
    with Model(seed=6) as model:
        deploy_recorder(model, log, units=2)
        model.settle()
        model.kube.patch('StatefulSet', model.name, 'rec', {'spec': {'replicas': 1}})
        model.settle()
        assert log.kinds('rec/1')[-1] == 'stop'
        assert model.kube.get('Pod', model.name, 'rec-1') is None
        drain(model)


# -- scale, remove_unit, refresh (with items 5 and 6) ---------------------------------------


def test_scale_down_removes_the_highest_ordinals_with_departed_stop_and_a_new_leader(
    tmp_path: pathlib.Path,
):
    """Scaling down: the highest ordinals are Dying: they depart their peers, stop and
    remove, then Juju lowers the replicas and their pods go; the leader among them stops
    renewing and another unit is elected; the rest see them depart.

    Sources: juju ``worker/caasapplicationprovisioner/ops.go`` (``ensureScale``,
    ``reconcileDeadUnitScale``), ``internal/worker/uniter/resolver.go`` (``nextOp``,
    life.Dying), ``internal/worker/uniter/relation/resolver.go`` (departed before broken),
    ``internal/worker/uniter/leadership/resolver.go`` (a Dying unit accepts no leadership).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=4) as model:
        deploy_recorder(model, log, units=3)
        model.settle()
        # Move leadership off rec/0 (its stalled agent stops renewing), so that scaling
        # down to the leader's ordinal removes the leader.
        model.stall('rec/0', 90)
        model.settle()
        leader = model.leader('rec')
        assert leader in ('rec/1', 'rec/2')
        keep = int(leader.rsplit('/', 1)[1])
        model.scale('rec', keep)
        model.settle()
        gone = [f'rec/{n}' for n in range(keep, 3)]
        kept = [f'rec/{n}' for n in range(keep)]
        for unit in gone:
            kinds = log.kinds(unit)
            assert kinds[-2:] == ['stop', 'remove']
            departed = [r for r in log.hooks(unit) if r['kind'] == 'relation_departed']
            assert sorted(r['remote_unit'] for r in departed) == sorted(
                u for u in ('rec/0', 'rec/1', 'rec/2') if u != unit
            )
            assert unit not in model.apps['rec'].units
            assert model.kube.get('Pod', model.name, unit.replace('/', '-')) is None
        for unit in kept:
            departed = [
                r['remote_unit'] for r in log.hooks(unit) if r['kind'] == 'relation_departed'
            ]
            assert sorted(departed) == gone
        sts = model.kube.get('StatefulSet', model.name, 'rec')
        assert sts is not None
        assert sts['spec']['replicas'] == keep
        assert model.leader('rec') in kept
        assert 'leader_elected' in log.kinds(str(model.leader('rec')))
        assert model.check('rec') == []

        # Scaling up again brings new units of those names, which the others see join.
        mark = len(log.records())
        model.scale('rec', 3)
        model.settle()
        for unit in gone:
            assert 'install' in [r['kind'] for r in log.records()[mark:] if r['unit'] == unit]
        joined = [
            r['remote_unit']
            for r in log.records()[mark:]
            if r['unit'] == kept[0] and r['kind'] == 'relation_joined'
        ]
        assert sorted(joined) == gone
        assert model.check('rec') == []


def test_remove_unit_follows_juju_on_kubernetes(tmp_path: pathlib.Path):
    """``remove-unit`` of a named unit is refused on Kubernetes; of an application it
    removes the highest ordinal (juju ``cmd/juju/application/removeunit.go``)."""
    log = Log(tmp_path / 'log')
    with Model(seed=2) as model:
        deploy_recorder(model, log, units=2)
        model.settle()
        with pytest.raises(ModelError, match='do not support removing named units'):
            model.remove_unit('rec/0')
        model.remove_unit('rec')
        model.settle()
        assert sorted(model.apps['rec'].units) == ['rec/0']
        assert log.kinds('rec/1')[-1] == 'remove'
        with pytest.raises(ModelError, match='no application'):
            model.remove_unit('nope')
        with pytest.raises(ModelError, match='whole number'):
            model.scale('rec', -1)


def test_refresh_rewrites_the_template_and_rolls_every_pod_with_upgrade_charm(
    tmp_path: pathlib.Path,
):
    """A refresh bumps charm-modified-version in the pod template (Juju's GET and patch of
    the whole template: foreign template labels survive, Juju's are reset; the
    StatefulSet's own labels go back as read), so every pod rolls, highest first, each new
    pod starting with upgrade-charm.

    Sources: juju ``caas/kubernetes/provider/application/application.go`` (``Ensure``:
    template annotations), ``caas/kubernetes/provider/resources/statefulset.go``
    (``Apply``), ``internal/worker/uniter/resolver.go`` (``charmModified``).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=7) as model:
        deploy_recorder(model, log, units=3)
        model.settle()
        model.write_labels('StatefulSet.template', 'rec', {'team': 'a'})
        model.settle()
        model.write_labels('StatefulSet', 'rec', {'app.kubernetes.io/managed-by': 'me'})
        mark = len(model.trace)
        lives = {f'rec/{n}': log.lives(f'rec/{n}') for n in range(3)}
        model.refresh('rec')
        model.settle()
        sts = model.kube.get('StatefulSet', model.name, 'rec')
        assert sts is not None
        template = sts['spec']['template']
        assert template['metadata']['annotations']['charm.juju.is/modified-version'] == '1'
        assert template['metadata']['labels'] == {'app.kubernetes.io/name': 'rec', 'team': 'a'}
        # Juju sends the StatefulSet's own labels back as it read them: not reset.
        assert sts['metadata']['labels']['app.kubernetes.io/managed-by'] == 'me'
        rolled = [
            text.split()[1]
            for _, text in trace_lines(model)[mark:]
            if re.match(r'pod rec-\d terminating', text)
        ]
        assert rolled == ['rec-2', 'rec-1', 'rec-0']
        for unit, before in lives.items():
            new = log.lives(unit)[-1]
            assert new not in before
            assert log.kinds(unit, life=new)[0] == 'upgrade_charm'
        assert model.check('rec') == []


# -- 6: the rewrite is a GET and a PATCH, and a write between them is a 409 --------------------


def test_a_library_write_between_the_rewrites_get_and_patch_is_a_409_then_a_new_ensure():
    """Juju's re-ensure reads the StatefulSet, then patches it with the resourceVersion it
    read. The library's template write lands in between, so the PATCH is a 409; Juju does
    not retry in place: its application worker fails, restarts 3 s later and ensures
    again, with a new GET. The library's labels survive the merge.

    Sources: juju ``caas/kubernetes/provider/resources/statefulset.go`` (``Apply``: GET,
    then a strategic-merge PATCH of what it read; a conflict is ``errConflict``),
    ``resources/applier.go`` (``Run``: no retry), ``worker/caasapplicationprovisioner/
    application.go`` (``alive`` fails the worker), ``worker.go`` (``RestartDelay`` 3 s).
    """
    with Model(seed=3) as model:
        app = 'consumer'
        model.deploy(MESH_CONSUMER, app=app, units=2, trust=True)
        model.deploy(BEACON_STUB, app='beacon', units=1)
        model.integrate(app, 'beacon')
        model.settle()
        mark = len(model.events)
        # A slow controller: the PATCH waits 30 s after the GET, the units run meanwhile.
        model.juju_rewrite_statefulset(app, stall_after_get=30)
        read = model.run_until('juju', app=app)
        assert read is not None
        assert read.fields['action'] == 'rewrite-get'
        model.config('beacon', labels=json.dumps({'foo': 'bar'}))
        model.settle()

        events = model.events[mark:]
        juju = [e for e in events if e.kind == 'juju' and e.fields.get('app') == app]
        assert [e.fields['action'] for e in juju] == [
            'rewrite-get',
            'rewrite-statefulset-conflict',
            'rewrite-get',
            'rewrite-statefulset',
        ]
        [library_write] = [
            i
            for i, e in enumerate(events)
            if e.kind == 'request'
            and e.fields['method'] == 'PATCH'
            and e.fields['resource'] == 'StatefulSet'
        ]
        assert events.index(juju[0]) < library_write < events.index(juju[1])
        assert juju[1].time == read.time + 30
        assert juju[2].time == juju[1].time + 3  # the worker's restart delay
        sts = model.kube.get('StatefulSet', model.name, app)
        assert sts is not None
        assert sts['spec']['template']['metadata']['labels'] == {
            'app.kubernetes.io/name': app,
            'foo': 'bar',
        }
        assert model.check(app) == []


# -- 2: juju trust fires config-changed -----------------------------------------------------


def test_trust_fires_config_changed_on_every_unit(tmp_path: pathlib.Path):
    """``juju trust`` changes the trust hash the uniter compares with config's: every unit
    runs config-changed, and sees the new trust in it; trusting again changes nothing.

    Source: juju ``internal/worker/uniter/resolver.go`` (``nextOp``: ``trustHashChanged``
    gives ConfigChanged).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=8) as model:
        deploy_recorder(model, log, units=2, config={'probe-on': 'config_changed'})
        model.settle()
        before = {u: log.kinds(u).count('config_changed') for u in ('rec/0', 'rec/1')}
        model.trust('rec')
        model.settle()
        for unit in ('rec/0', 'rec/1'):
            assert log.kinds(unit).count('config_changed') == before[unit] + 1
            last = [r for r in log.hooks(unit) if r['kind'] == 'config_changed'][-1]
            assert last['probe']['statefulset'] == {'code': 200}
        model.trust('rec')
        model.settle()
        for unit in ('rec/0', 'rec/1'):
            assert log.kinds(unit).count('config_changed') == before[unit] + 1


# -- 11: a failed hook shows workload status error --------------------------------------------


def test_a_failed_hook_shows_error_status_until_a_retry_succeeds(tmp_path: pathlib.Path):
    """While a failed hook waits for its retry the unit's workload status is
    ``error`` / ``hook failed: "NAME"``, not the charm's last status; a successful retry
    brings the charm's status back.

    Source: juju ``internal/worker/uniter/uniter.go`` (``reportHookError``).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=9) as model:
        deploy_recorder(model, log, units=1)
        model.settle()
        unit = model.apps['rec'].units['rec/0']
        assert unit.workload_status == ops.ActiveStatus('last start')
        model.config('rec', **{'fail-on': 'config_changed'})
        drain(model)
        assert unit.workload_status == ops.ErrorStatus('hook failed: "config-changed"')
        model.config('rec', **{'fail-on': ''})
        model.settle()
        assert unit.workload_status == ops.ActiveStatus('last config_changed')


def test_run_until_gives_up_in_bounded_virtual_time_while_a_unit_keeps_failing(
    tmp_path: pathlib.Path,
):
    """run_until counts every retry of a failing unit (settle() only its first 600 s), so
    a moment that never comes must end in a LivelockError within its bound on virtual
    time: 1,200 s of Juju's backoff is about ten retries, where the step bound alone
    would run thousands."""
    log = Log(tmp_path / 'log')
    with Model(seed=9) as model:
        deploy_recorder(model, log, units=1)
        model.settle()
        model.config('rec', **{'fail-on': 'config_changed'})
        began = model.clock.now
        # The error says what kept the model busy: the unit's retries of that hook.
        busy = r'did not happen in 1200 virtual seconds \(\d+ steps\): \d+ hooks \(rec/0 config_'
        with pytest.raises(LivelockError, match=busy):
            model.run_until('pod-started', unit='rec/0')
        assert model.clock.now - began <= 1200
        retries = [e for e in model.events if e.kind == 'hook-failed' and e.time > began]
        assert 3 < len(retries) < 20


def test_a_stall_longer_than_the_livelock_bounds_is_waited_out(tmp_path: pathlib.Path):
    """The bounds on virtual time are on the model keeping itself busy, not on a wait a
    test asked for: a unit stalled for longer than them (2,000 and 3,000 s) is waited
    for, by settle() and by run_until, and runs its hook once the stall ends; a re-ensure
    held 2,500 s likewise."""
    log = Log(tmp_path / 'log')
    with Model(seed=9) as model:
        deploy_recorder(model, log, units=1)
        model.settle()
        began = model.clock.now
        model.stall('rec/0', 2000)
        model.config('rec', value='x')
        model.settle()
        assert model.clock.now >= began + 2000
        ran = [e for e in model.events if e.kind == 'hook-done' and e.time > began]
        assert 'config_changed()' in [e.fields['hook'] for e in ran]  # update-status too
        began = model.clock.now
        model.stall('rec/0', 3000)
        model.config('rec', value='y')
        hook = model.run_until('hook-start', unit='rec/0')
        assert hook is not None and hook.time >= began + 3000
        # So is Juju's re-ensure of the StatefulSet held between its GET and its PATCH.
        model.settle()
        began = model.clock.now
        model.juju_rewrite_statefulset('rec', stall_after_get=2500)
        model.settle()
        assert model.clock.now >= began + 2500


def test_a_hung_hook_leaves_its_unit_in_it_until_its_pod_goes(tmp_path: pathlib.Path):
    """Juju waits for a hook's process with no deadline, so a hung hook's unit stays in
    it for ever: the harness kills the worker after ``hook_timeout``, but the unit runs
    nothing else, neither a retry (each would hang as long again) nor an action nor a
    stop hook, until its pod is replaced; then the new agent runs the hook again.

    Source: juju ``internal/worker/uniter/runner/runner.go``
    (``runCharmProcessOnLocal``: ``ps.Wait()``, a cancel only for actions).
    """
    gate = tmp_path / 'gate.sock'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(gate))
        listener.listen(8)  # connections queue; nobody ever answers: every hook hangs
        with Model(seed=3, hook_timeout=3.0) as model:
            model.deploy(COUNTER, app='counter', units=1)
            model.settle()
            model.config('counter', gate=str(gate))
            model.settle()
            [failure] = model.failed_hooks('counter')
            assert failure.kind is HookFailureKind.TIMED_OUT
            assert failure.hook == 'config_changed()'
            assert 'Juju sets no limit' in failure.cause
            assert model.check('counter') == [
                "counter/0 is hung in config_changed(): it ran past the harness's limit, "
                'and Juju would wait for it for ever'
            ]
            unit = model.apps['counter'].units['counter/0']
            assert not unit.in_error  # executing, for Juju, not in error
            with pytest.raises(ModelError, match='settled first'):
                model.run_action_to_end('counter/0', 'count')
            # Its pod deleted: no stop hook (the agent is busy), SIGKILL at the grace's
            # end, and the new agent's first hooks hang again.
            model.delete_pod('counter/0')
            model.settle()
            kinds = [e.kind for e in model.events if e.unit == 'counter/0']
            assert 'grace-over' in kinds and 'pod-started' in kinds[kinds.index('grace-over') :]
            assert not any(
                e.kind == 'hook-start' and e.fields['hook'] == 'stop()' for e in model.events
            )
            assert len(model.failed_hooks('counter')) == 2
            assert model.check('counter')[0].startswith('counter/0 is hung in ')


def test_a_hook_that_sleeps_waits_in_virtual_time_while_the_model_goes_on():
    """A hook's ``time.sleep`` takes virtual time, not wall-clock time: each of two units
    waits 125 s for a deadline on ``time.monotonic`` (sleeps of at most 10 s, the last
    one what is left, up to the next tenth of a second), far past
    the harness's 3 s hook timeout, and neither is called hung; their sleeps interleave,
    the virtual clock moves on by all they slept (125 s less the real time their
    loops took), and the leader keeps its lease throughout, as
    its agent renews it beside the hook (juju ``worker/leadership/tracker.go``).
    """
    with Model(seed=4, hook_timeout=3.0) as model:
        model.deploy(COUNTER, app='counter', units=2)
        model.settle()
        leader = model.leader('counter')
        began, mark = model.clock.now, len(model.events)
        model.config('counter', **{'wait-on': 'config_changed=125'})
        model.settle()
        assert model.failed_hooks('counter') == []
        events = model.events[mark:]
        sleeps = {
            unit: [e for e in events if e.kind == 'sleep' and e.unit == unit]
            for unit in ('counter/0', 'counter/1')
        }
        for unit, slept in sleeps.items():
            seconds = [e.fields['seconds'] for e in slept]
            # The virtual clock moved on by all a unit slept; not by 125 s exactly, as the
            # real time the hook's loop took (part of its deadline) is not virtual time.
            assert model.clock.now >= began + sum(seconds), unit
            # Twelve of 10 s, then what the clock says is left (less the real time the
            # loop took).
            assert seconds[:12] == [10.0] * 12 and 4.0 <= seconds[12] <= 5.0, unit
            assert len(seconds) == 13, unit
            status = model.unit_status(unit)
            assert (status.workload, status.last_hook, status.last_outcome) == (
                'active',
                'config_changed()',
                'ok',
            ), unit
        one, other = sleeps.values()
        assert one[0].time < other[-1].time and other[0].time < one[-1].time  # together
        assert model.leader('counter') == leader
        assert not any(e.kind in ('lease-expired', 'leader-elected') for e in events)


def test_the_librarys_retry_waits_in_virtual_time():
    """The library's retry after a 5xx (0.5 s, then 2 s: ``retry_delays``) is a sleep in
    virtual time: the leader's hook sleeps both, in order, and succeeds at the third try."""
    with Model(seed=2) as model:
        app = deploy_pair(model, units=1)
        mark = len(model.events)
        model.inject_api_error(503, unit=f'{app}/0', count=2)
        set_labels(model, {'team': 'mesh'})
        model.settle()
        slept = [e.fields['seconds'] for e in model.events[mark:] if e.kind == 'sleep']
        assert slept == [0.5, 2.0]
        assert model.failed_hooks(app) == []
        assert model.check(app) == []


# -- 8: is-leader False stays False for the rest of the hook ----------------------------------


def test_is_leader_false_stays_false_for_the_rest_of_the_hook():
    """Once Juju answers is-leader False in a hook, it answers False until the hook ends,
    even if the unit wins the lease meanwhile (ops re-asks after its 30 s cache).

    Source: juju ``internal/worker/uniter/runner/context/leader.go`` (``ensureLeader``:
    ``isMinion``); ops ``model.py`` (``_ModelBackend.is_leader``, 30 s cache).
    """
    clock = VirtualClock()
    decider = random.Random(0)  # noqa: S311 - a schedule, not a secret
    world = World(name='m', clock=clock, rng=decider, kube=FakeKube(), trace=Trace(clock))
    charm = CharmSource.load(RECORDER)
    app = Application(name='a', charm=charm, scale=2, config={}, trusted=False, kubeconfig_dir='')
    app.units['a/1'] = Unit(name='a/1', app='a', ordinal=1, token='t', alive=True)
    world.apps['a'] = app
    app.lease.claim('a/0', 0.0)  # someone else leads
    running = Running(spec=HookSpec(kind='update_status'), hook_id=1)
    leadership = Leadership(
        world, running={'a/1': running}, stalled=lambda _: False, on_elected=lambda app, unit: None
    )
    clock.advance_to(31.0)
    assert leadership.is_leader_now('a/1') is False  # asked Juju: a/0 leads
    app.lease.holder, app.lease.expiry = None, 0.0
    app.lease.claim('a/1', 40.0)  # a/1 wins the lease while its hook runs
    clock.advance_to(70.0)
    assert app.lease.held_by('a/1', clock.now)
    assert leadership.is_leader_now('a/1') is False  # asked again: still a minion


# -- 3: application settings commit only if still leader at commit ------------------------------


def test_app_data_written_by_a_deposed_leader_fails_the_commit(tmp_path: pathlib.Path):
    """A hook that wrote application data as leader but commits after losing the lease
    fails as a whole: nothing it wrote lands, the hook errors and is retried.

    Source: juju ``apiserver/facades/agent/uniter/uniter.go``
    (``commitHookChangesForOneUnit``: application settings carry a leadership token checked
    in the commit's one transaction).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=10) as model:
        deploy_recorder(model, log, units=2, config={'app-value': 'a'})
        model.settle()
        old = model.leader('rec')
        assert old is not None
        lease_left = model.apps['rec'].lease.expiry - model.clock.now
        model.stall_at_call(old, 1, lease_left + 10)
        model.config('rec', **{'app-value': 'b', 'probe-on': 'config_changed'})
        model.settle()
        new = model.leader('rec')
        assert new not in (None, old)
        [peers] = [r for r in model.relations.values() if r.interface == 'recorder-peers']
        assert peers.bag('rec').data == {'value': 'b', 'writer': new}
        refused = [
            f for f in model.failed_hooks('rec') if f.kind is HookFailureKind.NOT_LEADER_AT_COMMIT
        ]
        assert [(f.unit, f.hook) for f in refused] == [(old, 'config_changed()')]
        assert refused[0].kind.imposed_by_juju
        [event] = [
            e
            for e in model.events
            if e.kind == 'hook-failed' and e.fields['failure_kind'] is refused[0].kind
        ]
        assert event.unit == old
        # Its own unit data from that hook did not land either: the retry wrote it later.
        assert model.check('rec') == []
        # Juju fails any charm so: not counted against the charm.
        assert model.check('rec', hooks_must_not_fail=True) == []


# -- 4: when actions run ---------------------------------------------------------------------


def test_actions_run_in_error_but_never_ahead_of_queued_hooks(tmp_path: pathlib.Path):
    """An action waits for install and for a queued upgrade-charm, config-changed and
    start (it needs the uniter idle), but runs while the unit is in error.

    Source: juju ``internal/worker/uniter/actions/resolver.go`` (``NextOp``: actions only
    when ``operation.Continue``, or in a hook error), ``internal/worker/uniter/resolver.go``
    (queued hooks run before any idle resolver).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=12) as model:
        deploy_recorder(model, log, units=1)
        model.run_action('rec/0', 'record')
        model.settle()
        kinds = _all_kinds(log, 'rec/0')
        assert kinds.index('install') < kinds.index('record_action')
        # A restart: the action waits for the queued upgrade-charm, config-changed, start.
        model.delete_pod('rec/0', graceful=False)
        while not model.apps['rec'].units['rec/0'].alive:
            assert model.step()
        model.run_action('rec/0', 'record')
        model.settle()
        new = _all_kinds(log, 'rec/0', life=log.lives('rec/0')[-1])
        assert new[:3] == ['upgrade_charm', 'config_changed', 'start']
        assert 'record_action' in new[3:]
        # In error: the action runs, though the failed hook's retry is not due yet.
        model.config('rec', **{'fail-on': 'config_changed'})
        drain(model)
        assert model.apps['rec'].units['rec/0'].in_error
        model.run_action('rec/0', 'record')
        drain(model)
        assert _all_kinds(log, 'rec/0')[-1] == 'record_action'
        assert model.actions[-1].error is None


@pytest.mark.parametrize(
    ('action', 'params', 'refusal'),
    [
        ('nosuch', {}, "no action 'nosuch'"),
        ('set-labels', {}, "missing required parameter 'labels'"),
        ('set-labels', {'labels': '{}', 'extra': 'x'}, "unknown parameter 'extra'"),
        ('set-labels', {'labels': 5}, "parameter 'labels' must be of type string"),
    ],
)
def test_an_action_juju_would_refuse_is_refused_when_queued_and_the_model_goes_on(
    model: Model, action: str, params: dict[str, object], refusal: str
):
    """``juju run`` refuses an unknown action or parameters its schema refuses before any
    unit runs anything (juju/charm ``actions.go`` ``ActionSpec.ValidateParams``); the
    model's next commands are not affected."""
    app = deploy_pair(model, MESH_CONSUMER, units=1)
    with pytest.raises(ModelError, match=re.escape(refusal)):
        model.run_action('beacon/0', action, **params)
    set_labels(model, {'team': 'mesh'})
    model.settle()
    outcome = model.run_action_to_end('beacon/0', 'set-labels', {'labels': '{"team": "a"}'})
    assert outcome.error is None and outcome.failure is None
    model.settle()
    assert model.check(app) == []


def test_an_action_whose_agent_dies_is_failed_not_run_again_and_one_queued_meanwhile_waits(
    tmp_path: pathlib.Path,
):
    """An action interrupted by its agent's death is failed with "action terminated" when
    the agent comes back, never run again; an action queued while the unit's pod is down
    waits for the new agent's queued upgrade-charm, config-changed and start.

    Sources: juju ``internal/worker/uniter/actions/resolver.go`` (``NextOp``, case
    ``RunAction``: the interrupted action is the next pending one, so ``NewFailAction``),
    ``internal/worker/uniter/operation/failaction.go`` (``Execute``: "action terminated"),
    ``internal/worker/uniter/resolver.go`` (queued hooks before the idle resolvers).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=14) as model:
        deploy_recorder(model, log, units=1, config={'probe-on': 'record_action'})
        model.settle()
        unit = model.apps['rec'].units['rec/0']
        model.kill_at_call('rec/0', 1, applied=False)  # the action's first API call
        model.run_action('rec/0', 'record')
        model.settle()
        assert [a.error for a in model.actions] == ['action terminated']
        failed = [e.fields['failure_kind'] for e in model.events if e.kind == 'hook-failed']
        assert failed == [HookFailureKind.AGENT_DIED]
        assert model.failed_hooks('rec') == []  # an action: the unit is not in error
        assert 'record_action' not in _all_kinds(log, 'rec/0')
        assert unit.failure is None

        model.delete_pod('rec/0', graceful=False)
        assert not unit.alive
        model.run_action('rec/0', 'record')  # no agent to run it yet
        model.settle()
        new = _all_kinds(log, 'rec/0', life=log.lives('rec/0')[-1])
        assert new[:3] == ['upgrade_charm', 'config_changed', 'start']
        assert new.count('record_action') == 1
        assert [a.error for a in model.actions] == ['action terminated', None]


def _all_kinds(log: Log, unit: str, *, life: str | None = None) -> list[str]:
    # Actions included: their dispatch path is the action's name, not its kind.
    return [r['kind'] for r in log.records(unit) if life is None or r['life'] == life]


# -- 10: timer jitter and automatically-retry-hooks --------------------------------------------


def test_update_status_and_retries_are_jittered_and_retries_can_be_off(tmp_path: pathlib.Path):
    """update-status waits 0.8-1.2x its interval, so units drift apart; retry backoffs
    carry +/-3 % jitter; with ``automatically-retry-hooks`` off a failed hook is not
    retried at all.

    Source: juju ``internal/worker/uniter/timer.go`` (``NewUpdateStatusTimer``,
    ``backoffTimer.increaseDuration``), ``internal/worker/uniter/resolver.go``
    (``nextOpHookError``: no retry timer unless ``ShouldRetryHooks``).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=13) as model:
        deploy_recorder(model, log, units=2)
        model.settle()
        model.advance(1800)
        gaps = {
            gap
            for unit in ('rec/0', 'rec/1')
            for gap in (
                b - a
                for a, b in itertools.pairwise(
                    t for t, x in trace_lines(model) if x.startswith(f'{unit} runs update_status')
                )
            )
        }
        assert len(gaps) > 1  # not one fixed interval
        assert all(240 - 0.1 <= gap <= 360 + 0.1 for gap in gaps)
    with Model(seed=13, automatically_retry_hooks=False) as model:
        deploy_recorder(model, Log(tmp_path / 'log2'), units=1)
        model.settle()
        model.config('rec', **{'fail-on': 'config_changed'})
        model.advance(1000)
        failed = [x for _, x in trace_lines(model) if 'config_changed() FAILED' in x]
        assert len(failed) == 1
        assert model.apps['rec'].units['rec/0'].in_error


# -- 13: settle() runs Juju's backoff until the unit recovers --------------------------------


def test_settle_retries_a_failed_hook_until_its_cause_is_gone(tmp_path: pathlib.Path):
    """A unit that failed many times is retried by ``settle()`` once its cause is gone,
    as Juju's next retry would: no error is left for the checks to report.

    Source: juju ``internal/worker/uniter/resolver.go`` (``nextOpHookError``: the retry
    timer keeps running while the unit is in error).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=14) as model:
        deploy_recorder(model, log, units=1)
        model.settle()
        model.config('rec', **{'fail-on': 'config_changed'})
        model.advance(200)  # five or six attempts
        assert model.apps['rec'].units['rec/0'].in_error
        model.config('rec', **{'fail-on': ''})
        model.settle()
        assert not model.apps['rec'].units['rec/0'].in_error
        assert model.check('rec') == []


# -- 9 and 12: relation hooks as the uniter orders and dispatches them ---------------------------


def test_relation_changed_follows_each_joined_and_app_changes_have_no_remote_unit(
    tmp_path: pathlib.Path,
):
    """relation-changed runs right after each relation-joined for that unit; a change of
    the remote application's databag is dispatched with no remote unit (JUJU_REMOTE_UNIT
    empty), on peer relations too.

    Source: juju ``internal/worker/uniter/relation/resolver.go`` (``nextHookForRelation``:
    ``ChangedPending``; application changes with ``RemoteUnit: ""``).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=15) as model:
        deploy_recorder(model, log, app='writer', units=2, config={'app-value': 'a'})
        deploy_recorder(model, log, app='reader', units=1)
        model.integrate('writer:source', 'reader:feed')
        model.settle()
        feed = next(r.id for r in model.relations.values() if r.interface == 'recorder-data')
        records = [r for r in log.hooks('reader/0') if r.get('relation') == feed]
        joined_at = [i for i, r in enumerate(records) if r['kind'] == 'relation_joined']
        assert len(joined_at) == 2
        for i in joined_at:
            after = records[i + 1]
            assert (after['kind'], after['remote_unit']) == (
                'relation_changed',
                records[i]['remote_unit'],
            )
        app_changes = [
            r for r in records if r['kind'] == 'relation_changed' and r['remote_unit'] is None
        ]
        assert app_changes  # the writer's application databag reached the reader as such
        # A peer's application databag change, seen by the non-leader writer.
        leader = model.leader('writer')
        follower = next(u for u in ('writer/0', 'writer/1') if u != leader)
        model.config('writer', **{'app-value': 'b'})
        model.settle()
        peers = next(r.id for r in model.relations.values() if r.interface == 'recorder-peers')
        last = [
            r
            for r in log.hooks(follower)
            if r.get('relation') == peers and r['kind'] == 'relation_changed'
        ][-1]
        assert last['remote_unit'] is None
        assert last['seen'][str(peers)]['writer'] == {'value': 'b', 'writer': leader}


def test_departing_unit_is_the_local_unit_when_it_or_its_application_goes(
    tmp_path: pathlib.Path,
):
    """On remove-application the removed application's units depart with
    JUJU_DEPARTING_UNIT naming themselves; the other side's units see the remote unit
    depart; a unit removed by a scale-down departs its peers as itself. goal-state (ops'
    ``planned_units()``) no longer counts a Dying unit, nor any unit of an application
    being removed.

    Sources: juju ``internal/worker/uniter/relation/resolver.go`` (``nextHookForRelation``:
    the departee is the local unit when the unit or its application is not alive);
    ``apiserver/facades/agent/uniter`` ``goalStateUnits`` (a Dying unit's status is
    ``dying``, which ops does not count); ``state/cleanup.go``
    ``cleanupUnitsForDyingApplication`` (a removed application's units are Dying).
    """
    log = Log(tmp_path / 'log')
    with Model(seed=16) as model:
        deploy_recorder(model, log, app='writer', units=2)
        deploy_recorder(model, log, app='reader', units=1)
        model.integrate('writer:source', 'reader:feed')
        model.settle()
        model.scale('writer', 1)
        model.settle()
        [gone] = [
            r
            for r in log.hooks('writer/1')
            if r['kind'] == 'relation_departed' and r['remote_unit'] == 'writer/0'
        ]
        assert gone['departing'] == 'writer/1'
        [seen] = [r for r in log.hooks('writer/0') if r['kind'] == 'relation_departed']
        assert seen['departing'] == 'writer/1'
        assert (gone['planned_units'], seen['planned_units']) == (1, 1)
        assert [r['planned_units'] for r in log.hooks('writer/1')][:2] == [2, 2]
        model.remove_application('writer')
        departed = {
            r['unit']: r['departing']
            for r in log.records()
            if r['kind'] == 'relation_departed'
            and r['remote_unit'] in ('reader/0', 'writer/0')
            and r['unit'] in ('writer/0', 'reader/0')
        }
        assert departed == {'writer/0': 'writer/0', 'reader/0': 'writer/0'}
        planned = {
            r['unit']: r['planned_units']
            for r in log.records()
            if r['kind'] == 'relation_broken' and r['unit'] in ('writer/0', 'reader/0')
        }
        assert planned == {'writer/0': 0, 'reader/0': 1}


def test_an_api_outage_longer_than_the_retries_fails_hooks_juju_retries_after_it():
    """Every unit's request answered 503 for 60 virtual seconds: the leader's hook gives
    up after the library's retries (an ``API outage`` failure, which no verdict counts),
    Juju retries it with its backoff, and the first retry after the outage applies the
    labels; the API was never written meanwhile."""
    with Model(seed=5) as model:
        app = deploy_pair(model, units=2)
        set_labels(model, {'team': 'a'})
        model.settle()
        began, mark = model.clock.now, len(model.events)
        model.api_outage(60)
        set_labels(model, {'team': 'b'})
        model.settle()
        failures = model.failed_hooks(app)
        assert failures and {f.kind for f in failures} == {HookFailureKind.API_OUTAGE}
        assert all(f.time < began + 60 for f in failures)
        assert all(f.api_errors[-1].endswith('-> 503') for f in failures)
        assert model.check(app, hooks_must_not_fail=True) == []
        assert model.desired_labels(app) == {'team': 'b'}
        requests = [e for e in model.events[mark:] if e.kind == 'request']
        assert all(e.fields['status'] == 503 for e in requests if e.time < began + 60)
        assert any(e.time >= began + 60 for e in requests)


def test_is_leader_true_holds_for_30_s_so_a_leader_that_renews_no_more_answers_false_at_its_end():
    """Juju's tracker answers is-leader True only with more than 30 s of the lease left,
    or after renewing it; a leader whose agent renews no more (a forced leader change)
    answers False in the lease's last 30 s (juju worker/leadership/tracker.go
    ``Tracker.isLeader``). Here it asks again after a stall, its lease 5 s from its
    end: before, it heard True, and with ops' 30 s cache wrote as leader past its lease,
    over its successor's writes."""
    lease = Lease()
    assert lease.claim('app/0', 0.0) and lease.expiry == 60.0
    lease.renewing = False
    assert lease.answers_leader('app/0', 29.0)  # 31 s left
    assert not lease.answers_leader('app/0', 30.0) and lease.held_by('app/0', 30.0)
    assert lease.claim('app/0', 60.0) and lease.renewing  # a new term renews again
    with Model(seed=3) as model:
        app = deploy_pair(model, units=2)
        set_labels(model, {'team': 'a'})
        model.settle()
        old = model.leader(app)
        assert old is not None
        # Stalled at its next request (in the change's hook) until 5 s before the end of
        # the lease it holds when it abdicates (renewed until then: Lease.kept_by), so
        # that ops' cached answer is more than 30 s old: it asks again.
        lease = model.apps[app].lease
        left = lease.expiry - model.clock.now
        while left <= 30:
            left += 30
        mark = len(model.events)
        model.stall_at_request(old, left - 5)
        set_labels(model, {'team': 'b'})
        model.force_leader_change(app)
        model.settle()
        events = model.events[mark:]
        [abdicated] = [e for e in events if e.kind == 'leader-abdicates']
        asked = [e for e in events if e.kind == 'is-leader' and e.unit == old]
        assert asked and all(
            not e.fields['answer'] for e in asked if e.time >= abdicated.fields['expiry'] - 30
        )
        writes = [
            e
            for e in events
            if e.kind == 'request' and e.unit == old and e.fields['method'] != 'GET'
        ]
        assert writes == []
        assert model.stale_writes(app) == []
        assert model.check(app, hooks_must_not_fail=True) == []
