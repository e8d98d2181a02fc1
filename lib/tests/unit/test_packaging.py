"""The library as a charm outside this repository gets it: built by ``uv build lib``, from git.

Builds run uv (the pinned ``uv`` package of the unit group), which fetches the build
backend (hatchling) from the package index or its cache.
"""

from __future__ import annotations

import pathlib
import subprocess
import tarfile
import zipfile

import pytest
import uv

REPO = pathlib.Path(__file__).resolve().parents[3]
PACKAGE_FILES = {
    '__init__.py',
    '_errors.py',
    '_json.py',
    '_ledger.py',
    '_manager.py',
    '_plan.py',
    '_policies.py',
    '_service_mesh.py',
    '_validation.py',
    '_version.txt',
    'py.typed',
    'testing.py',
}


def run_uv(*args: str, cwd: pathlib.Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv.find_uv_bin(), *args], cwd=cwd, capture_output=True, text=True, check=True
    )


@pytest.fixture(scope='module')
def built(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp('dist')
    run_uv('build', 'lib', '--out-dir', str(out), '--quiet')
    return out


def test_the_wheel_holds_the_whole_typed_package(built: pathlib.Path):
    (wheel,) = built.glob('k8s_labels-*.whl')
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith('.dist-info/METADATA'))
        text = archive.read(metadata).decode()
    assert {n.removeprefix('k8s_labels/') for n in names if n.startswith('k8s_labels/')} == (
        PACKAGE_FILES
    )
    assert 'Name: k8s-labels\n' in text
    for requirement in ('ops', 'lightkube', 'httpx2'):
        assert f'Requires-Dist: {requirement}' in text


def test_the_sdist_holds_the_sources_and_the_readme(built: pathlib.Path):
    (sdist,) = built.glob('k8s_labels-*.tar.gz')
    with tarfile.open(sdist) as archive:
        names = {name.split('/', 1)[1] for name in archive.getnames() if '/' in name}
    assert {f'src/k8s_labels/{name}' for name in PACKAGE_FILES} <= names
    assert {'README.md', 'CHANGELOG.md', 'pyproject.toml'} <= names


def test_a_git_url_with_the_lib_subdirectory_installs(tmp_path: pathlib.Path):
    # What a charm's requirements or pyproject name: git+<url>@<ref>#subdirectory=lib.
    # This repository's own git directory stands in for the remote; HEAD is committed code.
    head = subprocess.run(
        ['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    target = tmp_path / 'site'
    url = f'k8s-labels @ git+file://{REPO}@{head}#subdirectory=lib'
    run_uv('pip', 'install', '--quiet', '--no-deps', '--target', str(target), url, cwd=tmp_path)
    installed = {p.name for p in (target / 'k8s_labels').iterdir()}
    assert installed >= PACKAGE_FILES
