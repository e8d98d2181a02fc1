from __future__ import annotations

import pathlib
import textwrap

import agent_helpers
import ops.testing
import pytest

from jujusim import agent


def write(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


MINIMAL_CHARM = textwrap.dedent("""
    import ops

    class Helper(ops.Object):
        pass

    class First(ops.CharmBase):
        pass

    class Second(ops.CharmBase):
        pass
""")


def test_counter_metadata_as_context_takes_it():
    source = agent.CharmSource.load(agent_helpers.COUNTER)

    assert source.name == 'counter'
    assert source.containers == ('workload',)
    assert source.endpoints == {'db': 'requires', 'out': 'provides', 'peers': 'peers'}
    assert source.config_defaults == {
        'fail-on': '',
        'defer-on': '',
        'gate': '',
        'greeting': 'hello',
        'wait-on': '',
    }
    assert set(source.actions) == {'count', 'explode', 'refuse'}
    assert source.entrypoint == agent_helpers.COUNTER.resolve() / 'src' / 'charm.py'
    # Packing keys never reach the unit; config and actions are split out.
    assert not {'type', 'base', 'platforms', 'parts', 'config', 'actions'} & set(source.meta)


def test_context_built_from_source_runs_the_charm():
    source = agent.CharmSource.load(agent_helpers.COUNTER)
    charm = source.load_charm_class()
    assert charm.__name__ == 'CounterCharm'

    with ops.testing.Context(charm, **source.context_kwargs()) as ctx:
        state = ctx.run(ctx.on.config_changed(), ops.testing.State(config=source.config_defaults))
    assert state.unit_status == ops.testing.ActiveStatus('1 hooks, last config_changed')


def test_context_kwargs_are_fresh_copies():
    source = agent.CharmSource.load(agent_helpers.COUNTER)
    kwargs = source.context_kwargs()
    kwargs['config']['options']['greeting']['default'] = 'changed'
    assert source.config_defaults['greeting'] == 'hello'


def test_legacy_metadata_files(tmp_path: pathlib.Path):
    root = write(
        tmp_path,
        {
            'metadata.yaml': 'name: old\nrequires: {db: {interface: x}}\n',
            'config.yaml': 'options: {n: {type: int, default: 3}}\n',
            'actions.yaml': 'go: {description: go}\n',
            'src/charm.py': MINIMAL_CHARM + '\nif __name__ == "__main__":\n    ops.main(Second)\n',
        },
    )
    source = agent.CharmSource.load(root)
    assert source.name == 'old'
    assert source.config_defaults == {'n': 3}
    assert set(source.actions) == {'go'}
    assert source.endpoints == {'db': 'requires'}


def test_charm_class_is_the_one_given_to_ops_main(tmp_path: pathlib.Path):
    root = write(
        tmp_path,
        {
            'charmcraft.yaml': 'name: pick',
            'src/charm.py': MINIMAL_CHARM + '\nif __name__ == "__main__":\n    ops.main(Second)\n',
        },
    )
    assert agent.CharmSource.load(root).load_charm_class().__name__ == 'Second'


def test_lib_and_src_are_importable_from_the_charm(tmp_path: pathlib.Path):
    root = write(
        tmp_path,
        {
            'charmcraft.yaml': 'name: libbed',
            'lib/charms/libbed/v0/thing.py': 'VALUE = 7\n',
            'src/helper.py': 'from charms.libbed.v0.thing import VALUE\n',
            'src/charm.py': """
                import ops
                import helper

                class Libbed(ops.CharmBase):
                    value = helper.VALUE
            """,
        },
    )
    charm = agent.CharmSource.load(root).load_charm_class()
    assert charm.__name__ == 'Libbed'
    assert getattr(charm, 'value') == 7  # noqa: B009


@pytest.mark.parametrize(
    ('files', 'message'),
    [
        ({}, 'no charm metadata'),
        ({'charmcraft.yaml': 'name: [unclosed'}, 'not valid YAML'),
        ({'charmcraft.yaml': '- a list'}, 'top level must be a mapping'),
        ({'charmcraft.yaml': 'name: x\nextensions: [flask-framework]'}, 'extensions'),
        ({'charmcraft.yaml': 'name: ""'}, '`name` must be a non-empty string'),
        ({'charmcraft.yaml': 'name: x\nrequires: [db]'}, '`requires` must be a mapping'),
        ({'charmcraft.yaml': 'name: x\nconfig: 3'}, '`config` must be a mapping'),
        (
            {'charmcraft.yaml': 'name: x\nconfig: {options: {n: {type: integer}}}'},
            "config option 'n' has type 'integer'",
        ),
        (
            {'charmcraft.yaml': 'name: x\nconfig: {options: {n: {type: int, default: true}}}'},
            "config option 'n' default True is not a int",
        ),
        (
            {'charmcraft.yaml': 'name: x\nconfig: {options: {s: {type: string, default: 1}}}'},
            "config option 's' default 1 is not a string",
        ),
    ],
)
def test_bad_metadata_is_a_clear_error(
    tmp_path: pathlib.Path, files: dict[str, str], message: str
):
    root = write(tmp_path, files)
    with pytest.raises(agent.CharmSourceError, match=message) as caught:
        agent.CharmSource.load(root)
    assert str(root) in str(caught.value)


def test_null_default_means_no_default(tmp_path: pathlib.Path):
    root = write(tmp_path, {'charmcraft.yaml': 'name: x\nconfig: {options: {s: {type: string}}}'})
    assert agent.CharmSource.load(root).config_defaults == {}


def test_missing_folder():
    with pytest.raises(agent.CharmSourceError, match='does not exist'):
        agent.CharmSource.load('/nonexistent/charm')


@pytest.mark.parametrize(
    ('charm_py', 'message'),
    [
        (None, 'charm entry point not found'),
        (
            'import no_such_module\n',
            "import failed: ModuleNotFoundError: No module named 'no_such",
        ),
        (MINIMAL_CHARM, r'2 CharmBase subclasses defined \(First, Second\)'),
        ('X = 1\n', r'0 CharmBase subclasses defined \(none\)'),
    ],
)
def test_bad_charm_module_is_a_clear_error(
    tmp_path: pathlib.Path, charm_py: str | None, message: str
):
    files = {'charmcraft.yaml': 'name: broken'}
    if charm_py is not None:
        files['src/charm.py'] = charm_py
    source = agent.CharmSource.load(write(tmp_path, files))
    with pytest.raises(agent.CharmSourceError, match=message):
        source.load_charm_class()


def test_settings_problems_as_juju_validates_them(tmp_path: pathlib.Path):
    options = {
        'name': {'type': 'string'},
        'count': {'type': 'int'},
        'ratio': {'type': 'float'},
        'on': {'type': 'boolean'},
    }
    source = agent.CharmSource(
        path=tmp_path,
        meta={'name': 'x'},
        config={'options': options},
        actions={},
        entrypoint=tmp_path / 'src' / 'charm.py',
    )
    assert source.settings_problems({'name': 'a', 'count': 2, 'ratio': 1, 'on': False}) == []
    assert source.settings_problems({'count': None}) == []  # a reset
    assert source.settings_problems(
        {'colour': 'red', 'count': True, 'on': 'yes', 'ratio': '1'}
    ) == [
        "unknown option 'colour'",
        "option 'count' expected int, got True",
        "option 'on' expected boolean, got 'yes'",
        "option 'ratio' expected float, got '1'",
    ]
