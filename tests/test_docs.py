"""The repository's own documents: what a reader types is what runs, and every link resolves.

- The README's "Demo on microk8s" quotes ``docs/demo/microk8s-demo.sh`` step by step.
- ``.ci/run`` runs the README's test command, exactly.
- Relative links in the Markdown files point at files that exist, and nothing names the
  design files that were never part of the repository.
- The demo script's checks (run against a stub ``kubectl``) fail on a label left behind.
- tests/integration/README.md lists every scenario step with its fields.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
README = REPO / 'README.md'
DEMO = REPO / 'docs' / 'demo' / 'microk8s-demo.sh'
STEP = re.compile(r'^# step (\d+): ([^\n]*)\n(.*?)^# end step\n', re.MULTILINE | re.DOTALL)


def demo_steps(script: str) -> list[tuple[int, str, str]]:
    """(number, title, commands) for each step of the script."""
    return [(int(n), title, body) for n, title, body in STEP.findall(script)]


def readme_demo_items(script: str) -> str:
    """The numbered list the README shows: each step's title, then its commands verbatim."""
    items: list[str] = []
    for number, title, body in demo_steps(script):
        lines = ''.join(f'   {line}\n' if line else '\n' for line in body.splitlines())
        items.append(f'{number}. {title[0].upper()}{title[1:]}:\n\n   ```sh\n{lines}   ```\n')
    return '\n'.join(items)


def test_the_readme_quotes_every_step_of_the_demo_script():
    script = DEMO.read_text()
    steps = demo_steps(script)
    assert [n for n, _, _ in steps] == list(range(1, len(steps) + 1))
    assert len(steps) >= 10
    assert readme_demo_items(script) in README.read_text()


def test_the_demo_script_has_nothing_outside_its_steps_but_helpers():
    # Every command a demo-giver types is a quoted step: outside the steps, only the
    # header, the helper functions and the closing message.
    script = DEMO.read_text()
    outside = STEP.sub('', script)
    top_level = [
        line
        for line in outside.splitlines()
        if line and not line.startswith(('#', ' ', '}')) and not re.match(r'^\w+\(\) \{$', line)
    ]
    assert top_level == [
        'set -euo pipefail',
        'cd "$(dirname "$0")/../.."',
        'MODEL=${MODEL:-mesh-demo}',
        'CONTROLLER=${CONTROLLER:-demo}',
        'echo "demo done: labels followed the relation data through a leader kill; '
        'owner=ops survived"',
    ]


def readme_commands() -> list[str]:
    text = README.read_text()
    start = text.index('## The two commands')
    section = text[start : text.index('\n## ', start)]
    return re.findall(r'^```sh\n(.*?)\n```$', section, re.MULTILINE | re.DOTALL)


def test_ci_runs_the_readmes_test_command():
    demo, tests = readme_commands()
    assert demo == './tox.sh -e demo'
    assert tests == './tox.sh -e lint,static,unit,chaos,static-integration,integration'
    ci = (REPO / '.ci' / 'run').read_text().splitlines()
    assert ci[-1] == tests


LINK = re.compile(r'\]\((?!https?://)([^)#\s]*)(?:#([^)\s]*))?\)')


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r'^#+ (.+)$', markdown, re.MULTILINE)
    return {re.sub(r'[^\w\- ]', '', h.strip().lower()).replace(' ', '-') for h in headings}


@pytest.mark.parametrize(
    'document',
    [
        'README.md',
        'lib/README.md',
        'jujusim/README.md',
        'tests/integration/README.md',
        'charms/mesh-consumer/README.md',
        'docs/decision-record.md',
        'docs/design-notes.md',
    ],
)
def test_relative_links_and_their_anchors_resolve(document: str):
    path = REPO / document
    text = path.read_text()
    broken: list[str] = []
    for target, anchor in LINK.findall(text):
        file = (path.parent / target) if target else path
        if not file.exists():
            broken.append(target)
        elif anchor and anchor not in anchors(file.read_text()):
            broken.append(f'{target}#{anchor}')
    assert broken == []


def test_nothing_names_the_design_files_that_are_not_in_the_repository():
    files = subprocess.run(
        ['git', 'ls-files'], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = [
        name
        for name in files
        if name != 'tests/test_docs.py'
        and (REPO / name).is_file()
        and re.search(
            r'ADR-k8s-labels-from-libraries|RESEARCH\.md|DESIGN\.md|/shared/',
            (REPO / name).read_text(errors='replace'),
        )
    ]
    assert offenders == []


HELPERS_END = '# step 1:'


@pytest.mark.skipif(shutil.which('jq') is None, reason='the demo script needs jq')
@pytest.mark.parametrize(
    ('pod_labels', 'expected'),
    [({'demo': 'one'}, 0), ({'demo': 'two'}, 1), ({}, 1)],
)
def test_the_demo_checks_see_a_label_left_on_a_pod(
    tmp_path: pathlib.Path, pod_labels: dict[str, str], expected: int
):
    """`everywhere demo one` holds only if the template, the Service and every pod agree."""
    objects = {
        'statefulset/mesh-consumer': {
            'spec': {'template': {'metadata': {'labels': {'demo': 'one'}}}}
        },
        'service/mesh-consumer': {'metadata': {'labels': {'demo': 'one'}}},
        'pod/mesh-consumer-0': {'metadata': {'labels': {'demo': 'one'}}},
        'pod/mesh-consumer-1': {'metadata': {'labels': pod_labels}},
    }
    for name, obj in objects.items():
        (tmp_path / name.replace('/', '_')).write_text(json.dumps(obj))
    stub = tmp_path / 'kubectl'
    # `get pods ... -o name` lists the pods; `get KIND/NAME ... -o json` prints the object.
    stub.write_text(
        '#!/usr/bin/env bash\n'
        'if [ "$2" = pods ]; then\n'
        '  printf "pod/mesh-consumer-0\\npod/mesh-consumer-1\\n"; exit\n'
        'fi\n'
        f'cat "{tmp_path}/${{2//\\//_}}"\n'
    )
    stub.chmod(0o755)
    helpers = DEMO.read_text().split(HELPERS_END)[0]
    result = subprocess.run(
        ['bash', '-c', f'{helpers}\neverywhere demo one'],
        env={**os.environ, 'PATH': f'{tmp_path}:{os.environ["PATH"]}'},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == expected, result.stderr


def test_the_integration_readme_lists_every_step_and_its_fields():
    from jujusim.scenarios._steps import STEP_NAMES

    text = (REPO / 'tests' / 'integration' / 'README.md').read_text()
    rows = {
        match[1]: match[2]
        for match in re.finditer(r'^\| `([a-z-]+)` \| ([^|]*) \|', text, re.MULTILINE)
    }
    assert sorted(rows) == sorted(STEP_NAMES)
    for name, cls in STEP_NAMES.items():
        listed = re.findall(r'`(\w+)(?:=[^`]*)?`', rows[name])
        assert listed == [f.name for f in dataclasses.fields(cls)], name
