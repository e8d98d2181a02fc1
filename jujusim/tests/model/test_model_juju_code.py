"""Fidelity to Juju's and Kubernetes' code where the model once followed documentation.

Each test names the source it checks (repository, path, function) and fails on a model
that behaves as the documentation says rather than as the code does. The ``recorder`` test
charm logs what it sees in every event (see ``test_model_fidelity.py``).
"""

import pathlib
import re

from test_model_fidelity import Log, deploy_recorder, drain, trace_lines

from jujusim.model import Model


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
        first_pid = log.pids('rec/1')[0]
        assert log.kinds('rec/1', pid=first_pid)[-1] == 'stop'
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
