"""lib/README.md's code runs: the charm it shows and the tests it shows, as a charm author's files.

Each fenced block whose first line is a comment naming a file (``# src/charm.py``) is
written to that path in a fresh charm directory; the README's tests then run there with
pytest, in a child process, as they would in the author's repository.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[2] / 'README.md'
FENCE = re.compile(r'^```(?P<lang>\w+)\n(?P<body>.*?)^```$', re.MULTILINE | re.DOTALL)
NAMED = re.compile(r'^# (?P<path>[\w./-]+\.(?:py|yaml))\n')


def blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block: (language, body)."""
    return [(m['lang'], m['body']) for m in FENCE.finditer(text)]


def named_files(text: str) -> dict[str, str]:
    """The blocks that name their file, by path."""
    files: dict[str, str] = {}
    for _, body in blocks(text):
        match = NAMED.match(body)
        if match:
            assert match['path'] not in files, f'{match["path"]} shown twice'
            files[match['path']] = body
    return files


def test_the_readme_names_the_charm_and_its_tests():
    files = named_files(README.read_text())
    assert set(files) == {'charmcraft.yaml', 'src/charm.py', 'tests/unit/test_charm.py'}
    # The snippet goes active: the collect-status line is shown.
    assert 'event.add_status(ops.ActiveStatus())' in files['src/charm.py']


def test_every_python_block_compiles():
    python = [body for lang, body in blocks(README.read_text()) if lang == 'python']
    assert len(python) >= 4
    for body in python:
        compile(body, '<README.md>', 'exec')


def run_readme_charm_tests(readme: str, root: pathlib.Path) -> subprocess.CompletedProcess[str]:
    for path, body in named_files(readme).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(body)
    env = {
        **os.environ,
        'PYTHONPATH': str(root / 'src'),
        # No kubeconfig to find: the fake cluster must be what the charm reaches.
        'HOME': str(root),
    }
    env.pop('KUBECONFIG', None)
    return subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-W', 'error', '-p', 'no:cacheprovider', 'tests'],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_readme_charm_passes_the_readme_tests(tmp_path: pathlib.Path):
    result = run_readme_charm_tests(README.read_text(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r'\b2 passed\b', result.stdout), result.stdout


@pytest.mark.parametrize(
    ('broken', 'fails_with'),
    [
        # Without the collect-status line the unit stays in UnknownStatus.
        ('event.add_status(ops.ActiveStatus())', 'UnknownStatus'),
        # Without the consumer nothing labels the pods.
        ('self.mesh = k8s_labels.ServiceMeshConsumer(self)', 'KeyError'),
    ],
)
def test_the_readme_tests_catch_a_broken_charm(
    tmp_path: pathlib.Path, broken: str, fails_with: str
):
    readme = README.read_text()
    assert broken in readme
    result = run_readme_charm_tests(readme.replace(broken, 'pass', 1), tmp_path)
    assert result.returncode == 1, result.stdout
    assert fails_with in result.stdout
