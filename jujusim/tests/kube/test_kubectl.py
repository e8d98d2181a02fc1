"""The installed kubectl against the served fake: it must not tell it from a real cluster."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import textwrap
import threading
import time
from typing import Any

import pytest
from kube_served import NAMESPACE, Served

from jujusim import kube

pytestmark = pytest.mark.skipif(
    shutil.which('kubectl') is None,
    reason='kubectl is not on PATH: these tests drive the real kubectl binary',
)


@dataclasses.dataclass(frozen=True)
class Kubectl:
    """Runs kubectl with a kubeconfig and a private discovery cache."""

    kubeconfig: pathlib.Path
    home: pathlib.Path

    def __call__(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ['kubectl', f'--cache-dir={self.home / "cache"}', *args],
            env={
                'KUBECONFIG': str(self.kubeconfig),
                'HOME': str(self.home),
                'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            },
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f'kubectl {" ".join(args)} failed ({result.returncode}):\n{result.stderr}')
        return result

    def names(self, *args: str) -> set[str]:
        return set(self('get', *args, '-o', 'name').stdout.split())

    def json(self, *args: str) -> Any:
        return json.loads(self('get', *args, '-o', 'json').stdout)

    def table(self, *args: str) -> list[dict[str, str]]:
        """``kubectl get`` output as rows keyed by the header's column names."""
        return _parse_table(self('get', *args).stdout)


def _parse_table(text: str) -> list[dict[str, str]]:
    """kubectl's column output: each column starts where its header word starts."""
    header, *lines = text.splitlines()
    starts = [i for i, c in enumerate(header) if c != ' ' and (i == 0 or header[i - 1] == ' ')]
    bounds = [*starts[1:], None]
    return [
        {header[s:e].strip(): line[s:e].strip() for s, e in zip(starts, bounds, strict=True)}
        for line in lines
    ]


@pytest.fixture
def kubectl(served: Served, tmp_path: pathlib.Path) -> Kubectl:
    return Kubectl(served.kubeconfig, tmp_path)


def _write(tmp_path: pathlib.Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


STATEFULSET = """\
    apiVersion: apps/v1
    kind: StatefulSet
    metadata:
      name: web
    spec:
      replicas: {replicas}
      serviceName: web
      selector:
        matchLabels: {{app: web}}
      template:
        metadata:
          labels: {{app: web}}
        spec:
          containers:
          - name: web
            image: nginx
    """


def test_create_from_file_and_get_show_labels(kubectl: Kubectl, tmp_path: pathlib.Path):
    manifest = _write(
        tmp_path,
        'objs.yaml',
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: cm1
          labels: {app: a, tier: db}
        data: {k: v, k2: v2}
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: svc1
          labels: {app: a}
        spec:
          selector: {app: a}
          ports:
          - port: 80
        """,
    )
    out = kubectl('create', '-f', manifest).stdout
    assert out.splitlines() == ['configmap/cm1 created', 'service/svc1 created']
    [cm] = kubectl.table('configmaps', '--show-labels')
    assert list(cm) == ['NAME', 'DATA', 'AGE', 'LABELS']
    assert (cm['NAME'], cm['DATA'], cm['LABELS']) == ('cm1', '2', 'app=a,tier=db')
    [svc] = kubectl.table('svc', 'svc1', '--show-labels')
    assert list(svc) == ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'LABELS']
    assert (svc['NAME'], svc['PORT(S)'], svc['LABELS']) == ('svc1', '80/TCP', 'app=a')
    assert kubectl.json('cm', 'cm1')['metadata']['namespace'] == NAMESPACE


SELECTOR_OBJECTS = """\
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: a, labels: {env: prod, tier: web}}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: b, labels: {env: dev, tier: db}}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: c, labels: {env: test}}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: d}
    """


@pytest.mark.parametrize(
    ('selector', 'expected'),
    [
        # https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
        ('env=prod', {'a'}),
        ('env==prod', {'a'}),
        ('env!=prod', {'b', 'c', 'd'}),  # != also matches objects without the key
        ('env in (prod,dev)', {'a', 'b'}),
        ('env notin (prod,dev)', {'c', 'd'}),
        ('tier', {'a', 'b'}),
        ('!tier', {'c', 'd'}),
        ('env=prod,tier', {'a'}),
        ('tier,env!=dev', {'a'}),
    ],
)
def test_get_with_label_selectors(
    kubectl: Kubectl, tmp_path: pathlib.Path, selector: str, expected: set[str]
):
    kubectl('create', '-f', _write(tmp_path, 'objs.yaml', SELECTOR_OBJECTS))
    assert kubectl.names('cm', '-l', selector) == {f'configmap/{n}' for n in expected}


def test_kind_list_needs_validate_false(kubectl: Kubectl, tmp_path: pathlib.Path):
    # kubectl validates a v1 List client-side, against the protobuf OpenAPI v2 document,
    # which the fake does not serve (cli-runtime query_param_verifier_v3.go: a List never
    # gets server-side validation). Single objects and multi-document files validate
    # server-side and need no flag.
    manifest = _write(
        tmp_path,
        'list.yaml',
        """\
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
        """,
    )
    refused = kubectl('create', '-f', manifest, check=False)
    assert refused.returncode == 1
    assert 'turn validation off with --validate=false' in refused.stderr
    kubectl('create', '--validate=false', '-f', manifest)
    assert kubectl.names('cm') == {'configmap/a'}


def test_label_add_refuse_overwrite_remove(kubectl: Kubectl, served: Served):
    served.fake.create(
        {'kind': 'ConfigMap', 'metadata': {'name': 'cm1', 'labels': {'app': 'a'}}},
        namespace=NAMESPACE,
    )

    def labels() -> dict[str, str]:
        obj = served.fake.get('ConfigMap', NAMESPACE, 'cm1')
        assert obj is not None
        return obj['metadata'].get('labels', {})

    assert kubectl('label', 'cm', 'cm1', 'color=red').stdout.strip() == 'configmap/cm1 labeled'
    assert labels() == {'app': 'a', 'color': 'red'}
    refused = kubectl('label', 'cm', 'cm1', 'color=blue', check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: 'color' already has a value (red), and --overwrite is false"
    )
    assert labels() == {'app': 'a', 'color': 'red'}
    kubectl('label', 'cm', 'cm1', 'color=blue', '--overwrite')
    assert labels() == {'app': 'a', 'color': 'blue'}
    assert kubectl('label', 'cm', 'cm1', 'color-').stdout.strip() == 'configmap/cm1 unlabeled'
    assert labels() == {'app': 'a'}


def test_patch_strategic_merge_and_json(kubectl: Kubectl, served: Served, tmp_path: pathlib.Path):
    kubectl('create', '-f', _write(tmp_path, 'sts.yaml', STATEFULSET.format(replicas=1)))
    served.fake.create(
        {
            'kind': 'ConfigMap',
            'metadata': {'name': 'cm1', 'labels': {'app': 'a'}},
            'data': {'k': 'v'},
        },
        namespace=NAMESPACE,
    )
    out = kubectl(
        'patch',
        'sts',
        'web',
        '--type',
        'strategic',
        '-p',
        '{"spec":{"template":{"metadata":{"labels":{"s":"1"}}}}}',
    ).stdout
    assert out.strip() == 'statefulset.apps/web patched'
    sts = kubectl.json('sts', 'web')
    assert sts['spec']['template']['metadata']['labels'] == {'app': 'web', 's': '1'}

    kubectl(
        'patch',
        'cm',
        'cm1',
        '--type',
        'merge',
        '-p',
        '{"data":{"k2":"v2"},"metadata":{"labels":{"app":null,"m":"1"}}}',
    )
    cm = kubectl.json('cm', 'cm1')
    assert cm['data'] == {'k': 'v', 'k2': 'v2'}
    assert cm['metadata']['labels'] == {'m': '1'}

    kubectl(
        'patch',
        'cm',
        'cm1',
        '--type',
        'json',
        '-p',
        '[{"op":"add","path":"/metadata/labels/j","value":"2"},{"op":"remove","path":"/data/k"}]',
    )
    cm = kubectl.json('cm', 'cm1')
    assert cm['data'] == {'k2': 'v2'}
    assert cm['metadata']['labels'] == {'m': '1', 'j': '2'}

    # A failing JSON-patch test op changes nothing and comes back as a server error.
    failed = kubectl(
        'patch',
        'cm',
        'cm1',
        '--type',
        'json',
        '-p',
        '[{"op":"test","path":"/data/k2","value":"other"},{"op":"remove","path":"/data/k2"}]',
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith('The request is invalid') or failed.stderr.startswith(
        'Error from server'
    ), failed.stderr
    assert kubectl.json('cm', 'cm1')['data'] == {'k2': 'v2'}

    # A patch that changes nothing keeps resourceVersion, and kubectl says so.
    same = kubectl('patch', 'cm', 'cm1', '--type', 'merge', '-p', '{"data":{"k2":"v2"}}').stdout
    assert same.strip() == 'configmap/cm1 patched (no change)'


def test_describe_shows_no_events(kubectl: Kubectl, served: Served):
    served.fake.create({'kind': 'ConfigMap', 'metadata': {'name': 'cm1'}}, namespace=NAMESPACE)
    out = kubectl('describe', 'cm', 'cm1').stdout
    assert out.startswith('Name:         cm1\nNamespace:    test\n')
    assert out.rstrip().endswith('Events:  <none>')


def test_delete_then_not_found(kubectl: Kubectl, served: Served):
    served.fake.create({'kind': 'ConfigMap', 'metadata': {'name': 'cm1'}}, namespace=NAMESPACE)
    assert kubectl('delete', 'cm', 'cm1').stdout.strip() == 'configmap "cm1" deleted'
    assert served.fake.get('ConfigMap', NAMESPACE, 'cm1') is None
    missing = kubectl('get', 'cm', 'cm1', check=False)
    assert missing.returncode == 1
    assert missing.stderr == 'Error from server (NotFound): configmaps "cm1" not found\n'


def test_api_resources_lists_every_served_kind(kubectl: Kubectl):
    table = _parse_table(kubectl('api-resources', '-o', 'wide').stdout)
    by_kind = {row['KIND']: row for row in table}
    assert set(by_kind) == {r.kind for r in kube.RESOURCES}
    for resource in kube.RESOURCES:
        row = by_kind[resource.kind]
        assert row['NAME'] == resource.plural
        assert row['APIVERSION'] == resource.api_version
        assert row['NAMESPACED'] == str(resource.namespaced).lower()
        assert row['SHORTNAMES'] == ','.join(resource.short_names)
        assert row['VERBS'] == ','.join(resource.verbs)


def test_errors_read_as_from_a_real_server(
    kubectl: Kubectl, served: Served, tmp_path: pathlib.Path
):
    missing = kubectl('get', 'pod', 'nope', check=False)
    assert missing.stderr == 'Error from server (NotFound): pods "nope" not found\n'

    manifest = _write(
        tmp_path, 'cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm1}\n'
    )
    kubectl('create', '-f', manifest)
    again = kubectl('create', '-f', manifest, check=False)
    assert again.returncode == 1
    assert again.stderr == (
        f'Error from server (AlreadyExists): error when creating "{manifest}": '
        'configmaps "cm1" already exists\n'
    )

    invalid = kubectl(
        'patch',
        'cm',
        'cm1',
        '--type',
        'merge',
        '-p',
        '{"metadata":{"labels":{"bad key!":"v"}}}',
        check=False,
    )
    assert invalid.returncode == 1
    assert invalid.stderr.startswith(
        'The ConfigMap "cm1" is invalid: metadata.labels: Invalid value: "bad key!"'
    ), invalid.stderr

    served.fake.register_caller('app-token', kube.JujuAppPolicy(namespace=NAMESPACE, app='app'))
    app = Kubectl(served.kubeconfig_for('app-token', tmp_path / 'app-kubeconfig'), tmp_path)
    kubectl('create', '-f', _write(tmp_path, 'sts.yaml', STATEFULSET.format(replicas=1)))
    forbidden = app('get', 'sts', 'web', check=False)
    assert forbidden.returncode == 1
    assert forbidden.stderr == (
        'Error from server (Forbidden): statefulsets.apps "web" is forbidden: User '
        f'"system:serviceaccount:{NAMESPACE}:app" cannot get resource "statefulsets" in API '
        f'group "apps" in the namespace "{NAMESPACE}"\n'
    )

    stranger = Kubectl(served.kubeconfig_for('unknown', tmp_path / 'x-kubeconfig'), tmp_path)
    unauthorized = stranger('get', 'pods', check=False)
    assert unauthorized.returncode == 1
    assert 'error: You must be logged in to the server (Unauthorized)' in unauthorized.stderr


def _pod_revisions(served: Served) -> dict[str, tuple[str, str]]:
    return {
        pod['metadata']['name']: (
            pod['metadata']['uid'],
            pod['metadata'].get('labels', {}).get('controller-revision-hash', ''),
        )
        for pod in served.fake.objects('Pod', NAMESPACE)
    }


def test_statefulset_rollout_seen_with_get_pods(served_stepped: Served, tmp_path: pathlib.Path):
    served = served_stepped
    kubectl = Kubectl(served.kubeconfig, tmp_path)
    kubectl('create', '-f', _write(tmp_path, 'sts.yaml', STATEFULSET.format(replicas=3)))
    served.fake.settle()
    pods = kubectl.table('pods', '--show-labels')
    assert [p['NAME'] for p in pods] == ['web-0', 'web-1', 'web-2']
    assert list(pods[0]) == ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'LABELS']
    assert {(p['READY'], p['STATUS']) for p in pods} == {('1/1', 'Running')}
    old = kubectl('get', 'sts', 'web', '-o', 'jsonpath={.status.currentRevision}').stdout
    assert all(f'controller-revision-hash={old}' in p['LABELS'] for p in pods)

    kubectl(
        'patch',
        'sts',
        'web',
        '-p',
        '{"spec":{"template":{"metadata":{"labels":{"rolled":"yes"}}}}}',
    )

    # Step the controller; each time the pods change, look at them with kubectl.
    order: list[str] = []
    seen = _pod_revisions(served)
    while served.fake.step():
        now = _pod_revisions(served)
        if now == seen:
            continue
        seen = now
        for pod in kubectl.table('pods', '--show-labels'):
            if 'rolled=yes' in pod['LABELS'] and pod['NAME'] not in order:
                assert f'controller-revision-hash={old}' not in pod['LABELS']
                order.append(pod['NAME'])
    assert order == ['web-2', 'web-1', 'web-0']  # highest ordinal first, one at a time
    new = kubectl('get', 'sts', 'web', '-o', 'jsonpath={.status.updateRevision}').stdout
    assert new and new != old
    assert kubectl('get', 'sts', 'web', '-o', 'jsonpath={.status.currentRevision}').stdout == new
    final = kubectl.table('pods', '--show-labels')
    assert len(final) == 3
    for pod in final:
        assert 'rolled=yes' in pod['LABELS']
        assert f'controller-revision-hash={new}' in pod['LABELS']
        assert (pod['READY'], pod['STATUS']) == ('1/1', 'Running')


def test_create_generators_send_protobuf_and_are_served(kubectl: Kubectl, served: Served):
    # kubectl 1.32 sends these typed objects as application/vnd.kubernetes.protobuf.
    kubectl('create', 'namespace', 'made')
    kubectl('create', 'configmap', 'cm', '--from-literal=a=b', '--from-literal=empty=')
    kubectl('create', 'service', 'clusterip', 'svc', '--tcp=80:8080')
    assert served.fake.get('Namespace', None, 'made') is not None
    cm = served.fake.get('ConfigMap', NAMESPACE, 'cm')
    assert cm is not None and cm['data'] == {'a': 'b', 'empty': ''}
    svc = served.fake.get('Service', NAMESPACE, 'svc')
    assert svc is not None
    assert svc['spec']['ports'] == [
        {'name': '80-8080', 'port': 80, 'protocol': 'TCP', 'targetPort': 8080}
    ]
    assert svc['spec']['selector'] == {'app': 'svc'}
    # A bad name is refused as a real server refuses it (422 from validation, not 400).
    failed = kubectl('create', 'configmap', 'Bad_Name', check=False)
    assert failed.returncode != 0 and 'is invalid' in failed.stderr, failed.stderr


def test_get_watch_and_rollout_status_use_watch(served_stepped: Served, tmp_path: pathlib.Path):
    # The controller is stepped by the test: the rollout is not done when kubectl looks, so
    # both commands must watch to see it finish.
    served = served_stepped
    kubectl = Kubectl(served.kubeconfig, tmp_path)
    env = {
        'KUBECONFIG': str(kubectl.kubeconfig),
        'HOME': str(kubectl.home),
        'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
    }

    def start(*args: str) -> subprocess.Popen[str]:
        command = ['kubectl', f'--cache-dir={tmp_path / "cache"}', *args]
        return subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def wait_for_watches(count: int) -> None:
        deadline = time.monotonic() + 15
        while served.fake.watches.open_watches < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served.fake.watches.open_watches >= count, 'kubectl opened no watch'

    watcher = start('get', 'pods', '-w', '--request-timeout=0')
    # Read as it prints: the rollout can end before the watcher has printed its last
    # event, and terminating it then would lose that line.
    printed: list[str] = []
    stdout = watcher.stdout
    assert stdout is not None  # piped by start()
    reader = threading.Thread(target=lambda: printed.extend(iter(stdout.readline, '')))
    reader.start()
    rollout: subprocess.Popen[str] | None = None
    try:
        wait_for_watches(1)
        kubectl('create', '-f', _write(tmp_path, 'sts.yaml', STATEFULSET.format(replicas=2)))
        rollout = start('rollout', 'status', 'statefulset/web', '--timeout=30s')
        wait_for_watches(2)
        served.fake.settle()  # the rollout happens while both watch
        out, err = rollout.communicate(timeout=30)
        assert rollout.returncode == 0, err
        assert 'roll out complete' in out, out
        assert 'not supported' not in err, err
    finally:
        if rollout is not None and rollout.poll() is None:
            rollout.kill()
            rollout.communicate()
        deadline = time.monotonic() + 10
        while not {'web-0 ', 'web-1 '} <= {line[:6] for line in printed}:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        watcher.terminate()
        reader.join(timeout=10)  # its stdout ends with it
        _, err = watcher.communicate(timeout=10)
    out = ''.join(printed)
    names = {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
    assert names == {'web-0', 'web-1'}, (out, err)
