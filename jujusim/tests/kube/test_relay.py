"""The relay: one kubeconfig whose kubectl watch follows each newly attached fake API."""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false

from __future__ import annotations

import os
import pathlib
import queue
import shutil
import subprocess
import threading
import time

import pytest
from lightkube.models import meta_v1
from lightkube.resources import core_v1

from jujusim import kube

pytestmark = pytest.mark.skipif(
    shutil.which('kubectl') is None,
    reason='kubectl is not on PATH: these tests drive the real kubectl binary',
)

NAMESPACE = 'jujusim'


def _fake_with(relay: kube.Relay, name: str, foo: str) -> kube.FakeKube:
    """A fake API the relay may reach, holding one ConfigMap labelled ``foo``."""
    fake = kube.FakeKube(namespaces=(NAMESPACE,))
    relay.admit(fake)
    client = kube.lightkube_client(fake, token=relay.token, namespace=NAMESPACE)
    client.create(core_v1.ConfigMap(metadata=meta_v1.ObjectMeta(name=name, labels={'foo': foo})))
    client.close()
    return fake


def _relabel(relay: kube.Relay, fake: kube.FakeKube, name: str, foo: str) -> None:
    client = kube.lightkube_client(fake, token=relay.token, namespace=NAMESPACE)
    client.patch(core_v1.ConfigMap, name, {'metadata': {'labels': {'foo': foo}}})
    client.close()


class _Lines:
    """kubectl's output lines, read on a thread so a test can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]):
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def next_row(self) -> list[str]:
        line = self._lines.get(timeout=15)
        assert line is not None, 'kubectl ended early'
        return line.split()


def test_a_watch_moves_to_each_attached_fake_api_and_ends_with_the_relay(tmp_path: pathlib.Path):
    relay = kube.Relay(namespace=NAMESPACE)
    kubeconfig = relay.start(tmp_path / 'kc')
    first = _fake_with(relay, 'in-first', 'one')
    relay.attach(first.handle, label='first')
    kubectl = ['kubectl', f'--cache-dir={tmp_path / "cache"}', '--kubeconfig', str(kubeconfig)]
    env = {'HOME': str(tmp_path), 'PATH': os.environ['PATH']}
    watch = subprocess.Popen(
        [*kubectl, 'get', 'configmaps', '-L', 'foo', '-w', '--output-watch-events'],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _Lines(watch)
        assert lines.next_row() == ['EVENT', 'NAME', 'DATA', 'AGE', 'FOO']
        assert _without_age(lines.next_row()) == ['ADDED', 'in-first', '0', 'one']
        _relabel(relay, first, 'in-first', 'two')
        assert _without_age(lines.next_row()) == ['MODIFIED', 'in-first', '0', 'two']

        second = _fake_with(relay, 'in-second', 'three')
        relay.attach(second.handle, label='second')
        assert relay.live == 'second'
        assert _without_age(lines.next_row()) == ['ADDED', 'in-second', '0', 'three']
        _relabel(relay, second, 'in-second', 'four')
        assert _without_age(lines.next_row()) == ['MODIFIED', 'in-second', '0', 'four']

        relay.detach(first.handle)  # not the live one: changes nothing
        assert relay.live == 'second'
        relay.detach(second.handle)
        assert relay.live == 'no model'
        listed = subprocess.run(
            [*kubectl, 'get', 'configmaps'],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (listed.returncode, listed.stdout) == (0, ''), listed.stderr
        assert listed.stderr == f'No resources found in {NAMESPACE} namespace.\n'
    finally:
        relay.stop()
        assert watch.wait(30) == 0
        assert watch.stderr is not None
        assert watch.stderr.read() == ''
        watch.stderr.close()
        if watch.stdout is not None:
            watch.stdout.close()


def _without_age(row: list[str]) -> list[str]:
    return [*row[:3], *row[4:]]


def test_a_watch_shows_a_restored_model_as_it_was_snapshotted(tmp_path: pathlib.Path):
    # explore restores one model per schedule: a person's watch must show the restored
    # objects, not go on from the store the restore replaced.
    from jujusim.model import Model

    beacon = pathlib.Path(__file__).parents[3] / 'charms' / 'beacon-stub'
    relay = kube.Relay(namespace=NAMESPACE)
    kubeconfig = relay.start(tmp_path / 'kc')
    kubectl = ['kubectl', f'--cache-dir={tmp_path / "cache"}', '--kubeconfig', str(kubeconfig)]
    env = {'HOME': str(tmp_path), 'PATH': os.environ['PATH']}
    with kube.relaying(relay), Model(name=NAMESPACE, seed=0) as model:
        model.deploy(beacon, app='beacon', units=1)
        model.settle()
        snapshot = model.snapshot()
        model.write_labels('Service', 'beacon', {'foo': 'changed'})
        watching_before = model.kube.watches.open_watches
        watch = subprocess.Popen(
            [*kubectl, 'get', 'services', '-L', 'foo', '-w', '--output-watch-events'],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            lines = _Lines(watch)
            assert lines.next_row()[-1] == 'FOO'
            added = lines.next_row()
            assert (added[0], added[1], added[-1]) == ('ADDED', 'beacon', 'changed')
            # kubectl lists, prints, then opens its watch: restore once the watch is open.
            deadline = time.monotonic() + 15
            while model.kube.watches.open_watches == watching_before:
                assert time.monotonic() < deadline, 'kubectl never opened its watch'
                time.sleep(0.01)
            model.restore(snapshot)
            again = lines.next_row()
            assert (again[0], again[1]) == ('ADDED', 'beacon')
            assert again[-1] != 'changed', again
        finally:
            watch.kill()
            watch.wait(30)
            if watch.stdout is not None:
                watch.stdout.close()
