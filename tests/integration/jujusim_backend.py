"""The jujusim backend: scenario steps on the simulated model (``jujusim.model.Model``)."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

from expected_labels import JUJU_SELECTOR, ExpectedLabels
from scenario_backend import charm_paths, leaves, run_scenario

from jujusim.check import LabelExpectation
from jujusim.model import STALE_WRITE, Model, ModelError
from jujusim.scenarios import (
    Check,
    CheckFailedError,
    ForeignLabels,
    ModelRunner,
    Scenario,
    Step,
    parse_unit_ref,
)


class JujusimBackend:
    """Runs steps through :class:`jujusim.scenarios.ModelRunner`.

    It also follows the steps with :class:`ExpectedLabels`, the expectation the Juju
    backend checks against, and at every check asserts that it agrees with the model's
    own: the rules the real-cluster run relies on are tested here.
    """

    name = 'jujusim'

    def __init__(self, model: Model, charms: Mapping[str, pathlib.Path]):
        self.model = model
        self.runner = ModelRunner(model, charms)
        self.expected = ExpectedLabels(namespace=model.name)

    def unsupported(self, scenario: Scenario) -> str | None:
        """Every step has a jujusim meaning; one the model lacks fails the run by name."""
        return None

    async def run_step(self, step: Step, where: str) -> None:
        """Carry out one step on the model."""
        for leaf in leaves(step):
            self.expected.follow(leaf, pod_uid=self._pod_uid(leaf))
        if isinstance(step, Check):
            self._compare_expectations(step.app, where)
        self.runner.run_step(step, where=where)

    def clock(self) -> str:
        """The model's virtual time."""
        return f't={self.model.clock.now:.0f} s virtual'

    def _pod_uid(self, step: Step) -> str | None:
        if not isinstance(step, ForeignLabels) or step.kind != 'Pod':
            return None
        app, ordinal = parse_unit_ref(step.of)
        unit = self.model.leader(app) if ordinal is None else f'{app}/{ordinal}'
        pod = self.model.kube.get('Pod', self.model.name, (unit or '').replace('/', '-'))
        return None if pod is None else str(pod['metadata']['uid'])

    def _compare_expectations(self, app: str, where: str) -> None:
        ours = self.expected.expectation(app)
        try:
            model: LabelExpectation | None = self.model.expectation(app)
        except ModelError:
            model = None
        if _comparable(ours) != _comparable(model):
            raise AssertionError(
                f'{where}: the expectation followed from the steps, {_comparable(ours)}, '
                f"differs from the model's, {_comparable(model)}"
            )


def _comparable(expectation: LabelExpectation | None) -> object:
    # Juju's labels other than the selector are the model's own bookkeeping; the
    # suite seeds only the selector, which is all it can be sure of on a real cluster.
    if expectation is None:
        return None

    def mine(labels: Mapping[str, str | None]) -> dict[str, str | None]:
        return {k: v for k, v in labels.items() if not k.startswith('app.kubernetes.io/')} | (
            {JUJU_SELECTOR: labels[JUJU_SELECTOR]} if JUJU_SELECTOR in labels else {}
        )

    return (
        dict(expectation.desired),
        expectation.released,
        mine(expectation.template_foreign),
        mine(expectation.service_foreign),
        {uid: dict(v) for uid, v in expectation.pod_foreign.items()},
        expectation.blocked is not None,
    )


async def broken_requirements(scenario: Scenario, consumer: pathlib.Path) -> list[str]:
    """Run ``scenario`` on a fresh model with ``consumer`` as its consumer charm.

    Returns the R1-R4 problems of the first check that failed (empty if every check
    held), a deposed leader's write over its successor's (``stale write``, R1 between
    settle points) among them; any other failure of a check (a fault that never fired, a
    unit in error) is raised, since it says nothing about the requirements.
    """
    with Model(seed=0) as model:
        backend = JujusimBackend(model, {**charm_paths(packed=False), 'consumer': consumer})
        try:
            await run_scenario(backend, scenario, echo=lambda _: None)
        except CheckFailedError as failed:
            broken = [
                p for p in failed.problems if p.startswith(('R1-R3: ', 'R4: ', f'{STALE_WRITE}: '))
            ]
            if not broken:
                raise
            return broken
    return []
