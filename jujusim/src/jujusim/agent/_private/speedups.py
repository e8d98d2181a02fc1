"""Shortcuts a worker takes where ops.testing, ops and lightkube redo the same work every hook.

Each hook, ``ops.testing`` writes the charm's metadata, config and actions out as YAML
(``scenario/_runtime.py``, ``Runtime._virtual_charm_root``, with ``yaml.safe_dump``) and
parses them back into a ``CharmMeta`` (``scenario/_ops_main_mock.py``,
``Ops._load_charm_meta``), and the library's lightkube client reads the unit's kubeconfig
(``lightkube/config/kubeconfig.py``, ``KubeConfig.from_file``, with ``yaml.safe_load``).
With PyYAML's pure-Python emitter that was about 3.5 ms of a 12 ms hook, for the same
three documents every time. :func:`install` makes a worker

- dump those documents once: a document equal to one dumped before gets the same text;
- parse each metadata text once, building a new ``CharmMeta`` from the parsed
  documents every hook (ops treats them as read-only);
- read the kubeconfig with libyaml's safe loader, as ops already does for its own YAML
  (``ops/_private/yaml.py``).

The charm's own ``yaml`` module is left alone.

ops also opens an OpenTelemetry span around its main, each observer, each hook tool and
Pebble call (``ops/_private/__init__.py``, ``tracer``). Without ``ops[tracing]`` they go
nowhere, yet opening them through the API's proxy tracer took ~10% of a hook; then ops'
modules get a tracer whose spans are the API's own non-recording one, and
``import ops_tracing``, which ops.testing tries every hook (``scenario/_ops_main_mock.py``,
``Ops.__init__``), fails at once instead of searching ``sys.path`` again (~3% of a hook).

Two more per-hook costs of unchanging answers:

- ops checks each observer's signature at ``observe`` (``ops/framework.py``,
  ``Framework.observe``), so every hook builds the signature of every handler again
  (~6% of a mesh-consumer hook); a bound method's signature depends only on its function,
  which ops' framework now looks up once per function.
- ops.testing deep-copies the input State every hook (``scenario/_runtime.py``,
  ``Runtime.exec``); a pickle round trip makes the same deep copy in C, ~3x faster.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import pathlib
import pickle
import sys
import types
from typing import Any, TextIO, cast

import lightkube.config.kubeconfig
import opentelemetry.trace
import ops
import ops._main
import ops.framework
import ops.model
import ops.pebble
import ops.storage
import scenario._ops_main_mock
import scenario._runtime
import yaml

_SAFE_DUMPER: Any = getattr(yaml, 'CSafeDumper', yaml.SafeDumper)
_SAFE_LOADER: Any = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
_CACHE_SIZE = 32  # documents per process: a worker runs one charm, three documents
_MetaTexts = tuple[str, str | None, str | None]


def safe_load(stream: str | bytes | TextIO) -> Any:
    """``yaml.safe_load`` through libyaml."""
    return yaml.load(stream, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader


class DumpCache:
    """``yaml.safe_dump`` that dumps a document equal to an earlier one only once."""

    def __init__(self) -> None:
        self._dumped: list[tuple[Any, str]] = []

    def __call__(self, data: Any, stream: TextIO | None = None, **kwargs: Any) -> Any:
        dump: Any = yaml.dump
        if stream is not None or kwargs:
            return dump(data, stream, Dumper=_SAFE_DUMPER, **kwargs)
        for document, text in self._dumped:
            if document == data:  # dict equality runs in C: far cheaper than representing
                return text
        text = str(dump(data, Dumper=_SAFE_DUMPER))
        # A copy, so that a document changed in place after its dump is dumped again.
        self._dumped = [(copy.deepcopy(data), text), *self._dumped[: _CACHE_SIZE - 1]]
        return text


class MetaCache:
    """Builds a ``CharmMeta`` from metadata texts, parsing each distinct set once."""

    def __init__(self) -> None:
        self._parsed: dict[_MetaTexts, tuple[Any, dict[str, Any], dict[str, Any]]] = {}

    def load(self, root: pathlib.Path) -> ops.CharmMeta:
        """What ``ops.CharmMeta.from_yaml`` makes of the files in ``root`` (ops/charm.py)."""
        key: _MetaTexts = (
            (root / 'metadata.yaml').read_text(),
            _read_if_present(root / 'actions.yaml'),
            _read_if_present(root / 'config.yaml'),
        )
        parsed = self._parsed.get(key)
        if parsed is None:
            metadata, actions, config = key
            # A missing or empty actions or config document is {} (ops/charm.py, from_yaml).
            parsed = (safe_load(metadata), _mapping(actions), _mapping(config))
            if len(self._parsed) >= _CACHE_SIZE:
                self._parsed.clear()
            self._parsed[key] = parsed
        return ops.CharmMeta(*parsed)


def _mapping(text: str | None) -> dict[str, Any]:
    return (safe_load(text) if text is not None else None) or {}


def _read_if_present(path: pathlib.Path) -> str | None:
    return path.read_text() if path.exists() else None


_META_CACHE = MetaCache()


def _load_charm_meta(self: Any) -> ops.CharmMeta:
    return _META_CACHE.load(pathlib.Path(self._charm_root))


def copy_by_pickle(value: Any) -> Any:
    """A deep copy of ``value`` through a pickle round trip; ``copy.deepcopy`` if it can't."""
    try:
        return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))  # noqa: S301 - ours
    except (pickle.PicklingError, TypeError, AttributeError):
        return copy.deepcopy(value)


class SignatureCache:
    """``inspect.signature`` that builds a bound method's signature once per function."""

    def __init__(self) -> None:
        self._signatures: dict[tuple[Any, bool], inspect.Signature] = {}

    def __call__(self, obj: Any, *, follow_wrapped: bool = True, **kwargs: Any) -> Any:
        if kwargs or not isinstance(obj, types.MethodType):
            return inspect.signature(obj, follow_wrapped=follow_wrapped, **kwargs)
        key = (obj.__func__, follow_wrapped)
        signature = self._signatures.get(key)
        if signature is None:
            signature = inspect.signature(obj, follow_wrapped=follow_wrapped)
            self._signatures[key] = signature
        return signature


def _with(module: types.ModuleType, **names: Any) -> types.ModuleType:
    shim = types.ModuleType(f'{module.__name__} (jujusim)')
    shim.__dict__.update(module.__dict__)
    shim.__dict__.update(names)
    return shim


def _shim(user: types.ModuleType, module: types.ModuleType, **names: Any) -> None:
    """Give ``user``, where it still names ``module`` itself, a copy of it with ``names``."""
    name = module.__name__
    if getattr(user, name) is module:  # not shimmed yet: install() is idempotent
        setattr(user, name, _with(module, **names))


class _NoSpan:
    """A span context that is always the non-recording span (stateless: one serves all)."""

    __slots__ = ()

    def __enter__(self) -> opentelemetry.trace.Span:
        return opentelemetry.trace.INVALID_SPAN

    def __exit__(self, *exc_info: object) -> None:
        return None


class NoTracer:
    """What ops' tracer does with no ``ops[tracing]``: nothing, without the proxy's cost."""

    _no_span = _NoSpan()

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> _NoSpan:
        """A context whose span records nothing."""
        del args, kwargs
        return self._no_span

    def start_span(self, *args: Any, **kwargs: Any) -> opentelemetry.trace.Span:
        """A span that records nothing."""
        del args, kwargs
        return opentelemetry.trace.INVALID_SPAN


# The ops modules that bind ``tracer`` from ops._private at import.
TRACED_OPS_MODULES = (ops._main, ops.framework, ops.model, ops.pebble, ops.storage)


def ops_tracing_installed() -> bool:
    """Whether ``ops[tracing]`` is installed: then ops.testing records ops' spans."""
    modules = cast('dict[str, types.ModuleType | None]', sys.modules)
    if 'ops_tracing' in modules:
        return modules['ops_tracing'] is not None  # None: install() found it missing
    return importlib.util.find_spec('ops_tracing') is not None


def install() -> None:
    """Install these shortcuts in this process; idempotent."""
    if not ops_tracing_installed():
        for module in TRACED_OPS_MODULES:
            setattr(module, 'tracer', NoTracer())  # noqa: B010 - not exported
        # Python caches no failed import; a None entry makes the import fail at once
        # (the import system's module cache, docs.python.org/3/reference/import.html).
        sys.modules.setdefault('ops_tracing', None)  # pyright: ignore[reportArgumentType]
    _shim(scenario._runtime, yaml, safe_dump=DumpCache())
    _shim(lightkube.config.kubeconfig, yaml, safe_load=safe_load)
    _shim(scenario._runtime, copy, deepcopy=copy_by_pickle)
    _shim(ops.framework, inspect, signature=SignatureCache())
    manager_type: Any = scenario._ops_main_mock.Ops
    manager_type._load_charm_meta = _load_charm_meta
