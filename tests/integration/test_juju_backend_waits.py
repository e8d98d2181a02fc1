"""The Juju backend's waits neither return early nor hang, shown without a controller.

Kubernetes is jujusim's fake API (a real lightkube client, the StatefulSet controller
stepped by the test); python-libjuju's model is a small stand-in answering ``get_status``
and ``wait_for_idle`` as the test says. Each test holds the condition a wait must see
back, checks that the wait is still waiting, then releases it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import zipfile
from collections.abc import Iterator
from typing import Any, cast

import juju_backend
import pytest
import yaml
from juju.model import Model as JujuModel
from juju_backend import JujuBackend, oci_resources
from pytest_operator.plugin import OpsTest

from jujusim.kube import AdminPolicy, FakeKube, lightkube_client
from jujusim.scenarios import Check, CheckFailedError, ForeignLabels, ScenarioError

NAMESPACE = 'scenario'
TOKEN = 'test-admin'  # a fake cluster's token


@dataclasses.dataclass
class _WorkloadStatus:
    status: str = 'active'
    info: str = ''


@dataclasses.dataclass
class _Unit:
    leader: bool = False
    workload_status: _WorkloadStatus = dataclasses.field(default_factory=_WorkloadStatus)


@dataclasses.dataclass
class _App:
    units: dict[str, _Unit]


@dataclasses.dataclass
class _Status:
    applications: dict[str, _App]


class FakeJujuModel:
    """What the backend asks of python-libjuju's Model for its waits."""

    name = NAMESPACE

    def __init__(self) -> None:
        self.status = _Status(applications={})
        self.relations: list[Any] = []
        self.idle_waits = 0

    async def get_status(self) -> _Status:
        return self.status

    async def wait_for_idle(self, **_: Any) -> None:
        self.idle_waits += 1


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    api = FakeKube(namespaces=(NAMESPACE,))
    api.register_caller(TOKEN, AdminPolicy(), name='tests')
    api.create(
        {
            'apiVersion': 'apps/v1',
            'kind': 'StatefulSet',
            'metadata': {'name': 'consumer', 'namespace': NAMESPACE},
            'spec': {
                'replicas': 2,
                'selector': {'matchLabels': {'app.kubernetes.io/name': 'consumer'}},
                'template': {
                    'metadata': {'labels': {'app.kubernetes.io/name': 'consumer'}},
                    'spec': {'containers': [{'name': 'charm', 'image': 'charm'}]},
                },
            },
        }
    )
    api.settle()
    yield api


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(juju_backend, 'POLL', 0.01)
    monkeypatch.setattr(juju_backend, 'IDLE_PERIOD', 0.0)


def _backend(kube: FakeKube, model: FakeJujuModel) -> JujuBackend:
    backend = JujuBackend(
        cast('OpsTest', None),
        cast('JujuModel', model),
        {},
        kube=lightkube_client(kube, token=TOKEN, namespace=NAMESPACE),
    )
    backend.scale['consumer'] = 2
    model.status.applications['consumer'] = _App(
        units={'consumer/0': _Unit(leader=True), 'consumer/1': _Unit()}
    )
    return backend


async def _still_waiting(task: asyncio.Task[Any]) -> None:
    await asyncio.sleep(0.2)
    assert not task.done(), task


@pytest.mark.usefixtures('fast_polls')
async def test_a_deleted_pod_is_waited_for_until_replaced_with_a_new_uid(
    kube: FakeKube, monkeypatch: pytest.MonkeyPatch
):
    backend = _backend(kube, FakeJujuModel())
    old = kube.get('Pod', NAMESPACE, 'consumer-1')
    assert old is not None
    # A graceful delete leaves the pod Terminating, under its name and old uid, for a while.
    asked: list[str] = []

    def terminating(_kind: object, name: str, **_: object) -> None:
        asked.append(name)

    monkeypatch.setattr(backend.kube, 'delete', terminating)
    task = asyncio.create_task(backend._delete_pod('consumer/1', force=False, where='t'))
    await _still_waiting(task)  # still there, old uid
    assert asked == ['consumer-1']
    kube.delete('Pod', NAMESPACE, 'consumer-1')  # the grace period ends
    await _still_waiting(task)  # gone, not yet recreated: the controller has not run
    kube.settle()
    await asyncio.wait_for(task, 5)
    new = kube.get('Pod', NAMESPACE, 'consumer-1')
    assert new is not None and new['metadata']['uid'] != old['metadata']['uid']


@pytest.mark.usefixtures('fast_polls')
async def test_settle_waits_for_the_rollout_after_idle(kube: FakeKube):
    model = FakeJujuModel()
    backend = _backend(kube, model)
    kube.patch(
        'StatefulSet',
        NAMESPACE,
        'consumer',
        {'spec': {'template': {'metadata': {'labels': {'team': 'mesh'}}}}},
    )
    kube.step()  # the rollout begins: one pod replaced, the other still old
    task = asyncio.create_task(backend._settle('t'))
    await _still_waiting(task)
    assert model.idle_waits > 1  # idle was reached, and asked again after the rollout check
    kube.settle()
    await asyncio.wait_for(task, 5)


@pytest.mark.usefixtures('fast_polls')
async def test_settle_waits_for_a_scale_down_to_show_in_status(kube: FakeKube):
    model = FakeJujuModel()
    backend = _backend(kube, model)
    backend.scale['consumer'] = 1
    kube.patch('StatefulSet', NAMESPACE, 'consumer', {'spec': {'replicas': 1}})
    kube.settle()
    task = asyncio.create_task(backend._settle('t'))
    await _still_waiting(task)  # status still lists consumer/1: idle means nothing yet
    del model.status.applications['consumer'].units['consumer/1']
    await asyncio.wait_for(task, 5)


@pytest.mark.usefixtures('fast_polls')
async def test_settle_does_not_end_on_a_unit_in_error(kube: FakeKube):
    model = FakeJujuModel()
    backend = _backend(kube, model)

    async def errors_then_idle(**_: Any) -> None:
        # python-libjuju raises on an error status unless told not to: the backend must
        # ask it not to, and keep waiting for Juju's retry.
        assert _['raise_on_error'] is False
        model.idle_waits += 1

    model.wait_for_idle = errors_then_idle
    await asyncio.wait_for(backend._settle('t'), 5)
    assert model.idle_waits >= 1


@pytest.mark.usefixtures('fast_polls')
async def test_the_leader_is_read_from_status_and_waited_for(kube: FakeKube):
    model = FakeJujuModel()
    backend = _backend(kube, model)
    units = model.status.applications['consumer'].units
    units['consumer/0'].leader = False
    task = asyncio.create_task(backend._leader('consumer', 't'))
    await _still_waiting(task)  # no unit says leader: between two leaders
    units['consumer/1'].leader = True
    assert await asyncio.wait_for(task, 5) == 'consumer/1'


@pytest.mark.usefixtures('fast_polls')
async def test_a_foreign_write_waits_for_juju_to_create_the_object(kube: FakeKube):
    backend = _backend(kube, FakeJujuModel())
    step = ForeignLabels(kind='Service', of='consumer', labels={'owner': 'ops'})
    task = asyncio.create_task(backend._foreign_labels(step, 't'))
    await _still_waiting(task)  # deploy has returned; Juju has not made the Service yet
    kube.create(
        {
            'apiVersion': 'v1',
            'kind': 'Service',
            'metadata': {'name': 'consumer', 'namespace': NAMESPACE},
            'spec': {'selector': {'app.kubernetes.io/name': 'consumer'}},
        }
    )
    await asyncio.wait_for(task, 5)
    service = kube.get('Service', NAMESPACE, 'consumer')
    assert service is not None and service['metadata']['labels'] == {'owner': 'ops'}
    assert backend.expected.service_foreign['consumer'] == {'owner': 'ops'}


async def test_a_wait_that_cannot_end_fails_by_its_deadline(
    kube: FakeKube, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(juju_backend, 'POLL', 0.01)
    monkeypatch.setattr(juju_backend, 'POD_TIMEOUT', 0.1)
    backend = _backend(kube, FakeJujuModel())
    with pytest.raises(ScenarioError, match=r't: pod consumer-0 was not replaced within 0 s'):
        await asyncio.wait_for(backend._delete_pod('consumer/0', force=False, where='t'), 5)


def test_oci_resources_are_read_from_the_packed_metadata(tmp_path: pathlib.Path):
    charm = tmp_path / 'mesh-consumer_amd64.charm'
    metadata = {
        'name': 'mesh-consumer',
        'resources': {
            'web-image': {'type': 'oci-image', 'upstream-source': 'busybox:1.37.0'},
            'blob': {'type': 'file', 'filename': 'blob.tar'},
        },
    }
    with zipfile.ZipFile(charm, 'w') as archive:
        archive.writestr('metadata.yaml', yaml.safe_dump(metadata))
    assert oci_resources(charm) == {'web-image': 'busybox:1.37.0'}


@pytest.mark.usefixtures('fast_polls')
async def test_an_untrusted_consumer_is_judged_by_its_leaders_status(kube: FakeKube):
    # As jujusim's check: without trust the labels are not judged, but the leader must
    # say what to run. Shown failing on a leader that shows Active.
    model = FakeJujuModel()
    backend = _backend(kube, model)
    backend.relations.add(frozenset({'consumer', 'provider'}))
    backend.trusted['consumer'] = False
    with pytest.raises(CheckFailedError, match='not Blocked naming juju trust while untrusted'):
        await backend.run_step(Check(app='consumer'), 't')
    leader = model.status.applications['consumer'].units['consumer/0']
    leader.workload_status = _WorkloadStatus(
        'blocked', 'cannot manage pod labels: run juju trust consumer --scope=cluster'
    )
    await backend.run_step(Check(app='consumer'), 't')
