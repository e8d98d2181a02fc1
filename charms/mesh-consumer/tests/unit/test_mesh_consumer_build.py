"""The build step: the checked copy of the library and the pins stay in step with the sources."""

from __future__ import annotations

import pathlib
import shutil

import packaging.requirements
import pytest

import build_charms

REAL = build_charms.Layout()


def test_the_committed_charms_are_in_step():
    # The check CI relies on: a hand edit of the copy, or lib/src or uv.lock changing
    # without `python charms/build_charms.py`, fails here.
    assert build_charms.problems(REAL) == []


def test_both_charms_carry_the_library():
    assert build_charms.LIB_CHARMS == ('beacon-stub', 'mesh-consumer')


@pytest.mark.parametrize('charm', build_charms.LIB_CHARMS)
def test_the_copy_holds_the_whole_package(charm: str):
    copied = {p.name for p in REAL.lib_copy(charm).iterdir() if p.is_file()}
    assert {'__init__.py', '_version.txt', 'py.typed'} <= copied


@pytest.mark.parametrize('charm', build_charms.LIB_CHARMS)
def test_each_charm_pins_what_the_library_needs(charm: str):
    text = REAL.requirements(charm).read_text()
    assert 'ops==' in text
    assert 'lightkube==' in text


@pytest.fixture
def layout(tmp_path: pathlib.Path) -> build_charms.Layout:
    """A copy of the parts of the repository the build step reads and writes."""
    fake = build_charms.Layout(repo=tmp_path)
    shutil.copytree(REAL.lib_source, fake.lib_source, ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copy(REAL.lock, fake.lock)
    # uv export reads the workspace's projects to find the lock's roots.
    for project in ('pyproject.toml', 'lib/pyproject.toml', 'jujusim/pyproject.toml'):
        (tmp_path / project).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REAL.repo / project, tmp_path / project)
    for charm in build_charms.LIB_CHARMS:
        shutil.copytree(
            REAL.lib_copy(charm),
            fake.lib_copy(charm),
            ignore=shutil.ignore_patterns('__pycache__'),
        )
        fake.requirements(charm).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REAL.requirements(charm), fake.requirements(charm))
    assert build_charms.problems(fake) == []
    return fake


@pytest.mark.parametrize('charm', build_charms.LIB_CHARMS)
def test_an_edit_to_the_copy_is_caught(layout: build_charms.Layout, charm: str):
    init = layout.lib_copy(charm) / '__init__.py'
    init.write_text(init.read_text() + '# a hand edit\n')
    assert build_charms.problems(layout) == [
        f'{charm} lib copy: __init__.py: differs from lib/src'
    ]


def test_a_change_to_the_source_not_copied_is_caught(layout: build_charms.Layout):
    (layout.lib_source / '_new.py').write_text('"""New."""\n')
    assert build_charms.problems(layout) == [
        f'{charm} lib copy: _new.py: missing from the copy' for charm in build_charms.LIB_CHARMS
    ]


@pytest.mark.parametrize('charm', build_charms.LIB_CHARMS)
def test_a_stray_file_in_the_copy_is_caught(layout: build_charms.Layout, charm: str):
    (layout.lib_copy(charm) / 'stray.py').write_text('')
    assert build_charms.problems(layout) == [
        f'{charm} lib copy: stray.py: in the copy but not in lib/src'
    ]


@pytest.mark.parametrize('charm', build_charms.LIB_CHARMS)
def test_a_missing_copy_is_caught(layout: build_charms.Layout, charm: str):
    shutil.rmtree(layout.lib_copy(charm))
    found = build_charms.problems(layout)
    assert f'{charm} lib copy: __init__.py: missing from the copy' in found
    assert all(p.startswith(f'{charm} lib copy: ') for p in found)


def test_bytecode_caches_are_not_drift(layout: build_charms.Layout):
    cache = layout.lib_copy('beacon-stub') / '__pycache__'
    cache.mkdir()
    (cache / '__init__.cpython-311.pyc').write_bytes(b'\0')
    assert build_charms.problems(layout) == []


def test_a_stale_pin_is_caught(layout: build_charms.Layout):
    path = layout.requirements('beacon-stub')
    path.write_text(path.read_text().replace('ops==3.9.0', 'ops==3.0.0'))
    assert build_charms.problems(layout) == [
        'beacon-stub/requirements.txt: not as uv.lock pins it'
    ]


def test_a_lock_change_is_caught(layout: build_charms.Layout):
    # A new lightkube in uv.lock must reach both charms' requirements.txt.
    lock = layout.lock.read_text()
    assert 'name = "lightkube"\nversion = "1.0.1"' in lock
    # The version and its artifacts' names, as `uv lock` would write them.
    layout.lock.write_text(
        lock.replace(
            'name = "lightkube"\nversion = "1.0.1"', 'name = "lightkube"\nversion = "1.0.2"'
        ).replace('lightkube-1.0.1', 'lightkube-1.0.2')
    )
    assert build_charms.problems(layout) == [
        'beacon-stub/requirements.txt: not as uv.lock pins it',
        'mesh-consumer/requirements.txt: not as uv.lock pins it',
    ]


def test_check_exits_1_and_the_build_repairs(
    layout: build_charms.Layout, capsys: pytest.CaptureFixture[str]
):
    (layout.lib_copy('mesh-consumer') / '_errors.py').unlink()
    (layout.lib_copy('beacon-stub') / '_plan.py').write_text('')
    layout.requirements('mesh-consumer').write_text('ops\n')
    assert build_charms.main(['--check'], layout=layout) == 1
    err = capsys.readouterr().err
    assert 'mesh-consumer lib copy: _errors.py: missing from the copy' in err
    assert 'beacon-stub lib copy: _plan.py: differs from lib/src' in err
    assert 'run: python charms/build_charms.py' in err
    assert build_charms.main([], layout=layout) == 0
    assert build_charms.main(['--check'], layout=layout) == 0
    assert build_charms.problems(layout) == []


# The charms' base (ubuntu@24.04: CPython 3.12 on Linux, amd64), in PEP 508 marker names.
CHARM_BASE = {
    'implementation_name': 'cpython',
    'os_name': 'posix',
    'platform_machine': 'x86_64',
    'platform_python_implementation': 'CPython',
    'platform_system': 'Linux',
    'python_full_version': '3.12.3',
    'python_version': '3.12',
    'sys_platform': 'linux',
}


def installed_on_the_charm_base(requirements: str) -> set[str]:
    """What pip installs from the file on the charm's base: lines whose marker holds."""
    names: set[str] = set()
    for line in requirements.splitlines():
        if not line or line.startswith('#'):
            continue
        requirement = packaging.requirements.Requirement(line)
        marker = requirement.marker
        if marker is None or marker.evaluate(CHARM_BASE):
            names.add(requirement.name)
    return names


def test_pins_follow_markers_for_the_charm_base():
    text = REAL.requirements('mesh-consumer').read_text()
    installed = installed_on_the_charm_base(text)
    # httpx2 needs httpx2-jsfetch only on emscripten; pip skips it on the charm's base.
    assert 'httpx2' in installed
    assert 'httpx2-jsfetch' not in installed
    # lightkube asks for httpx2[http2]: the extra's dependency (h2) is pinned too.
    assert 'h2' in installed
    # Every line is pinned exactly (flattened, as the python plugin needs).
    for line in text.splitlines():
        if line and not line.startswith('#'):
            assert str(packaging.requirements.Requirement(line).specifier).startswith('=='), line
    assert 'k8s-labels' not in text  # the charm carries it in lib/
