"""Consumers the command line runs: by name from this repository, or any charm folder.

A consumer is a charm whose metadata requires an endpoint of the ``service_mesh``
interface. Juju runs a packed charm with its ``lib/`` and the packages of its
``requirements.txt`` (charmcraft's python plugin installs them into the charm's venv);
jujusim runs the charm's ``src/`` and ``lib/`` in this Python environment, so every
requirement must be installed here at a version the file allows, or the run would test
a charm that differs from the packed one.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import pathlib
from typing import Any, cast

from packaging.requirements import InvalidRequirement, Requirement

from .agent import CharmSource, CharmSourceError

MESH_INTERFACE = 'service_mesh'


class ConsumerError(Exception):
    """A consumer cannot be run; the message says why in one line."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Known:
    """A consumer kept in this repository.

    Attributes:
        folder: its folder, relative to the repository's root.
        about: what it is, in a few words.
        breaks_adr: whether the ADR's counterexample (``jujusim adr``) breaks it.
    """

    folder: str
    about: str
    breaks_adr: bool


KNOWN: dict[str, Known] = {
    'mesh-consumer': Known(
        folder='charms/mesh-consumer', about='the k8s_labels library', breaks_adr=False
    ),
    'adr-original': Known(
        folder='tests/charms/adr-original',
        about="the ADR's original design (leader, StoredState)",
        breaks_adr=True,
    ),
    'adr-every-unit': Known(
        folder='tests/charms/adr-every-unit',
        about="the ADR's first rejected design (every unit, StoredState)",
        breaks_adr=False,
    ),
    'adr-peer-relation': Known(
        folder='tests/charms/adr-peer-relation',
        about="the ADR's second rejected design (leader, peer relation data)",
        breaks_adr=False,
    ),
    'upstream-service-mesh': Known(
        folder='tests/charms/upstream-service-mesh',
        about='charmlibs-interfaces-service-mesh 1.0.2',
        breaks_adr=False,
    ),
    'noop-consumer': Known(
        folder='tests/charms/noop-consumer',
        about='requires service-mesh, never labels',
        breaks_adr=True,
    ),
}
PROVIDER = 'charms/beacon-stub'


def repo_root() -> pathlib.Path | None:
    """The repository holding the named charms: this package's checkout, else the cwd.

    jujusim installed from the repository (``uv sync``, editable) finds it from its own
    location, so the named consumers work from any working directory.
    """
    here = pathlib.Path(__file__).resolve()
    for candidate in (*here.parents, pathlib.Path.cwd()):
        if (candidate / PROVIDER / 'charmcraft.yaml').is_file():
            return candidate
    return None


def repo_path(folder: str) -> pathlib.Path:
    """A folder of the repository, or ConsumerError saying where to run from."""
    root = repo_root()
    if root is None:
        raise ConsumerError(
            f'cannot find {folder}: run from the k8s-labels repository root, '
            'or pass charm folders by path'
        )
    return root / folder


def resolve(spec: str) -> CharmSource:
    """Load a consumer named in :data:`KNOWN`, or the charm folder at path ``spec``.

    Raises:
        ConsumerError: not a charm, no service-mesh endpoint, or a requirement that is not
            installed in this environment.
    """
    known = KNOWN.get(spec)
    path = repo_path(known.folder) if known else pathlib.Path(spec)
    if known is None and (not spec.strip() or not path.is_dir()):
        names = ', '.join(KNOWN)
        raise ConsumerError(f'{spec!r} is neither a charm folder nor one of: {names}')
    source = load_charm(path)
    if MESH_INTERFACE not in _required_interfaces(source):
        raise ConsumerError(f'{path} requires no endpoint of interface {MESH_INTERFACE!r}')
    missing = unmet_requirements(path)
    if missing:
        raise ConsumerError(
            f'{path}: {"; ".join(missing)} (jujusim runs the charm with the packages of '
            'this environment; install them into it: for the comparison consumers of this '
            'repository, `uv run --group unit jujusim ...`)'
        )
    return source


def _required_interfaces(source: CharmSource) -> set[str]:
    requires = cast('dict[str, Any]', source.meta.get('requires') or {})
    return {
        str(cast('dict[str, Any]', ep).get('interface'))
        for ep in requires.values()
        if isinstance(ep, dict)
    }


def load_charm(path: pathlib.Path) -> CharmSource:
    """Load any charm folder, or ConsumerError in one line."""
    try:
        return CharmSource.load(path)
    except CharmSourceError as e:
        raise ConsumerError(f'not a charm: {e}') from None


def unmet_requirements(charm: pathlib.Path) -> list[str]:
    """Each line of the charm's ``requirements.txt`` that this environment does not meet."""
    path = charm / 'requirements.txt'
    if not path.is_file():
        return []
    unmet: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split('#', 1)[0].strip()
        if not line or line.startswith('-'):
            continue  # a comment, or a pip option (an index, a constraints file)
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            unmet.append(f'requirements.txt line {line!r} is not a requirement')
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            unmet.append(f'{requirement} is not installed')
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            unmet.append(f'{requirement} is not met: {installed} is installed')
    return unmet
