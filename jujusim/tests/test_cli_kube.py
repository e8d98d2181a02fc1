"""``jujusim kube serve`` and ``jujusim demo``."""

# lightkube's own annotations leave some types partially unknown.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import lightkube
import pytest
from click.testing import CliRunner
from lightkube.models import meta_v1
from lightkube.resources import core_v1

from jujusim.cli import main


def test_demo_shows_the_rollout_highest_ordinal_first():
    result = CliRunner().invoke(main, ['demo', '--pace', '0', '--schedules', '0'])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    relabel = next(i for i, line in enumerate(lines) if line.startswith('Patching the pod'))
    rollout = [line.split()[2:4] for line in lines[relabel:] if line.startswith('  step')]
    assert rollout == [
        ['web-2', 'deleted'],
        ['web-2', 'created'],
        ['web-1', 'deleted'],
        ['web-1', 'created'],
        ['web-0', 'deleted'],
        ['web-0', 'created'],
    ]
    created = [line for line in lines[relabel:] if ' created ' in line]
    assert all('istio.io/dataplane-mode=ambient' in line for line in created)
    assert 'Rollout complete.' in lines


def test_serve_needs_a_kubeconfig_path():
    result = CliRunner().invoke(main, ['kube', 'serve'])
    assert result.exit_code == 2
    assert "Missing option '--kubeconfig'" in result.output


def test_serve_with_an_unwritable_kubeconfig_is_a_clear_error(tmp_path: pathlib.Path):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    result = CliRunner().invoke(
        main,
        ['kube', 'serve', '--kubeconfig', str(blocker / 'kc')],  # parent is a file
    )
    assert result.exit_code == 2  # the user's input, as for demo and explore
    assert result.output.startswith(f'Error: cannot write the kubeconfig {blocker / "kc"}: ')
    assert 'Traceback' not in result.output


def test_serve_on_a_busy_port_is_a_clear_error(tmp_path: pathlib.Path):
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            main, ['kube', 'serve', '--port', str(port), '--kubeconfig', str(tmp_path / 'kc')]
        )
    assert result.exit_code == 1
    assert result.output.startswith(f'Error: cannot listen on 127.0.0.1:{port}: ')
    assert 'Traceback' not in result.output
    assert not (tmp_path / 'kc').exists()


@pytest.fixture
def serving(tmp_path: pathlib.Path) -> Iterator[tuple[subprocess.Popen[str], pathlib.Path]]:
    kubeconfig = tmp_path / 'kc.yaml'
    proc = subprocess.Popen(
        [
            sys.executable,
            '-m',
            'jujusim',
            'kube',
            'serve',
            '--kubeconfig',
            str(kubeconfig),
            '--namespace',
            'model',
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner: list[str] = []
    for line in proc.stdout:
        banner.append(line)
        if line.startswith('Press Ctrl-C'):
            break
    else:
        pytest.fail(f'serve exited early: {"".join(banner)} {proc.stderr and proc.stderr.read()}')
    assert f'  KUBECONFIG={kubeconfig} kubectl get pods\n' in banner
    try:
        yield proc, kubeconfig
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_serve_until_interrupted(
    serving: tuple[subprocess.Popen[str], pathlib.Path], tmp_path: pathlib.Path, sig: int
):
    proc, kubeconfig = serving
    client = lightkube.Client(lightkube.KubeConfig.from_file(kubeconfig))
    try:
        client.create(core_v1.ConfigMap(metadata=meta_v1.ObjectMeta(name='cm', labels={'a': 'b'})))
        got = client.get(core_v1.ConfigMap, 'cm')
        assert got.metadata is not None
        assert got.metadata.namespace == 'model'
    finally:
        client.close()
    if shutil.which('kubectl') is not None:
        out = subprocess.run(
            ['kubectl', f'--cache-dir={tmp_path / "cache"}', 'get', 'cm', '--show-labels'],
            env={'KUBECONFIG': str(kubeconfig), 'HOME': str(tmp_path), 'PATH': os.environ['PATH']},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        row = out.splitlines()[1].split()
        assert (row[0], row[-1]) == ('cm', 'a=b')
    proc.send_signal(sig)
    assert proc.wait(30) == 0
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read() == 'Stopped.\n'
    assert proc.stderr.read() == ''
