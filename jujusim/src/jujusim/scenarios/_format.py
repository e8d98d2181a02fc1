"""Scenario files: YAML a person can read and edit, parsed strictly.

A file is a mapping with ``name`` (optional: the file's stem), ``description`` and
``steps``. Each step is its name alone (``- settle``) or a one-key mapping from its name to
its fields (``- delete-pod: {unit: consumer/leader, force: true}``);
``concurrently`` takes a list of steps. Unknown names and fields, wrong types, duplicate
keys and impossible values are refused with one message naming the file, the step and
the field.
"""

from __future__ import annotations

import dataclasses
import pathlib
import types
import typing
from collections.abc import Mapping
from typing import Any, cast

import msgspec
import yaml

from ..model import MAX_UNITS, MAX_VIRTUAL_SECONDS
from . import _steps
from ._steps import (
    ACTIONS,
    STEP_NAMES,
    ApiError,
    ApiOutage,
    Concurrently,
    DeletePod,
    Deploy,
    ForeignLabels,
    Integrate,
    Kill,
    LeaderChange,
    RemoveRelation,
    Scale,
    Scenario,
    Stall,
    Step,
    parse_unit_ref,
    step_name,
)


class ScenarioError(ValueError):
    """A scenario file or step that cannot be run; the message says where and why."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice (PyYAML keeps the last silently)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    pairs = cast('list[tuple[yaml.Node, yaml.Node]]', node.value)
    for key_node, _ in pairs:
        key = cast('object', loader.construct_object(key_node))  # pyright: ignore[reportUnknownMemberType]
        if key in seen:
            mark = key_node.start_mark
            raise ScenarioError(f'line {mark.line + 1}: key {key!r} is given twice')
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_scenario(path: str | pathlib.Path) -> Scenario:
    """Read and check a scenario file.

    Raises:
        ScenarioError: the file is missing, not YAML, or not a valid scenario.
    """
    file = pathlib.Path(path)
    try:
        text = file.read_text()
    except OSError as error:
        raise ScenarioError(f'{file}: cannot read: {error.strerror}') from None
    except UnicodeDecodeError:
        raise ScenarioError(f'{file}: cannot read: not UTF-8 text') from None
    try:
        return parse_scenario(text, default_name=file.stem)
    except ScenarioError as error:
        raise ScenarioError(f'{file}: {error}') from None


def parse_scenario(text: str, *, default_name: str = 'scenario') -> Scenario:
    """Parse a scenario from YAML text.

    Raises:
        ScenarioError: not YAML, or not a valid scenario.
    """
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a safe loader's subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f'line {mark.line + 1}: ' if mark is not None else ''
        raise ScenarioError(f'not valid YAML: {where}{error.problem}') from None
    except RecursionError:
        raise ScenarioError('not a scenario: nested too deeply') from None
    except yaml.YAMLError as error:
        raise ScenarioError(f'not valid YAML: {error}') from None
    if not isinstance(doc, dict):
        raise ScenarioError('a scenario is a mapping with "description" and "steps"')
    doc = cast('dict[Any, Any]', doc)
    unknown = set(doc) - {'name', 'description', 'steps'}
    if unknown:
        raise ScenarioError(
            f'unknown top-level key {sorted(map(str, unknown))[0]!r}: '
            'expected name, description, steps'
        )
    name = doc.get('name', default_name)
    description = doc.get('description', '')
    if not isinstance(name, str) or not isinstance(description, str):
        raise ScenarioError('"name" and "description" are strings')
    raw_steps = doc.get('steps')
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ScenarioError('"steps" is a non-empty list of steps')
    try:
        steps = tuple(
            parse_step(raw, where=f'step {i}')
            for i, raw in enumerate(cast('list[Any]', raw_steps), 1)
        )
    except RecursionError:
        raise ScenarioError('not a scenario: nested too deeply') from None
    return Scenario(name=name, description=description, steps=steps)


def parse_step(raw: Any, *, where: str = 'step') -> Step:
    """One step from its YAML form: a bare name, or a one-key mapping name -> fields.

    Raises:
        ScenarioError: naming ``where``, the step and the field at fault.
    """
    if isinstance(raw, str):
        name, fields = raw, None
    elif isinstance(raw, dict) and len(cast('dict[Any, Any]', raw)) == 1:
        ((name, fields),) = cast('dict[Any, Any]', raw).items()
    else:
        raise ScenarioError(
            f'{where}: a step is a name ("settle") or one name with its fields '
            f'("delete-pod: {{unit: consumer/0}}"), not {_short(raw)}'
        )
    cls = STEP_NAMES.get(str(name))
    if cls is None:
        raise ScenarioError(f'{where}: unknown step {name!r}; known: {", ".join(STEP_NAMES)}')
    where = f'{where} ({name})'
    if cls is Concurrently:
        if not isinstance(fields, list) or not fields:
            raise ScenarioError(f'{where}: takes a non-empty list of steps')
        inner = tuple(
            parse_step(item, where=f'{where} item {i}')
            for i, item in enumerate(cast('list[Any]', fields), 1)
        )
        step: Step = Concurrently(steps=tuple(_action(s, where) for s in inner))
    else:
        if fields is None:
            fields = {}
        if not isinstance(fields, dict):
            raise ScenarioError(f'{where}: its fields are a mapping, not {_short(fields)}')
        _refuse_unknown(cls, cast('dict[Any, Any]', fields), where)
        try:
            step = msgspec.convert(fields, type=cls, strict=True)
        except msgspec.ValidationError as error:
            raise ScenarioError(f'{where}: {_msgspec_message(error)}') from None
    problem = step_problem(step)
    if problem is not None:
        raise ScenarioError(f'{where}: {problem}')
    return step


def _action(step: Step, where: str) -> _steps.Action:
    if isinstance(step, ACTIONS):
        return cast('_steps.Action', step)
    raise ScenarioError(
        f'{where}: {step_name(step)} cannot run concurrently; only actions that change '
        'the model can (settle and the checks come after)'
    )


def _refuse_unknown(cls: type[Any], fields: Mapping[Any, Any], where: str) -> None:
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    for key, value in fields.items():
        if key not in known:
            allowed = ', '.join(known) if known else 'none'
            raise ScenarioError(f'{where}: unknown field {key!r} (fields: {allowed})')
        nested = _dataclass_in(hints[key])
        if nested is not None and isinstance(value, dict):
            _refuse_unknown(nested, cast('dict[Any, Any]', value), f'{where} field {key!r}')


def _dataclass_in(hint: Any) -> type[Any] | None:
    candidates = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for candidate in candidates:
        if dataclasses.is_dataclass(candidate) and isinstance(candidate, type):
            return candidate
    return None


def _msgspec_message(error: msgspec.ValidationError) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.units`": name the field plainly.
    text = str(error)
    message, sep, path = text.partition(' - at `$.')
    if 'Expected `str`' in message:
        # YAML reads yes, no, on, off and bare numbers as other types than strings.
        message += ' (quote it)'
    elif 'Expected `float`, got `str`' in message:
        # YAML 1.1 reads 1e3 as a string: its floats need a dot (1.0e3).
        message += ' (a number: write 1e3 as 1.0e3)'
    if sep:
        return f'field {path.rstrip("`")!r}: {message}'
    return message


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def step_problem(step: Step) -> str | None:
    """What makes a well-typed step impossible, or None."""
    for unit in _unit_refs(step):
        try:
            parse_unit_ref(unit)
        except ValueError as error:
            return str(error)
    if isinstance(step, Deploy | Scale):
        least = 1 if isinstance(step, Deploy) else 0
        if not least <= step.units <= MAX_UNITS:
            return f'units must be from {least} to {MAX_UNITS} (each unit is a process here)'
    if isinstance(step, Integrate | RemoveRelation) and step.apps[0] == step.apps[1]:
        return 'the two applications must differ'
    if isinstance(step, Kill):
        aims = [step.at_call, step.request, step.before_hook]
        if sum(aim is not None for aim in aims) != 1:
            return 'give one of at_call (the nth API request of the hook), request or before_hook'
        if step.before_hook == 'action':
            return 'before_hook names a hook; an action is not one'
        if step.before_hook is not None and step.applied:
            return 'applied is for a kill at a request; before_hook kills between hooks'
    if isinstance(step, Stall) and step.at_call is not None and step.request is not None:
        return 'give at_call or request, not both'
    if isinstance(step, Kill | Stall):
        if step.at_call is not None and step.at_call < 1:
            return 'at_call counts from 1'
        if step.request is not None and step.request.nth < 1:
            return 'request nth counts from 1'
    if isinstance(step, LeaderChange) and step.to is not None:
        app, ordinal = parse_unit_ref(step.to)
        if app != step.app or ordinal is None:
            return f'to is a unit of {step.app} by number ({step.app}/N)'
    if isinstance(step, Stall | ApiOutage) and not 0 < step.seconds <= MAX_VIRTUAL_SECONDS:
        return f'seconds must be above 0 and at most {MAX_VIRTUAL_SECONDS:.0f} (a virtual day)'
    if isinstance(step, ApiError):
        if not 400 <= step.status <= 599:
            return 'status is an HTTP error status (400-599)'
        if step.count < 1:
            return 'count must be at least 1'
    if isinstance(step, ForeignLabels):
        if not step.labels:
            return 'labels must not be empty'
        of_unit = '/' in step.of
        if (step.kind == 'Pod') != of_unit:
            return 'of is a unit (app/N or app/leader) for a Pod, an application otherwise'
    return None


def _unit_refs(step: Step) -> list[str]:
    if isinstance(step, DeletePod | Kill | Stall):
        return [step.unit]
    if isinstance(step, LeaderChange) and step.to is not None:
        return [step.to]
    if isinstance(step, ApiError) and step.unit is not None:
        return [step.unit]
    if isinstance(step, ForeignLabels) and step.kind == 'Pod':
        return [step.of]
    return []


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as YAML that :func:`parse_scenario` reads back to an equal scenario."""
    doc = {
        'name': scenario.name,
        'description': scenario.description,
        'steps': [_dump_step(step) for step in scenario.steps],
    }
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=99)


def _dump_step(step: Step) -> Any:
    name = step_name(step)
    if isinstance(step, Concurrently):
        return {name: [_dump_step(s) for s in step.steps]}
    fields = {
        f.name: msgspec.to_builtins(getattr(step, f.name))
        for f in dataclasses.fields(step)
        if f.default is dataclasses.MISSING or getattr(step, f.name) != f.default
    }
    return {name: fields} if fields else name
