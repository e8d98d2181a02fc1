"""A worker's shortcuts: the same YAML, the same metadata, nothing reached while warming up."""

from __future__ import annotations

import copy
import importlib
import importlib.machinery
import inspect
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import lightkube.config.kubeconfig
import ops
import ops.testing
import pytest
import scenario._ops_main_mock
import scenario._runtime
import scenario.errors
import yaml

from jujusim import kube
from jujusim.agent import CharmSource, HookSpec
from jujusim.agent._private import speedups, worker, zygote

CHARMS = pathlib.Path(__file__).parents[3] / 'charms'
SOURCES = [CHARMS / 'mesh-consumer', CHARMS / 'beacon-stub']


class _IdentityDumpCache:
    """A broken cache: keyed by the document's identity, blind to changes in place."""

    def __init__(self) -> None:
        self._dumped: dict[int, str] = {}

    def __call__(self, data: Any) -> str:
        return self._dumped.setdefault(id(data), yaml.safe_dump(data))


def _dumps_like_pyyaml(dump: Any, document: dict[str, Any]) -> bool:
    """``dump`` gives PyYAML's text, before and after the document changes in place."""
    if dump(document) != yaml.safe_dump(document):
        return False
    first = dump(document)
    document['name'] = f'{document.get("name", "")}-changed'
    return dump(document) == yaml.safe_dump(document) != first


@pytest.mark.parametrize('path', SOURCES, ids=lambda p: p.name)
def test_dump_cache_gives_pyyamls_text_and_dumps_a_changed_document_again(path: pathlib.Path):
    source = CharmSource.load(path)
    for document in (source.config, source.actions):
        cache = speedups.DumpCache()
        assert cache(document) == yaml.safe_dump(document)
        assert cache(document) == yaml.safe_dump(document)  # now from the cache
    assert _dumps_like_pyyaml(speedups.DumpCache(), source.context_kwargs()['meta'])


def test_the_dump_check_catches_a_cache_keyed_by_identity():
    assert not _dumps_like_pyyaml(_IdentityDumpCache(), CharmSource.load(SOURCES[0]).meta)


def _write_metadata(root: pathlib.Path, source: CharmSource) -> None:
    (root / 'metadata.yaml').write_text(yaml.safe_dump(source.meta))
    (root / 'actions.yaml').write_text(yaml.safe_dump(source.actions))
    (root / 'config.yaml').write_text(yaml.safe_dump(source.config))


def _meta_summary(meta: ops.CharmMeta) -> tuple[Any, ...]:
    return (
        meta.name,
        sorted(meta.requires),
        sorted(meta.provides),
        sorted(meta.peers),
        sorted(meta.containers),
        sorted(meta.actions),
        sorted(meta.config),
    )


def test_meta_cache_builds_what_from_yaml_builds_per_text(tmp_path: pathlib.Path):
    cache = speedups.MetaCache()
    for path in SOURCES:
        source = CharmSource.load(path)
        _write_metadata(tmp_path, source)
        expected = ops.CharmMeta.from_yaml(
            (tmp_path / 'metadata.yaml').read_text(),
            (tmp_path / 'actions.yaml').read_text(),
            (tmp_path / 'config.yaml').read_text(),
        )
        # Same folder, new texts: a cache keyed by the folder would give the old charm.
        assert _meta_summary(cache.load(tmp_path)) == _meta_summary(expected)
        assert cache.load(tmp_path) is not cache.load(tmp_path)  # a fresh CharmMeta each time
    (tmp_path / 'actions.yaml').unlink()
    (tmp_path / 'config.yaml').write_text('')
    assert cache.load(tmp_path).actions == {}
    assert cache.load(tmp_path).config == {}


@pytest.fixture
def undone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Whatever ``speedups.install()`` changes in this process is undone after the test."""
    had_ops_tracing = 'ops_tracing' in sys.modules
    monkeypatch.setattr(scenario._runtime, 'yaml', yaml)
    monkeypatch.setattr(lightkube.config.kubeconfig, 'yaml', yaml)
    monkeypatch.setattr(scenario._runtime, 'copy', copy)
    monkeypatch.setattr(ops.framework, 'inspect', inspect)
    manager_type: Any = scenario._ops_main_mock.Ops
    monkeypatch.setattr(manager_type, '_load_charm_meta', manager_type._load_charm_meta)
    for module in speedups.TRACED_OPS_MODULES:
        monkeypatch.setattr(module, 'tracer', getattr(module, 'tracer'))  # noqa: B009
    yield
    if not had_ops_tracing:
        sys.modules.pop('ops_tracing', None)


@pytest.fixture
def installed(undone: None) -> None:
    """``speedups.install()`` in this process, undone afterwards."""
    speedups.install()
    speedups.install()  # idempotent


class _NamesItself(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        framework.observe(self.on.start, self._on_start)

    def _on_start(self, _: ops.StartEvent) -> None:
        options = ','.join(sorted(self.meta.config))
        self.unit.status = ops.ActiveStatus(f'{self.meta.name} {options}')


@pytest.mark.usefixtures('installed')
def test_installed_hooks_see_their_own_charms_metadata():
    for name, options in (('first', ['a']), ('second', ['b', 'c'])):
        ctx = ops.testing.Context(
            _NamesItself,
            meta={'name': name},
            config={'options': {o: {'type': 'string'} for o in options}},
        )
        state = ctx.run(ctx.on.start(), ops.testing.State())
        assert state.unit_status == ops.testing.ActiveStatus(f'{name} {",".join(options)}')


@pytest.mark.usefixtures('installed')
def test_installed_kubeconfig_reads_the_same(tmp_path: pathlib.Path):
    path = kube.write_kubeconfig(
        tmp_path / 'config',
        server='http://127.0.0.1:1',
        token='t0ken',
        namespace='ns',
        insecure_skip_tls_verify=True,
    )
    config = _single(lightkube.config.kubeconfig.KubeConfig.from_file(path))
    assert config.cluster.server == 'http://127.0.0.1:1'
    assert config.user is not None
    assert config.user.token == 't0ken'
    assert config.namespace == 'ns'


def _single(config: lightkube.config.kubeconfig.KubeConfig) -> Any:
    current = config.get()
    assert current is not None
    return current


@pytest.fixture
def pod_service_account(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make this process look like a pod: a service account where lightkube looks first."""
    account = tmp_path / 'serviceaccount'
    account.mkdir()
    (account / 'token').write_text('pod-token')
    (account / 'namespace').write_text('runner')
    (account / 'ca.crt').write_text('')
    monkeypatch.setenv('KUBERNETES_SERVICE_HOST', '10.0.0.1')
    monkeypatch.setenv('KUBERNETES_SERVICE_PORT', '443')
    function: Any = lightkube.config.kubeconfig.KubeConfig.from_env.__func__
    monkeypatch.setattr(function, '__defaults__', (str(account), function.__defaults__[1]))
    return 'https://10.0.0.1:443'


def test_a_worker_reads_kubeconfig_even_inside_a_pod(
    pod_service_account: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    path = kube.write_kubeconfig(
        tmp_path / 'config', server='http://127.0.0.1:1', token='t', namespace='ns'
    )
    monkeypatch.setenv('KUBECONFIG', str(path))
    from_env = lightkube.config.kubeconfig.KubeConfig.from_env
    assert _single(from_env()).cluster.server == pod_service_account  # what a pod would do

    worker.isolate_from_cluster()

    assert _single(from_env()).cluster.server == 'http://127.0.0.1:1'


@pytest.fixture
def served_api(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[kube.FakeKube]:
    """A fake API this process's ``KUBECONFIG`` points at, as an admin."""
    fake = kube.FakeKube()
    fake.register_caller('admin-token', kube.AdminPolicy(), name='tester')
    fake.ensure_namespace('default')
    with kube.KubeServer(fake.handle) as server:
        path = server.write_kubeconfig(
            tmp_path / 'config', token='admin-token', namespace='default'
        )
        monkeypatch.setenv('KUBECONFIG', str(path))
        yield fake


def _warm_state() -> ops.testing.State:
    return ops.testing.State(
        leader=True, containers={ops.testing.Container('web', can_connect=True)}
    )


def test_warm_charm_reaches_no_api_and_restores_the_environment(served_api: kube.FakeKube):
    source = CharmSource.load(CHARMS / 'mesh-consumer')
    charm_type = source.load_charm_class()
    before = dict(os.environ)

    zygote.warm_charm(charm_type, source, '3.6.14')

    assert served_api.log.entries(caller='tester') == []
    assert dict(os.environ) == before
    # The same charm and hook with the environment left as it was does reach the API.
    runner = worker.Worker(charm_type, source, unit='mesh-consumer/0', juju_version='3.6.14')
    runner.run_hook(0, HookSpec(kind='config_changed'), _warm_state())
    assert served_api.log.entries(caller='tester') != []


class _Hangs(ops.CharmBase):
    """Waits forever for an API it cannot reach, swallowing every Exception meanwhile."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        framework.observe(self.on.upgrade_charm, self._on_upgrade)

    def _on_upgrade(self, _: ops.UpgradeCharmEvent) -> None:
        while True:
            try:
                time.sleep(60)
            except Exception:  # noqa: S112 - the point: a charm that retries on anything
                continue


def test_warm_charm_cuts_off_a_charm_that_hangs(tmp_path: pathlib.Path):
    source = CharmSource(
        path=tmp_path, meta={'name': 'hangs'}, config={}, actions={}, entrypoint=tmp_path
    )
    started = time.monotonic()
    zygote.warm_charm(_Hangs, source, '3.6.14', budget=0.2)
    assert time.monotonic() - started < 10  # cut off, not 60 s of sleep
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


class _UsesPebble(ops.CharmBase):
    """Goes through ops' traced paths: main, an observer, a hook tool, Pebble, storage."""

    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        framework.observe(self.on['web'].pebble_ready, self._on_ready)

    def _on_ready(self, event: ops.PebbleReadyEvent) -> None:
        layer = ops.pebble.Layer({'services': {'s': {'override': 'replace', 'command': 'x'}}})
        event.workload.add_layer('l', layer, combine=True)
        self._stored.set_default(n=0)
        self._stored.n += 1
        self.unit.status = ops.ActiveStatus(f'{sorted(event.workload.get_plan().services)}')


@pytest.mark.usefixtures('installed')
def test_installed_ops_spans_go_nowhere_and_hooks_run_as_before():
    if speedups.ops_tracing_installed():
        pytest.skip('ops[tracing] is installed: its spans are recorded, not dropped')
    assert all(isinstance(m.tracer, speedups.NoTracer) for m in speedups.TRACED_OPS_MODULES)
    ctx = ops.testing.Context(_UsesPebble, meta={'name': 'p', 'containers': {'web': {}}})
    container = ops.testing.Container('web', can_connect=True)
    state = ctx.run(ctx.on.pebble_ready(container), ops.testing.State(containers={container}))
    assert state.unit_status == ops.testing.ActiveStatus("['s']")
    with speedups.NoTracer().start_as_current_span('x') as span:
        assert not span.is_recording()


def _modules_searched_in_a_hook(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    searched: set[str] = set()
    find_spec = importlib.machinery.PathFinder.find_spec

    def recording(name: str, *args: Any, **kwargs: Any) -> Any:
        searched.add(name)
        return find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.machinery.PathFinder, 'find_spec', recording)
    ctx = ops.testing.Context(_NamesItself, meta={'name': 'n'})
    ctx.run(ctx.on.start(), ops.testing.State())
    return searched


@pytest.mark.usefixtures('undone')
def test_installed_a_missing_ops_tracing_is_not_searched_for_every_hook(
    monkeypatch: pytest.MonkeyPatch,
):
    if speedups.ops_tracing_installed():
        pytest.skip('ops[tracing] is installed: ops.testing imports it every hook')
    assert 'ops_tracing' in _modules_searched_in_a_hook(monkeypatch)  # as ops.testing does
    speedups.install()
    assert 'ops_tracing' not in _modules_searched_in_a_hook(monkeypatch)
    assert not speedups.ops_tracing_installed()  # still answers, and the same
    with pytest.raises(ImportError):
        importlib.import_module('ops_tracing')


@pytest.mark.usefixtures('undone')
def test_ops_tracer_is_kept_when_ops_tracing_records_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(speedups, 'ops_tracing_installed', lambda: True)
    before = [m.tracer for m in speedups.TRACED_OPS_MODULES]
    speedups.install()
    assert [m.tracer for m in speedups.TRACED_OPS_MODULES] == before


def _rich_state() -> ops.testing.State:
    relation = ops.testing.Relation(
        'db', local_app_data={'a': '1'}, remote_app_data={'b': '2'}, remote_units_data={0: {}}
    )
    layer = ops.pebble.Layer({'services': {'s': {'override': 'replace', 'command': 'x'}}})
    return ops.testing.State(
        leader=True,
        config={'port': 80},
        relations={relation},
        containers={ops.testing.Container('web', can_connect=True, layers={'l': layer})},
        stored_states={ops.testing.StoredState(owner_path='C', content={'seen': [1, 2]})},
        unit_status=ops.testing.ActiveStatus('up'),
    )


def _is_deep_copy(copier: Any) -> bool:
    """``copier`` copies a State equal to the original, with nothing mutable shared."""
    original = _rich_state()
    copied = copier(original)
    if copied != original:
        return False
    next(iter(copied.relations)).local_app_data['a'] = 'changed'
    next(iter(copied.stored_states)).content['seen'].append(3)
    return next(iter(original.relations)).local_app_data == {'a': '1'} and next(
        iter(original.stored_states)
    ).content == {'seen': [1, 2]}


def test_copy_by_pickle_copies_as_deep_as_deepcopy():
    assert _is_deep_copy(copy.deepcopy)
    assert _is_deep_copy(speedups.copy_by_pickle)
    assert not _is_deep_copy(copy.copy)  # the check catches a shallow copy


def test_copy_by_pickle_falls_back_to_deepcopy_for_what_pickle_refuses():
    value = {'handler': lambda: None, 'data': [1]}
    copied = speedups.copy_by_pickle(value)
    assert copied['handler'] is value['handler']  # as deepcopy does with functions
    assert copied['data'] == [1] and copied['data'] is not value['data']


class _TakesEvent:
    def _on_event(self, event: ops.EventBase) -> None: ...


class _TakesNothing:
    def _on_event(self) -> None: ...


class _NameKeyedSignatures:
    """A broken cache: keyed by the method's name, so two classes' handlers collide."""

    def __init__(self) -> None:
        self._signatures: dict[str, inspect.Signature] = {}

    def __call__(self, obj: Any, *, follow_wrapped: bool = True) -> inspect.Signature:
        return self._signatures.setdefault(
            obj.__name__, inspect.signature(obj, follow_wrapped=follow_wrapped)
        )


def _answers_as_inspect(signature: Any) -> bool:
    handlers = [_TakesEvent()._on_event, _TakesNothing()._on_event]
    return all(
        signature(h, follow_wrapped=False) == inspect.signature(h, follow_wrapped=False)
        for h in handlers
    )


def test_signature_cache_answers_as_inspect_per_function():
    cache = speedups.SignatureCache()
    assert _answers_as_inspect(cache)
    first, second = _TakesEvent(), _TakesEvent()
    assert cache(first._on_event, follow_wrapped=False) is cache(
        second._on_event, follow_wrapped=False
    )  # built once for the function
    assert not _answers_as_inspect(_NameKeyedSignatures())  # the check catches a collision


class _ObservesWithoutEvent(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        handler: Any = self._on_start  # wrong on purpose: ops must refuse it
        framework.observe(self.on.start, handler)

    def _on_start(self) -> None: ...


@pytest.mark.usefixtures('installed')
def test_installed_ops_still_refuses_an_observer_without_an_event_parameter():
    for charm_type in (_NamesItself, _ObservesWithoutEvent):  # the good one cached first
        ctx = ops.testing.Context(charm_type, meta={'name': 'n'})
        if charm_type is _NamesItself:
            ctx.run(ctx.on.start(), ops.testing.State())
            continue
        with pytest.raises(scenario.errors.UncaughtCharmError, match='must be callable'):
            ctx.run(ctx.on.start(), ops.testing.State())


def test_warm_charm_takes_metadata_with_an_empty_containers_key(tmp_path: pathlib.Path):
    # `containers:` with nothing under it is null in YAML; a crash here would kill spares.
    source = CharmSource(
        path=tmp_path,
        meta={'name': 'bare', 'containers': None},
        config={},
        actions={},
        entrypoint=tmp_path,
    )
    zygote.warm_charm(_NamesItself, source, '3.6.14')


def test_zygote_warms_the_decoders_of_every_kind_the_fake_api_serves():
    assert set(zygote.WARM_KINDS) == {(r.api_version, r.kind) for r in kube.RESOURCES}


def test_a_zygote_does_not_import_the_fake_api():
    # The fake API's TLS, store and server cost a zygote ~0.16 s of start-up it never uses.
    check = 'import sys, jujusim.agent._private.zygote; print("jujusim.kube" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', check], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'False'
