"""``--kubeconfig`` on ``jujusim demo`` and ``jujusim explore``: kubectl follows the run."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from jujusim.cli import main


def _kubectl(tmp_path: pathlib.Path, kubeconfig: pathlib.Path, *args: str) -> list[str]:
    binary = shutil.which('kubectl')
    assert binary is not None, 'kubectl must be on PATH for this test'
    return [binary, f'--cache-dir={tmp_path / "cache"}', '--kubeconfig', str(kubeconfig), *args]


def test_kubectl_watches_the_pods_of_every_model_of_an_explore_run(tmp_path: pathlib.Path):
    kubeconfig = tmp_path / 'watch' / 'kc.yaml'
    run = subprocess.Popen(
        [
            sys.executable,
            '-m',
            'jujusim',
            'explore',
            # Two schedules of the ADR scenario: foo=bar published, then the data reset.
            '--exhaustive',
            '--shard',
            '1/75',
            '--kubeconfig',
            str(kubeconfig),
            '--out',
            str(tmp_path / 'failures'),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig.exists():
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, 'no kubeconfig written'
            time.sleep(0.02)
        env = {'HOME': str(tmp_path), 'PATH': os.environ['PATH']}
        # The command a person runs in another terminal (with the event type shown); it
        # ends when the run does.
        args = ('get', 'pods', '-L', 'foo', '-w', '--output-watch-events')
        watch = subprocess.run(
            _kubectl(tmp_path, kubeconfig, *args),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, out + err
    assert f'  kubectl --kubeconfig {kubeconfig} get pods -L foo -w\n' in out
    assert watch.returncode == 0, watch.stderr
    rows = [line.split() for line in watch.stdout.splitlines()[1:]]
    assert watch.stdout.splitlines()[0].split() == [
        'EVENT', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'FOO'
    ]  # fmt: skip
    # Each schedule is a new model, its pods ADDED anew as the watch moves on to it (how many
    # depends on when kubectl joined; tests/kube/test_relay.py shows the move itself).
    added = [row[1] for row in rows if row[0] == 'ADDED']
    assert 'beacon-0' in added, watch.stdout
    # The consumer's pods get the label its provider publishes, then lose it at the reset.
    labelled = [row for row in rows if row[1].startswith('consumer-') and row[6:] == ['bar']]
    assert labelled, watch.stdout
    later = rows[rows.index(labelled[0]) :]
    assert [labelled[0][1], 'Running'] in ([row[1], row[3]] for row in later if len(row) == 6)


@pytest.mark.parametrize('command', ['demo', 'explore'])
def test_an_unusable_kubeconfig_path_is_one_line_and_exit_2(tmp_path: pathlib.Path, command: str):
    blocker = tmp_path / 'a-file'
    blocker.write_text('')
    folder = tmp_path / 'a-folder'
    folder.mkdir()
    for path, reason in ((folder, 'Is a directory'), (blocker / 'kc', 'Not a directory')):
        result = CliRunner().invoke(main, [command, '--kubeconfig', str(path)])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        [line] = result.output.splitlines()
        assert line == f'Error: --kubeconfig {path}: cannot write it: {reason}'
    assert list(folder.iterdir()) == []
    assert blocker.read_text() == ''


def test_explore_refuses_a_kubeconfig_with_several_jobs(tmp_path: pathlib.Path):
    path = tmp_path / 'kc'
    result = CliRunner().invoke(main, ['explore', '--jobs', '2', '--kubeconfig', str(path)])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line == (
        'Error: --kubeconfig follows one model at a time: use it with --jobs 1, not --jobs 2'
    )
    assert not path.exists()
