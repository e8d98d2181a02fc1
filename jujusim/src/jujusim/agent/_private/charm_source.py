"""A charm loaded from its source folder, as Juju would find it in a packed charm."""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib.util
import pathlib
import re
import sys
import types
from collections.abc import Mapping
from typing import Any, cast

import ops
import yaml

# Keys of charmcraft.yaml that only tell charmcraft how to pack; none reaches the unit.
# https://documentation.ubuntu.com/charmcraft/stable/reference/files/charmcraft-yaml-file
_PACKING_KEYS = frozenset(
    {
        'type',
        'bases',
        'base',
        'build-base',
        'platforms',
        'parts',
        'charm-libs',
        'charmhub',
    }
)
# The option types Juju accepts ('secret' since Juju 3.1); a null default means none.
# https://documentation.ubuntu.com/charmcraft/latest/reference/files/config-yaml-file,
# juju/charm README ("string, int, float or boolean. Everything else will cause Juju to error")
_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    'string': (str,),
    'int': (int,),
    'float': (float, int),
    'boolean': (bool,),
    'secret': (str,),
}
ConfigValue = str | int | float | bool
# JSON schema's scalar types, as an action parameter's ``type`` names them.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    'string': (str,),
    'integer': (int,),
    'number': (int, float),
    'boolean': (bool,),
    'array': (list, tuple),
    'object': (dict,),
}


class CharmSourceError(Exception):
    """A charm's source folder cannot be loaded: the message says what is wrong and where."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class CharmSource:
    """A charm's source folder: metadata, config, actions and the charm class's module.

    Build one with :meth:`load`. The dicts are in the shapes ``ops.testing.Context``
    takes as ``meta=``, ``config=`` and ``actions=``.

    Attributes:
        path: the charm's source folder (absolute).
        meta: the charm's metadata (name, containers, requires, provides, peers...).
        config: the config section, ``{'options': {name: {'type': ..., 'default': ...}}}``.
        actions: the actions section, ``{name: {'description': ..., 'params': ...}}``.
        entrypoint: the charm's entry point, ``src/charm.py`` unless said otherwise.
    """

    path: pathlib.Path
    meta: dict[str, Any]
    config: dict[str, Any]
    actions: dict[str, Any]
    entrypoint: pathlib.Path

    @classmethod
    def load(cls, path: str | pathlib.Path) -> CharmSource:
        """Read a charm's source folder.

        Metadata comes from ``charmcraft.yaml``; a charm that still keeps it in
        ``metadata.yaml`` (with ``config.yaml`` and ``actions.yaml``) is read from those.

        Raises:
            CharmSourceError: a file is missing or malformed; the message names it.
        """
        root = pathlib.Path(path).resolve()
        if not root.is_dir():
            raise CharmSourceError(f'charm source folder {root} does not exist')
        charmcraft = _read_yaml(root / 'charmcraft.yaml', required=False) or {}
        if 'extensions' in charmcraft:
            raise CharmSourceError(
                f'{root / "charmcraft.yaml"}: charmcraft extensions are not supported; '
                'expand them with `charmcraft expand-extensions`'
            )
        if 'name' in charmcraft:
            where = root / 'charmcraft.yaml'
            meta = {k: v for k, v in charmcraft.items() if k not in _PACKING_KEYS}
            config = _section(meta.pop('config', None), f'{where}: `config`')
            actions = _section(meta.pop('actions', None), f'{where}: `actions`')
        else:
            meta = _read_yaml(root / 'metadata.yaml', required=False)
            if meta is None:
                raise CharmSourceError(
                    f'{root}: no charm metadata: charmcraft.yaml has no `name` '
                    'and there is no metadata.yaml'
                )
            config = _read_yaml(root / 'config.yaml', required=False) or {}
            actions = _read_yaml(root / 'actions.yaml', required=False) or {}
            where = root / 'metadata.yaml'

        source = cls(
            path=root,
            meta=meta,
            config=config,
            actions=actions,
            entrypoint=root / 'src' / 'charm.py',
        )
        source._validate(where)
        return source

    @property
    def name(self) -> str:
        """The charm's name, from its metadata."""
        return cast('str', self.meta['name'])

    @property
    def containers(self) -> tuple[str, ...]:
        """The names of the charm's workload containers."""
        return tuple(sorted(self.meta.get('containers') or {}))

    @property
    def endpoints(self) -> dict[str, str]:
        """Each relation endpoint's role: ``requires``, ``provides`` or ``peers``."""
        roles: dict[str, str] = {}
        for role in ('requires', 'provides', 'peers'):
            for endpoint in cast('dict[str, Any]', self.meta.get(role) or {}):
                roles[endpoint] = role
        return roles

    @property
    def config_defaults(self) -> dict[str, ConfigValue]:
        """The value of every option that has a default, as Juju gives it before any change."""
        options: dict[str, dict[str, Any]] = self.config.get('options') or {}
        return {
            name: opt['default'] for name, opt in options.items() if opt.get('default') is not None
        }

    def settings_problems(self, settings: Mapping[str, Any]) -> list[str]:
        """What Juju refuses in ``settings`` for this charm, as ``juju config`` says it.

        Juju's ``Config.ValidateSettings`` (juju/juju ``internal/charm/config.go``): every
        key must be an option, every value of its option's type; None resets an option.
        """
        options: dict[str, dict[str, Any]] = self.config.get('options') or {}
        problems: list[str] = []
        for name, value in settings.items():
            option = options.get(name)
            if option is None:
                problems.append(f'unknown option {name!r}')
                continue
            kind = option.get('type')
            if value is not None and kind in _CONFIG_TYPES and not _fits(kind, value):
                problems.append(f'option {name!r} expected {kind}, got {value!r}')
        return problems

    def action_problems(self, action: str, params: Mapping[str, Any]) -> list[str]:
        """What Juju refuses in running ``action`` with ``params``, before any unit runs it.

        Juju validates the parameters against the action's JSON schema when the task is
        made (juju/charm ``actions.go`` ``ActionSpec.ValidateParams``, gojsonschema); this
        checks the common part of that schema: the action exists, ``required`` names are
        given, ``additionalProperties: false`` refuses others, and each parameter's
        scalar ``type``.
        """
        spec = self.actions.get(action)
        if spec is None:
            return [f'the charm declares no action {action!r} (it has {sorted(self.actions)})']
        declared: dict[str, Any] = spec.get('params') or {}
        required: list[Any] = spec.get('required') or []
        problems = [
            f'missing required parameter {name!r}' for name in required if name not in params
        ]
        for name, value in params.items():
            param = declared.get(name)
            if param is None:
                if spec.get('additionalProperties', True) is False:
                    problems.append(f'unknown parameter {name!r} (it takes {sorted(declared)})')
                continue
            kind: Any = (
                cast('dict[str, Any]', param).get('type') if isinstance(param, dict) else None
            )
            types = _JSON_TYPES.get(kind) if isinstance(kind, str) else None
            if types is not None and (
                not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
            ):
                problems.append(f'parameter {name!r} must be of type {kind}, not {value!r}')
        return problems

    @property
    def import_paths(self) -> tuple[pathlib.Path, pathlib.Path]:
        """The folders put first on ``sys.path``: the entry point's folder, then ``lib``."""
        return (self.entrypoint.parent, self.path / 'lib')

    def context_kwargs(self) -> dict[str, Any]:
        """Fresh ``meta=``, ``config=`` and ``actions=`` arguments for ``ops.testing.Context``."""
        return {
            'meta': copy.deepcopy(self.meta),
            'config': copy.deepcopy(self.config),
            'actions': copy.deepcopy(self.actions),
        }

    def load_charm_class(self) -> type[ops.CharmBase]:
        """Import the charm's module and return its charm class.

        Juju's dispatch script runs ``PYTHONPATH=lib:venv exec ./src/charm.py``
        (https://documentation.ubuntu.com/charmcraft/stable/reference/files/dispatch-file),
        so ``src/`` and ``lib/`` go first on ``sys.path``. The module is imported under
        a name of its own, never ``__main__``, so its ``ops.main(...)`` does not run.
        The class is the one the module hands to ``ops.main``; failing that, the only
        ``CharmBase`` subclass it defines.

        Raises:
            CharmSourceError: the module is missing, fails to import, or names no
                single charm class.
        """
        if not self.entrypoint.is_file():
            raise CharmSourceError(f'{self.entrypoint}: charm entry point not found')
        module_name = '_jujusim_charm_' + re.sub(r'\W', '_', self.name)
        module = sys.modules.get(module_name)
        if module is None or getattr(module, '__file__', None) != str(self.entrypoint):
            module = self._import(module_name)
        return self._find_charm_class(module)

    def _import(self, module_name: str) -> types.ModuleType:
        for folder in reversed(self.import_paths):
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        spec = importlib.util.spec_from_file_location(module_name, self.entrypoint)
        if spec is None or spec.loader is None:  # pragma: no cover - only for odd suffixes
            raise CharmSourceError(f'{self.entrypoint}: cannot be imported')
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[module_name]
            raise CharmSourceError(
                f'{self.entrypoint}: import failed: {type(e).__name__}: {e}'
            ) from e
        return module

    def _find_charm_class(self, module: types.ModuleType) -> type[ops.CharmBase]:
        named = _main_argument(self.entrypoint.read_text())
        if named is not None:
            candidate: object = module
            for part in named.split('.'):
                candidate = getattr(candidate, part, None)
            if isinstance(candidate, type) and issubclass(candidate, ops.CharmBase):
                return candidate
        defined = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, ops.CharmBase)
            and obj.__module__ == module.__name__
        ]
        if len(defined) == 1:
            return defined[0]
        found = ', '.join(sorted(c.__name__ for c in defined)) or 'none'
        raise CharmSourceError(
            f'{self.entrypoint}: cannot tell the charm class: no `ops.main(<class>)` call '
            f'and {len(defined)} CharmBase subclasses defined ({found})'
        )

    def _validate(self, where: pathlib.Path) -> None:
        problems: list[str] = []
        name = self.meta.get('name')
        if not isinstance(name, str) or not name:
            problems.append('`name` must be a non-empty string')
        for section in ('containers', 'requires', 'provides', 'peers'):
            value = self.meta.get(section)
            if value is not None and not isinstance(value, dict):
                problems.append(f'`{section}` must be a mapping')
        options = self.config.get('options')
        if options is not None and not isinstance(options, dict):
            problems.append('`config.options` must be a mapping')
        for opt_name, opt in cast('dict[str, Any]', options or {}).items():
            problems.extend(_option_problems(opt_name, opt))
        if problems:
            raise CharmSourceError(f'{where}: ' + '; '.join(problems))


def _option_problems(name: str, opt: Any) -> list[str]:
    if not isinstance(opt, dict):
        return [f'config option {name!r} must be a mapping']
    opt = cast('dict[str, Any]', opt)
    kind = opt.get('type')
    if kind not in _CONFIG_TYPES:
        return [f'config option {name!r} has type {kind!r}, not one of {sorted(_CONFIG_TYPES)}']
    default = opt.get('default')
    if default is not None and not _fits(kind, default):
        return [f'config option {name!r} default {default!r} is not a {kind}']
    return []


def _fits(kind: str, value: Any) -> bool:
    """Whether ``value`` is of config type ``kind`` (one of ``_CONFIG_TYPES``)."""
    # bool is an int in Python, but Juju does not take true for an int option.
    if isinstance(value, bool) and kind != 'boolean':
        return False
    return isinstance(value, _CONFIG_TYPES[kind])


def _section(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CharmSourceError(f'{where} must be a mapping')
    return cast('dict[str, Any]', value)


def _read_yaml(path: pathlib.Path, *, required: bool) -> dict[str, Any] | None:
    if not path.exists():
        if required:  # pragma: no cover - every caller passes required=False today
            raise CharmSourceError(f'{path} not found')
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as e:  # one line: the problem and where
        mark = e.problem_mark
        where = f'line {mark.line + 1}: ' if mark is not None else ''
        raise CharmSourceError(f'{path}: not valid YAML: {where}{e.problem}') from e
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CharmSourceError(f'{path}: not valid YAML: {e}') from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CharmSourceError(f'{path}: the top level must be a mapping')
    return cast('dict[str, Any]', data)


def _main_argument(source: str) -> str | None:
    """The class name a module passes to ``ops.main(...)``, if it plainly passes one."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = (
            func.attr
            if isinstance(func, ast.Attribute)
            else func.id
            if isinstance(func, ast.Name)
            else None
        )
        if called == 'main' and isinstance(node.args[0], ast.Name | ast.Attribute):
            # ``ops.main(Charm)`` or ``ops.main(module.Charm)``: a dotted path from the module.
            return ast.unparse(node.args[0])
    return None
