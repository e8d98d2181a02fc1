"""R1-R4 at quiescence, read through lightkube so the same check runs on a real cluster."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

import lightkube
from lightkube.models import meta_v1
from lightkube.resources import apps_v1, core_v1

# A foreign label expectation: the value someone else last wrote, or None where they removed it.
ForeignLabels = Mapping[str, str | None]

# The StatefulSet controller's identity labels on each pod (kubernetes/kubernetes
# pkg/controller/statefulset/stateful_set_utils.go, newVersionedStatefulSetPod and
# updateIdentity): Kubernetes' own, never anyone's to manage.
KUBERNETES_POD_LABELS: frozenset[str] = frozenset(
    {
        'controller-revision-hash',
        'statefulset.kubernetes.io/pod-name',
        'apps.kubernetes.io/pod-index',
    }
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LabelExpectation:
    """What R1-R4 require of one application's objects at quiescence.

    Attributes:
        namespace: the model's namespace.
        app: the application; its StatefulSet and Service share its name, its Pods carry
            ``app.kubernetes.io/name={app}``.
        desired: the labels in the provider's databag (empty with no relation).
        released: keys the library was once asked to manage and no longer is.
        template_foreign: labels others wrote on the StatefulSet's pod template (Juju's own
            included); new Pods inherit them once the rollout is done.
        service_foreign: labels others wrote on the Service.
        pod_foreign: labels others wrote on one Pod, by the Pod's uid: they die with that Pod.
        other_foreign: labels others wrote on any other object, by ``Kind/name`` (a
            ConfigMap, the StatefulSet's own metadata...): R4 keeps them as written.
        blocked: why the provider's data must be refused, or None. Then ``desired`` is
            the last data the consumer could accept, the objects must still carry it
            (nothing changed), and the consumer's leader must be Blocked.
    """

    namespace: str
    app: str
    desired: Mapping[str, str]
    released: frozenset[str] = frozenset()
    template_foreign: ForeignLabels = dataclasses.field(default_factory=dict[str, str | None])
    service_foreign: ForeignLabels = dataclasses.field(default_factory=dict[str, str | None])
    pod_foreign: Mapping[str, ForeignLabels] = dataclasses.field(
        default_factory=dict[str, ForeignLabels]
    )
    other_foreign: Mapping[str, ForeignLabels] = dataclasses.field(
        default_factory=dict[str, ForeignLabels]
    )
    blocked: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Violation:
    """One broken requirement on one object."""

    requirement: str  # 'R1-R3' (labels follow desired) or 'R4' (foreign labels untouched)
    obj: str  # e.g. 'StatefulSet/app template', 'Pod/app-0', 'Service/app'
    key: str
    found: str | None
    expected: str | None
    why: str = ''  # what makes it a violation, when the values alone do not say

    def __str__(self) -> str:
        return (
            f'{self.requirement}: {self.obj} label {self.key!r} is {_show(self.found)}, '
            f'expected {_show(self.expected)}' + (f' ({self.why})' if self.why else '')
        )


def _show(value: str | None) -> str:
    return 'absent' if value is None else repr(value)


def check_labels(
    expectation: LabelExpectation, labels: Mapping[str, str], obj: str, foreign: ForeignLabels
) -> list[Violation]:
    """The violations of R1-R4 on one object whose current labels are ``labels``."""
    violations: list[Violation] = []
    for key, value in sorted(expectation.desired.items()):
        if labels.get(key) != value:
            violations.append(
                Violation(
                    requirement='R1-R3', obj=obj, key=key, found=labels.get(key), expected=value
                )
            )
    for key in sorted(expectation.released - expectation.desired.keys()):
        # A released key goes back to what its owner last wrote, or away if the library
        # was the only one to write it.
        expected = foreign.get(key)
        if labels.get(key) != expected:
            requirement = 'R4' if key in foreign else 'R1-R3'
            violations.append(
                Violation(
                    requirement=requirement,
                    obj=obj,
                    key=key,
                    found=labels.get(key),
                    expected=expected,
                )
            )
    for key, value in sorted(foreign.items()):
        if key in expectation.desired or key in expectation.released:
            continue
        if labels.get(key) != value:
            violations.append(
                Violation(
                    requirement='R4', obj=obj, key=key, found=labels.get(key), expected=value
                )
            )
    # R1-R3 ask for exactly the desired labels among the library's: a label that is not
    # desired, not someone else's and not Kubernetes' own is one it left behind (or one
    # the upstream library left and it did not clean up).
    for key, value in sorted(labels.items()):
        if (
            key in expectation.desired
            or key in expectation.released
            or key in foreign
            or key in KUBERNETES_POD_LABELS
        ):
            continue
        violations.append(
            Violation(
                requirement='R1-R3',
                obj=obj,
                key=key,
                found=value,
                expected=None,
                why='not desired and nobody else wrote it',
            )
        )
    return violations


def _labels(meta: meta_v1.ObjectMeta | None) -> dict[str, str]:
    # lightkube types labels as a bare dict.
    labels = cast('dict[str, Any] | None', meta.labels if meta else None)  # pyright: ignore[reportUnknownMemberType]
    return {str(k): str(v) for k, v in (labels or {}).items()}


def check_app(client: lightkube.Client, expectation: LabelExpectation) -> list[Violation]:
    """Read the app's StatefulSet template, Pods and Service, and list every violation."""
    ns, app = expectation.namespace, expectation.app
    sts = client.get(apps_v1.StatefulSet, app, namespace=ns)
    template_labels = _labels(sts.spec.template.metadata if sts.spec else None)
    violations = check_labels(
        expectation, template_labels, f'StatefulSet/{app} template', expectation.template_foreign
    )
    service = client.get(core_v1.Service, app, namespace=ns)
    violations += check_labels(
        expectation,
        _labels(service.metadata),
        f'Service/{app}',
        expectation.service_foreign,
    )
    pods = client.list(  # pyright: ignore[reportUnknownMemberType]
        core_v1.Pod, namespace=ns, labels={'app.kubernetes.io/name': app}
    )
    for pod in sorted(pods, key=lambda p: _name(p.metadata)):
        uid = (pod.metadata.uid if pod.metadata else None) or ''
        # Once a rollout is done every Pod was made from the current template.
        foreign = {**expectation.template_foreign, **expectation.pod_foreign.get(uid, {})}
        violations += check_labels(
            expectation, _labels(pod.metadata), f'Pod/{_name(pod.metadata)}', foreign
        )
    violations += _check_others(client, expectation)
    return violations


# The kinds whose foreign labels R4 keeps, read through lightkube.
_KINDS: Mapping[str, Any] = {
    'ConfigMap': core_v1.ConfigMap,
    'Namespace': core_v1.Namespace,
    'Pod': core_v1.Pod,
    'Service': core_v1.Service,
    'StatefulSet': apps_v1.StatefulSet,
}


def _check_others(client: lightkube.Client, expectation: LabelExpectation) -> list[Violation]:
    """R4 on other objects: every label someone else wrote there is as they left it.

    An object that no longer exists took its labels with it: nothing to check.
    """
    violations: list[Violation] = []
    for ref, foreign in sorted(expectation.other_foreign.items()):
        kind, _, name = ref.partition('/')
        resource = _KINDS.get(kind)
        if resource is None:
            raise ValueError(
                f'cannot check labels on {ref}: kind {kind!r} is not one of {sorted(_KINDS)}'
            )
        namespace = None if kind == 'Namespace' else expectation.namespace
        try:
            obj = client.get(resource, name, namespace=namespace)
        except lightkube.ApiError as e:
            if e.status.code == 404:
                continue
            raise
        labels = _labels(cast('meta_v1.ObjectMeta | None', obj.metadata))
        for key, value in sorted(foreign.items()):
            if labels.get(key) != value:
                violations.append(
                    Violation(
                        requirement='R4', obj=ref, key=key, found=labels.get(key), expected=value
                    )
                )
    return violations


def _name(meta: meta_v1.ObjectMeta | None) -> str:
    return (meta.name if meta else None) or ''


def rollout_pending(client: lightkube.Client, namespace: str, app: str) -> str | None:
    """Why the app's StatefulSet is not yet settled, or None when its rollout is done."""
    sts = client.get(apps_v1.StatefulSet, app, namespace=namespace)
    status = sts.status
    want = sts.spec.replicas if sts.spec and sts.spec.replicas is not None else 1
    if status is None:
        return 'the StatefulSet has no status yet'
    if (status.observedGeneration or 0) < (
        (sts.metadata.generation if sts.metadata else None) or 0
    ):
        return 'the controller has not observed the latest generation'
    if status.currentRevision != status.updateRevision:
        return f'rollout from {status.currentRevision} to {status.updateRevision} in progress'
    if (status.readyReplicas or 0) != want or status.replicas != want:
        return f'{status.readyReplicas or 0} of {want} replicas ready'
    return None
