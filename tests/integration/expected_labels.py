"""What R1-R4 expect of the consumer's objects, worked out from the scenario's own steps.

The simulated model knows the relation data and every foreign write, so it builds its own
expectation (``Model.expectation``). A real controller does not tell: here the
expectation follows the steps instead, from beacon-stub's documented precedence and from
the foreign writes this suite made. On jujusim the two are compared at every check
(``jujusim_backend.py``), so the rules below are tested against the model's.
"""

from __future__ import annotations

import dataclasses
import json

from jujusim.check import LabelExpectation, read_mesh_databag
from jujusim.scenarios import (
    Deploy,
    ForeignLabels,
    Integrate,
    PublishRaw,
    RemoveRelation,
    SetLabels,
    Step,
    UpstreamLeftovers,
)

# Juju's own selector label, on the pod template and the Service of every application
# (juju/juju caas/kubernetes/provider/application/application.go, labelsForApp).
JUJU_SELECTOR = 'app.kubernetes.io/name'


def labels_of_databag(data: dict[str, str]) -> dict[str, str] | None:
    """The labels a service-mesh databag publishes, or None when a consumer must refuse it.

    istio-beacon's format, as beacon-stub writes it: ``labels`` is a JSON object of
    strings; an absent field means no labels. What must be refused is the interface's
    reading (:func:`jujusim.check.read_mesh_databag`: label syntax and the reserved keys).
    """
    labels = read_mesh_databag(data).labels
    return None if labels is None else dict(labels)


@dataclasses.dataclass
class _Provider:
    config: str = ''  # the labels config option, as Juju holds it
    # An action's publication and the config it overrides: in force while the config is
    # unchanged (charms/beacon-stub/src/beacon_stub.py, Override).
    override: tuple[dict[str, str] | None, str] | None = None

    def published(self) -> dict[str, str] | None:
        if self.override is not None:
            return self.override[0]
        return labels_of_databag({'labels': self.config or '{}'})


@dataclasses.dataclass
class ExpectedLabels:
    """Follows steps to know, per consumer application, what R1-R4 require now."""

    namespace: str
    consumers: set[str] = dataclasses.field(default_factory=set[str])
    providers: dict[str, _Provider] = dataclasses.field(default_factory=dict[str, _Provider])
    relations: set[frozenset[str]] = dataclasses.field(default_factory=set[frozenset[str]])
    ever: dict[str, set[str]] = dataclasses.field(default_factory=dict[str, set[str]])
    template_foreign: dict[str, dict[str, str | None]] = dataclasses.field(
        default_factory=dict[str, dict[str, str | None]]
    )
    service_foreign: dict[str, dict[str, str | None]] = dataclasses.field(
        default_factory=dict[str, dict[str, str | None]]
    )
    pod_foreign: dict[str, dict[str, str | None]] = dataclasses.field(
        default_factory=dict[str, dict[str, str | None]]
    )
    # Per consumer, the last labels it could accept: kept while its provider's data is
    # refused (empty once the relation that brought them is gone).
    accepted: dict[str, dict[str, str]] = dataclasses.field(
        default_factory=dict[str, dict[str, str]]
    )

    def follow(self, step: Step, *, pod_uid: str | None = None) -> None:
        """Take one step into account; ``pod_uid``: the Pod a Pod foreign write went to."""
        match step:
            case Deploy(charm='consumer'):
                self.consumers.add(step.app)
                self.template_foreign[step.app] = {JUJU_SELECTOR: step.app}
                self.service_foreign[step.app] = {JUJU_SELECTOR: step.app}
            case Deploy():
                self.providers[step.app] = _Provider()
            case Integrate():
                self.relations.add(frozenset(step.apps))
            case RemoveRelation():
                self.relations.discard(frozenset(step.apps))
            case SetLabels(via='config'):
                provider = self.providers[step.app]
                provider.config = json.dumps(dict(step.labels))
                if provider.override is not None and provider.override[1] != provider.config:
                    provider.override = None
            case SetLabels():
                provider = self.providers[step.app]
                provider.override = (dict(step.labels), provider.config)
            case PublishRaw():
                provider = self.providers[step.app]
                provider.override = (labels_of_databag(dict(step.data)), provider.config)
            case ForeignLabels(kind='Pod'):
                if pod_uid is None:
                    raise ValueError('a Pod foreign write needs the Pod uid')
                self.pod_foreign.setdefault(pod_uid, {}).update(step.labels)
            case ForeignLabels(kind='Service'):
                self.service_foreign.setdefault(step.of, {}).update(step.labels)
            case ForeignLabels():
                self.template_foreign.setdefault(step.of, {}).update(step.labels)
            case UpstreamLeftovers():
                # The upstream library's labels are the charm's own, not foreign: one that
                # is not desired is a label nobody accounts for, which the check already
                # requires gone (jujusim.check, check_labels), with no released key needed.
                pass
            case _:
                pass
        # Every key a provider published while related is one the library was asked to
        # manage, whether or not anyone looked before it changed again.
        for app in self.consumers:
            desired = self.desired(app)
            if desired is not None:
                self.accepted[app] = desired
            self.ever.setdefault(app, set()).update(desired or {})

    def desired(self, app: str) -> dict[str, str] | None:
        """The labels ``app``'s provider publishes (empty with no relation; None: invalid)."""
        for relation in self.relations:
            if app not in relation:
                continue
            (other,) = relation - {app}
            if other in self.providers:
                return self.providers[other].published()
        return {}

    def expectation(self, app: str) -> LabelExpectation:
        """What R1-R4 require of ``app`` now.

        While its provider's data must be refused, the consumer is Blocked and keeps the
        labels of the last data it could accept.
        """
        desired = self.desired(app)
        blocked = None
        if desired is None:
            blocked = 'the provider publishes data a consumer must refuse'
            desired = self.accepted.get(app, {})
        ever = self.ever.setdefault(app, set())
        ever.update(desired)
        return LabelExpectation(
            namespace=self.namespace,
            app=app,
            desired=desired,
            released=frozenset(ever - desired.keys()),
            template_foreign=dict(self.template_foreign.get(app, {})),
            service_foreign=dict(self.service_foreign.get(app, {})),
            pod_foreign={uid: dict(v) for uid, v in self.pod_foreign.items()},
            blocked=blocked,
        )
