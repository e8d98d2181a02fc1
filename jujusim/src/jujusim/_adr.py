"""``jujusim adr``: the ADR's counterexample, run live on the simulated model."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Callable
from typing import cast

from lightkube.resources import apps_v1, core_v1

from .explore import failure_class
from .model import Model

APP = 'consumer'


@dataclasses.dataclass(frozen=True)
class Run:
    """One run on the model: the broken invariants, each prefixed with its settle point.

    Attributes:
        problems: empty when the consumer held R1-R4 throughout.
        trace: the model's trace (virtual seconds), for a timeline.
        broken: what broke, as :func:`jujusim.explore.failure_class` names it.
    """

    problems: list[str]
    trace: tuple[str, ...] = ()
    broken: tuple[str, ...] = ()


def run_counterexample(
    consumer: pathlib.Path,
    provider: pathlib.Path,
    *,
    units: int = 3,
    seed: int = 0,
    echo: Callable[[str], None] = print,
) -> Run:
    """Apply ``{"foo": "bar"}``, then reset the data to ``{}`` as the leader's pod dies.

    R1-R4 are judged at every point where the model settles, not only at the end: a
    consumer that never applies the labels leaves nothing to remove, so the final state
    alone would call it correct. Returns the broken invariants, each prefixed with the
    settle point it was seen at (empty when the consumer holds R1-R4 throughout), and
    the trace. ``echo`` receives a readable account as it goes.
    """
    app = APP
    with Model(seed=seed) as model:
        verdicts = _Verdicts(model)
        _deploy_with_foo_bar(model, consumer, provider, units)
        echo(f'  {consumer.name}: {units} units; the provider publishes {{"foo": "bar"}}')
        applied = verdicts.judge('once {"foo": "bar"} is published')
        echo(f'    labels applied: {_show(applied)}')
        _echo_problems(applied, echo)
        leader = model.leader(app)
        if leader is None:  # pragma: no cover - a settled model has a leader
            problems = [*verdicts.problems, 'no leader after settling']
            return Run(problems, tuple(model.trace), ('no leader',))
        model.config('beacon', labels=json.dumps({}))
        model.delete_pod(leader, graceful=False)
        echo(f'    the data is reset to {{}} while the leader {leader} dies (SIGKILL)')
        model.settle()
        echo(
            f'    settled at virtual time t={model.clock.now:.0f} s; '
            f'leader now {model.leader(app)}'
        )
        reset = verdicts.judge('once the data is reset to {} as the leader dies')
        echo(f'    R1-R4 after the reset: {_show(reset)}')
        _echo_problems(reset, echo)
        return verdicts.run()


def run_leader_change(
    consumer: pathlib.Path,
    provider: pathlib.Path,
    *,
    units: int = 3,
    seed: int = 0,
    echo: Callable[[str], None] = print,
) -> Run:
    """Move leadership to another unit, then change the data: the new leader must follow.

    R1-R4 are judged after the labels are first applied, after the leader change and
    after the data change; each object's labels are shown: what it should and does carry.
    """
    app = APP
    with Model(seed=seed) as model:
        verdicts = _Verdicts(model)

        def judge(point: str) -> None:
            found = verdicts.judge(point)
            echo(f'    R1-R4 {point}: {_show(found)}')
            _echo_problems(found, echo)

        _deploy_with_foo_bar(model, consumer, provider, units)
        old = model.leader(app)
        echo(f'  {consumer.name}: {units} units, {{"foo": "bar"}} applied; leader {old}')
        judge('once {"foo": "bar"} is published')
        new = model.force_leader_change(app)
        echo(
            f'    t={model.clock.now:.0f} s (virtual): {old} stops renewing its lease; '
            f'it expires and {new} is elected'
        )
        model.settle()
        elected = [
            e
            for e in model.events
            if e.kind == 'hook-start' and e.unit == new and 'leader_elected' in e.fields['hook']
        ]
        echo(
            f'    {new} ran leader-elected {len(elected)} time(s); leader now {model.leader(app)}'
        )
        judge('after the leader change')
        model.config('beacon', labels=json.dumps({'foo': 'baz', 'tier': 'mesh'}))
        model.settle()
        echo(
            f'    t={model.clock.now:.0f} s (virtual): the data becomes '
            '{"foo": "baz", "tier": "mesh"}; the new leader applies it'
        )
        judge('after the data change')
        desired = model.desired_labels(app) or {}
        echo('    each object: labels it should carry / does carry')
        for obj, labels in _object_labels(model, app).items():
            does = {key: labels.get(key) for key in sorted(desired)}
            mark = '' if does == desired else '  (!)'
            echo(f'      {obj:<34} {_pairs(desired)} / {_pairs(does)}{mark}')
        return verdicts.run()


class _Verdicts:
    """R1-R4 judged on one model at each of its settle points, gathered into a :class:`Run`."""

    def __init__(self, model: Model):
        self._model = model
        self.problems: list[str] = []  # each prefixed with its settle point
        self._found: list[str] = []

    def judge(self, point: str) -> list[str]:
        """Check the consumer now; return what broke."""
        found = self._model.check(APP)
        self._found.extend(found)
        self.problems.extend(f'{point}: {problem}' for problem in found)
        return found

    def run(self) -> Run:
        """Every judgement so far, with the model's trace."""
        return Run(self.problems, tuple(self._model.trace), failure_class(self._found))


def _deploy_with_foo_bar(
    model: Model, consumer: pathlib.Path, provider: pathlib.Path, units: int
) -> None:
    """The consumer with trust and the provider, related, ``{"foo": "bar"}`` published, settled."""
    model.deploy(consumer, app=APP, units=units, trust=True)
    model.deploy(provider, app='beacon', units=1)
    model.integrate(APP, 'beacon')
    model.config('beacon', labels=json.dumps({'foo': 'bar'}))
    model.settle()


def _object_labels(model: Model, app: str) -> dict[str, dict[str, str]]:
    """The labels on ``app``'s StatefulSet template, Service and Pods, read as an admin."""
    client = model.admin_client()
    namespace = model.name
    found: dict[str, dict[str, str]] = {}
    sts = client.get(apps_v1.StatefulSet, app, namespace=namespace)
    template = sts.spec.template.metadata if sts.spec else None
    found[f'StatefulSet/{app} template'] = _labels_of(template)
    found[f'Service/{app}'] = _labels_of(
        client.get(core_v1.Service, app, namespace=namespace).metadata
    )
    # The pods Juju's StatefulSet creates carry the app's name label.
    pods = client.list(  # pyright: ignore[reportUnknownMemberType]
        core_v1.Pod, namespace=namespace, labels={'app.kubernetes.io/name': app}
    )
    for pod in sorted(pods, key=lambda p: (p.metadata.name or '') if p.metadata else ''):
        if pod.metadata is not None:
            found[f'Pod/{pod.metadata.name}'] = _labels_of(pod.metadata)
    return found


def _labels_of(meta: object) -> dict[str, str]:
    # lightkube types metadata.labels as a bare ``dict``.
    labels = getattr(meta, 'labels', None)
    return dict(cast('dict[str, str]', labels or {}))


def _pairs(labels: dict[str, str | None] | dict[str, str]) -> str:
    return ', '.join(f'{k}={v if v is not None else "(absent)"}' for k, v in labels.items())


def _echo_problems(problems: list[str], echo: Callable[[str], None]) -> None:
    for problem in problems:
        echo(f'      {problem}')


def _show(problems: list[str]) -> str:
    return 'hold' if not problems else f'{len(problems)} broken'
