"""``jujusim demo``: a StatefulSet rollout after a pod-template relabel, watched over HTTP."""

from __future__ import annotations

import dataclasses
import pathlib
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import cast

import lightkube
from lightkube.models import apps_v1, core_v1
from lightkube.models import meta_v1 as lightkube_meta
from lightkube.resources import apps_v1 as apps_resources
from lightkube.resources import core_v1 as core_resources

from . import kube

NAMESPACE = 'demo'
APP = 'web'
REPLICAS = 3
NEW_LABEL = ('istio.io/dataplane-mode', 'ambient')
REVISION_LABEL = 'controller-revision-hash'
# Labels the StatefulSet controller adds to identify a pod; shown once, not on every line.
_IDENTITY_LABELS = ('statefulset.kubernetes.io/pod-name', 'apps.kubernetes.io/pod-index')


@dataclasses.dataclass(frozen=True)
class _PodView:
    uid: str
    revision: str
    ready: bool
    labels: dict[str, str]


def run(*, pace: float, echo: Callable[[str], None]) -> bool:
    """Run the demo, printing through ``echo``; True if the rollout went as Kubernetes does.

    The fake runs in this process and is served on loopback HTTP; every read and write
    goes through lightkube with a kubeconfig file, as a charm's would. The controller is
    stepped here, one action at a time, so each step of the rollout can be seen.
    """
    fake = kube.FakeKube(namespaces=())
    token = secrets.token_urlsafe(16)
    fake.register_caller(token, kube.AdminPolicy())
    # With `--kubeconfig`, kubectl follows this fake too (namespace `demo`: `-A` shows it).
    relay = kube.active_relay()
    if relay is not None:
        relay.admit(fake)
        relay.attach(fake.handle, label='the rollout demo')
    with kube.KubeServer(fake.handle) as server, tempfile.TemporaryDirectory() as tmp:
        path = kube.write_kubeconfig(
            pathlib.Path(tmp) / 'kubeconfig', server=server.url, token=token, namespace=NAMESPACE
        )
        client = lightkube.Client(lightkube.KubeConfig.from_file(path))
        try:
            return _run(fake, client, server.url, pace=pace, echo=echo)
        finally:
            client.close()
            if relay is not None:
                relay.detach(fake.handle)


def _run(
    fake: kube.FakeKube,
    client: lightkube.Client,
    url: str,
    *,
    pace: float,
    echo: Callable[[str], None],
) -> bool:
    echo(f'Fake Kubernetes API on {url}; lightkube talks to it over HTTP.')
    client.create(core_resources.Namespace(metadata=lightkube_meta.ObjectMeta(name=NAMESPACE)))
    client.create(_statefulset())
    echo(f'Created StatefulSet {NAMESPACE}/{APP} with {REPLICAS} replicas. The controller:')
    _follow(fake, client, pace=pace, echo=echo)

    key, value = NEW_LABEL
    echo('')
    echo(f'Patching the pod template: adding label {key}={value} (strategic merge).')
    # lightkube's patch() overloads leave the patch body's type partly Unknown.
    client.patch(  # pyright: ignore[reportUnknownMemberType]
        apps_resources.StatefulSet,
        APP,
        {'spec': {'template': {'metadata': {'labels': {key: value}}}}},
        namespace=NAMESPACE,
    )
    echo('Every pod must be replaced, highest ordinal first, one at a time:')
    replaced = _follow(fake, client, pace=pace, echo=echo)

    echo('')
    sts = client.get(apps_resources.StatefulSet, APP, namespace=NAMESPACE)
    status = sts.status
    pods = _pods(client)
    expected = [f'{APP}-{i}' for i in reversed(range(REPLICAS))]
    ok = (
        replaced == expected
        and status is not None
        and status.currentRevision == status.updateRevision
        and status.readyReplicas == REPLICAS
        and all(p.labels.get(key) == value for p in pods.values())
        and all(p.revision == status.updateRevision for p in pods.values())
    )
    echo('Pods now:')
    for name, view in sorted(pods.items()):
        echo(f'  {name}  revision {view.revision}  [{_labels(view)}]')
    echo(f'Replaced in order: {", ".join(replaced) or "(none)"}')
    if status is not None:
        echo(
            f'StatefulSet {APP}: {status.readyReplicas or 0}/{REPLICAS} ready, '
            f'currentRevision={status.currentRevision} updateRevision={status.updateRevision}'
        )
    echo('Rollout complete.' if ok else 'Rollout did NOT go as Kubernetes does it.')
    return ok


def _statefulset() -> apps_resources.StatefulSet:
    labels = {'app': APP}
    return apps_resources.StatefulSet(
        metadata=lightkube_meta.ObjectMeta(name=APP, namespace=NAMESPACE),
        spec=apps_v1.StatefulSetSpec(
            replicas=REPLICAS,
            serviceName=APP,
            selector=lightkube_meta.LabelSelector(matchLabels=labels),
            template=core_v1.PodTemplateSpec(
                metadata=lightkube_meta.ObjectMeta(labels=labels),
                spec=core_v1.PodSpec(containers=[core_v1.Container(name=APP, image='nginx')]),
            ),
        ),
    )


def _pods(client: lightkube.Client) -> dict[str, _PodView]:
    pods: dict[str, _PodView] = {}
    # lightkube's list() overloads leave the selector's type partly Unknown.
    listed: Iterable[core_resources.Pod] = client.list(  # pyright: ignore[reportUnknownMemberType]
        core_resources.Pod, namespace=NAMESPACE, labels={'app': APP}
    )
    for pod in listed:
        meta = pod.metadata
        if meta is None or meta.name is None:
            continue
        # lightkube types metadata.labels as a bare ``dict``.
        raw = cast('dict[str, str] | None', meta.labels)  # pyright: ignore[reportUnknownMemberType]
        labels = dict(raw or {})
        conditions = (pod.status.conditions if pod.status else None) or []
        ready = any(c.type == 'Ready' and c.status == 'True' for c in conditions)
        pods[meta.name] = _PodView(
            uid=meta.uid or '', revision=labels.get(REVISION_LABEL, ''), ready=ready, labels=labels
        )
    return pods


def _labels(view: _PodView) -> str:
    shown = {k: v for k, v in view.labels.items() if k not in (*_IDENTITY_LABELS, REVISION_LABEL)}
    return ', '.join(f'{k}={v}' for k, v in sorted(shown.items()))


def _follow(
    fake: kube.FakeKube,
    client: lightkube.Client,
    *,
    pace: float,
    echo: Callable[[str], None],
) -> list[str]:
    """Step the controller until it rests, printing each pod change; return the replaced pods."""
    before = _pods(client)
    replaced: list[str] = []
    step = 0
    while fake.step():
        step += 1
        after = _pods(client)
        lines: list[str] = []
        for name in sorted(set(before) | set(after)):
            old, new = before.get(name), after.get(name)
            if old is not None and new is None:
                lines.append(f'{name}  deleted       revision {old.revision}')
                replaced.append(name)
            elif new is not None and (old is None or old.uid != new.uid):
                lines.append(f'{name}  created       revision {new.revision}  [{_labels(new)}]')
            elif old is not None and new is not None and new.ready and not old.ready:
                lines.append(f'{name}  ready')
        for line in lines:
            echo(f'  step {step:2}: {line}')
        if lines and pace:
            time.sleep(pace)
        before = after
    return replaced
