"""The one build step between the workspace and the charms: ``python charms/build_charms.py``.

It writes, from the workspace's single sources of truth:

- ``<charm>/lib/k8s_labels/`` for each charm in :data:`LIB_CHARMS`: a copy of
  ``lib/src/k8s_labels/`` (charmcraft packs a charm's ``lib/`` and its dispatch script
  puts it on ``PYTHONPATH``);
- each charm's ``requirements.txt``: its runtime dependencies pinned at the versions in
  the workspace ``uv.lock``, flattened as charmcraft's python plugin requires (it installs
  no indirect dependency by itself), for the charms' base: Ubuntu 24.04, Python 3.12,
  amd64.

The output is committed. ``--check`` writes nothing and exits 1 listing every file that
differs; the unit tests run the same check, so a hand edit or a stale copy fails CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import shutil
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import packaging.markers

REPO = pathlib.Path(__file__).resolve().parent.parent
LIB_PACKAGE = 'k8s-labels'

LIB_CHARMS = ('beacon-stub', 'mesh-consumer')
"""The charms that use the library (the stub its provider, mesh-consumer its consumer)."""

# The environment of the charms' base (ubuntu@24.04 ships Python 3.12), used to
# evaluate the markers in uv.lock (PEP 508 names).
TARGET_ENVIRONMENT = {
    'implementation_name': 'cpython',
    'os_name': 'posix',
    'platform_machine': 'x86_64',
    'platform_python_implementation': 'CPython',
    'platform_system': 'Linux',
    'python_full_version': '3.12.3',
    'python_version': '3.12',
    'sys_platform': 'linux',
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Layout:
    """Where the sources and the charms are; tests point it at a broken copy."""

    repo: pathlib.Path = REPO

    @property
    def lib_source(self) -> pathlib.Path:
        """The library's package directory, the only place it is edited."""
        return self.repo / 'lib' / 'src' / 'k8s_labels'

    def lib_copy(self, charm: str) -> pathlib.Path:
        """The checked copy inside a charm."""
        return self.repo / 'charms' / charm / 'lib' / 'k8s_labels'

    @property
    def lock(self) -> pathlib.Path:
        """The workspace lock file."""
        return self.repo / 'uv.lock'

    def requirements(self, charm: str) -> pathlib.Path:
        """A charm's requirements file."""
        return self.repo / 'charms' / charm / 'requirements.txt'


def _package_files(root: pathlib.Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative POSIX path, bytecode caches left out."""
    if not root.is_dir():
        return {}
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob('*'))
        if path.is_file() and '__pycache__' not in path.parts and path.suffix != '.pyc'
    }


def lib_copy_problems(layout: Layout, charm: str) -> list[str]:
    """Describe every way a charm's copy differs from ``lib/src``; empty when in step."""
    source = _package_files(layout.lib_source)
    copy = _package_files(layout.lib_copy(charm))
    if not source:
        return [f'{layout.lib_source} has no files']
    problems: list[str] = []
    for name in sorted(source.keys() | copy.keys()):
        if name not in copy:
            problems.append(f'{name}: missing from the copy')
        elif name not in source:
            problems.append(f'{name}: in the copy but not in lib/src')
        elif source[name] != copy[name]:
            problems.append(f'{name}: differs from lib/src')
    return problems


def _locked_packages(lock: pathlib.Path) -> dict[str, dict[str, Any]]:
    packages: list[dict[str, Any]] = tomllib.loads(lock.read_text())['package']
    return {str(p['name']): p for p in packages}


def _dependencies(package: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield from package.get('dependencies', [])


def _applies(dep: Mapping[str, Any]) -> bool:
    marker = dep.get('marker')
    return marker is None or packaging.markers.Marker(str(marker)).evaluate(TARGET_ENVIRONMENT)


def pinned_closure(lock: pathlib.Path, roots: Iterable[str]) -> dict[str, str]:
    """Return name -> locked version for ``roots`` and everything they need on the target."""
    return _closure(_locked_packages(lock), roots)


def _closure(packages: Mapping[str, Mapping[str, Any]], roots: Iterable[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(name, ()) for name in roots]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        package = packages[name]
        pins[name] = str(package['version'])
        optional: dict[str, list[dict[str, Any]]] = package.get('optional-dependencies', {})
        deps = [*_dependencies(package), *(d for e in extras for d in optional.get(e, []))]
        for dep in deps:
            if _applies(dep):
                dep_extras: list[str] = dep.get('extra', [])
                todo.append((str(dep['name']), tuple(sorted(dep_extras))))
    return dict(sorted(pins.items()))


def charm_roots(packages: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each charm's direct runtime dependencies, as named in uv.lock."""
    # Both charms carry the library, so both need whatever it needs (ops among them).
    library = sorted(str(d['name']) for d in _dependencies(packages[LIB_PACKAGE]))
    return {charm: library for charm in LIB_CHARMS}


def requirements_text(pins: Mapping[str, str]) -> str:
    """Render pins as a requirements file."""
    header = (
        '# Generated by charms/build_charms.py from uv.lock (Python 3.12, amd64): do not edit.\n'
    )
    return header + ''.join(f'{name}=={version}\n' for name, version in pins.items())


def expected_requirements(layout: Layout) -> dict[str, str]:
    """Each charm's requirements file content as the lock dictates."""
    packages = _locked_packages(layout.lock)
    return {
        charm: requirements_text(_closure(packages, roots))
        for charm, roots in charm_roots(packages).items()
    }


def problems(layout: Layout) -> list[str]:
    """Everything the build step would change; empty when the charms are in step."""
    found = [
        f'{charm} lib copy: {p}' for charm in LIB_CHARMS for p in lib_copy_problems(layout, charm)
    ]
    for charm, text in expected_requirements(layout).items():
        path = layout.requirements(charm)
        if not path.is_file() or path.read_text() != text:
            found.append(f'{charm}/requirements.txt: not as uv.lock pins it')
    return found


def build(layout: Layout) -> None:
    """Write the lib copies and the requirements files."""
    for charm in LIB_CHARMS:
        copy = layout.lib_copy(charm)
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(
            layout.lib_source, copy, ignore=shutil.ignore_patterns('__pycache__', '*.pyc')
        )
    for charm, text in expected_requirements(layout).items():
        layout.requirements(charm).write_text(text)


def main(argv: list[str] | None = None, *, layout: Layout | None = None) -> int:
    """Run the build step, or with ``--check`` report what it would change."""
    parser = argparse.ArgumentParser(
        description='Copy the library into the charms and pin their deps.'
    )
    parser.add_argument('--check', action='store_true', help='write nothing; exit 1 on drift')
    args = parser.parse_args(argv)
    layout = layout or Layout()
    if args.check:
        found = problems(layout)
        for problem in found:
            print(problem, file=sys.stderr)
        if found:
            print('run: python charms/build_charms.py', file=sys.stderr)
        return 1 if found else 0
    build(layout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
