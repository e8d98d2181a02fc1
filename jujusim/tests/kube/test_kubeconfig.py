"""The kubeconfig file: each real client reads back the server, token and namespace."""

# The kubernetes client ships no type information: its calls are Unknown to pyright.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

import json
import pathlib
import shutil
import stat
import subprocess

import kubernetes.client
import kubernetes.config
import pytest
from lightkube.config import kubeconfig as lightkube_kubeconfig

from jujusim.kube import write_kubeconfig

SERVER = 'http://127.0.0.1:31234'


@pytest.fixture
def path(tmp_path: pathlib.Path) -> pathlib.Path:
    return write_kubeconfig(
        tmp_path / 'sub' / 'kubeconfig', server=SERVER, token='s3cret', namespace='model-a'
    )


def _lightkube(path: pathlib.Path) -> lightkube_kubeconfig.SingleConfig:
    config = lightkube_kubeconfig.KubeConfig.from_file(path).get()
    assert config is not None
    return config


def test_lightkube_reads_it(path: pathlib.Path):
    config = _lightkube(path)
    assert config.cluster.server == SERVER
    assert config.user is not None
    assert config.user.token == 's3cret'
    assert config.namespace == 'model-a'


def test_kubernetes_client_reads_it(path: pathlib.Path):
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == SERVER
    assert configuration.get_api_key_with_prefix('BearerToken') == 'Bearer s3cret'
    _, context = kubernetes.config.list_kube_config_contexts(config_file=str(path))
    assert context['context']['namespace'] == 'model-a'


@pytest.mark.skipif(shutil.which('kubectl') is None, reason='kubectl is not on PATH')
def test_kubectl_reads_it(path: pathlib.Path):
    out = subprocess.run(
        ['kubectl', 'config', 'view', '--minify', '--raw', '-o', 'json'],
        env={'KUBECONFIG': str(path), 'PATH': '/usr/bin:/bin'},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    config = json.loads(out)
    assert config['clusters'][0]['cluster']['server'] == SERVER
    assert config['users'][0]['user']['token'] == 's3cret'
    assert config['contexts'][0]['context']['namespace'] == 'model-a'


def test_file_is_private_and_replaced_whole(path: pathlib.Path):
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds a bearer token
    write_kubeconfig(path, server=SERVER, token='other', namespace='model-b', user='u')
    config = _lightkube(path)
    assert config.user is not None
    assert config.user.token == 'other'
    assert config.namespace == 'model-b'
    assert sorted(p.name for p in path.parent.iterdir()) == ['kubeconfig']  # no temp left
