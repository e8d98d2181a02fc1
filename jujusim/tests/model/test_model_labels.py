"""The model running the real charms: labels follow relation data, and the ADR case."""

import json
import pathlib

import pytest
from broken_library import library_edited, weakened_copy
from model_helpers import ADR_ORIGINAL, BEACON_STUB, MESH_CONSUMER, deploy_pair, set_labels

from jujusim.model import Model, ModelError, TraceEvent


def pod_labels(model: Model, app: str) -> dict[str, dict[str, str]]:
    return {
        pod['metadata']['name']: pod['metadata'].get('labels', {})
        for pod in model.kube.objects('Pod', model.name)
        if pod['metadata']['name'].startswith(f'{app}-')
    }


def test_labels_follow_relation_data_through_add_change_remove(model: Model):
    app = deploy_pair(model, MESH_CONSUMER)
    set_labels(model, {'foo': 'bar', 'team': 'a'})
    model.settle()
    assert model.check(app) == []
    assert all(labels.get('foo') == 'bar' for labels in pod_labels(model, app).values())

    set_labels(model, {'foo': 'baz'})
    model.settle()
    assert model.check(app) == []
    assert all('team' not in labels for labels in pod_labels(model, app).values())

    [relation] = [r.id for r in model.relations.values() if r.interface == 'service_mesh']
    model.remove_relation(relation)
    model.settle()
    assert model.check(app) == []
    assert all('foo' not in labels for labels in pod_labels(model, app).values())


@pytest.mark.parametrize('releases', [False, True], ids=['library', 'releasing-copy'])
def test_a_leader_removed_by_a_scale_down_leaves_the_remaining_pods_alone(
    model: Model, tmp_path: pathlib.Path, releases: bool
):
    # The unit removed departs as itself, then runs relation-broken while still leader
    # (its lease runs on): its own leaving, not the relation's removal. Labels released
    # there would leave the pod that stays, and the template change would roll it, until
    # the next leader's election put them back. Watched after every event here; the
    # checker sees it too, though the labels are back by the settle point: a write of
    # the consumer's took them off while the data stayed as the last check found it.
    # Both shown failing on a copy that releases there.
    # The releasing copy takes its own relation-broken for the relation's.
    consumer = (
        weakened_copy(tmp_path, 'releases-on-its-own-departure') if releases else MESH_CONSUMER
    )
    app = deploy_pair(model, consumer, units=2)
    set_labels(model, {'foo': 'bar'})
    model.settle()
    model.force_leader_change(app, to=f'{app}/1')
    model.settle()
    assert model.leader(app) == f'{app}/1'
    assert model.check(app) == []
    lost: list[str] = []
    rolled: list[str] = []

    def watch(event: TraceEvent) -> None:
        labels = pod_labels(model, app).get(f'{app}-0')
        if labels is not None and labels.get('foo') != 'bar':
            lost.append(event.render())
        if event.kind == 'pod-terminating' and event.unit == f'{app}/0':
            rolled.append(event.render())

    model.subscribe(watch)
    model.scale(app, 1)
    model.settle()
    assert model.leader(app) == f'{app}/0'
    problems = model.check(app)
    if releases:
        assert lost and rolled
        assert problems and all('took foo=bar off' in p for p in problems), problems
        assert any(f'{app}/1 PATCH' in p and f'Pod/{app}-0' in p for p in problems)
    else:
        assert (lost, rolled, problems) == ([], [], [])
    assert model.check(app) == []  # reported once; the labels are right at this point


@pytest.mark.parametrize('checked_first', [True, False], ids=['checked', 'settle-points-only'])
@pytest.mark.parametrize('asks_juju', [True, False], ids=['library', 'stored-mark-only-copy'])
def test_a_leader_removed_by_a_scale_down_and_killed_before_its_broken_leaves_the_pods_alone(
    model: Model, tmp_path: pathlib.Path, asks_juju: bool, checked_first: bool
):
    # The departing mark is StoredState, lost with the pod: the leader being removed, its
    # pod force-deleted between its relation-departed and relation-broken, comes back
    # without it and runs relation-broken as leader. A copy that trusts the mark alone
    # releases every label there, and the next leader puts them back. Shown failing on it.
    # In a test that checks only at its end too: a settle point holds the labels it found
    # right as a passing check does (shown failing before it did).
    weakening = 'departure-known-from-stored-state-only'
    consumer = MESH_CONSUMER if asks_juju else weakened_copy(tmp_path, weakening)
    app = deploy_pair(model, consumer, units=2)
    set_labels(model, {'foo': 'bar'})
    model.settle()
    model.force_leader_change(app, to=f'{app}/1')
    model.settle()
    if checked_first:
        assert model.check(app) == []
    kill = model.kill_before_hook(f'{app}/1', 'relation_broken')
    mark = len(model.events)
    model.scale(app, 1)
    model.settle()
    assert kill.fired
    assert model.leader(app) == f'{app}/0'
    hooks = [
        (e.kind, e.fields.get('hook', '')) for e in model.events[mark:] if e.unit == f'{app}/1'
    ]
    [killed] = [i for i, (kind, _) in enumerate(hooks) if kind == 'kill']
    assert hooks[killed - 1][1].startswith('relation_departed(')
    assert hooks[killed][1].startswith('relation_broken(')
    assert ('hook-done', hooks[killed][1]) in hooks[killed:]
    problems = model.check(app)
    if asks_juju:
        assert problems == []
    else:
        assert problems and all('took foo=bar off' in p for p in problems), problems
        assert any(f'{app}/1 PATCH' in p and f'Pod/{app}-0' in p for p in problems)
    assert all(labels.get('foo') == 'bar' for labels in pod_labels(model, app).values())


@pytest.mark.parametrize('says_so', [True, False], ids=['library', 'untrusted-says-nothing-copy'])
def test_an_untrusted_consumer_must_say_to_run_juju_trust(
    model: Model, tmp_path: pathlib.Path, says_so: bool
):
    # Without trust no labels can follow the data, and they are not judged; the leader
    # must say what to run. Shown failing on a copy that shows nothing for the 403.
    consumer = MESH_CONSUMER if says_so else weakened_copy(tmp_path, 'untrusted-says-nothing')
    app = deploy_pair(model, consumer, units=2)
    set_labels(model, {'foo': 'bar'})
    model.settle()
    assert model.check(app) == []
    model.trust(app, False)
    set_labels(model, {'foo': 'baz'})
    model.settle()
    problems = model.check(app)
    if says_so:
        assert problems == []
    else:
        assert problems, problems
        assert all('is not Blocked naming juju trust while untrusted' in p for p in problems)
    model.trust(app)
    model.settle()
    assert model.check(app) == []  # trusted again, both apply the change
    assert all(labels.get('foo') == 'baz' for labels in pod_labels(model, app).values())


def labelling_every_pod(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer with a library that lists every pod of the namespace as its own."""
    return library_edited(tmp_path, '_manager.py', ', labels={APP_LABEL: self.app}', '')


@pytest.mark.parametrize('every_pod', [False, True], ids=['library', 'every-pod-copy'])
def test_a_label_changed_on_another_applications_object_is_an_r4_problem(
    model: Model, tmp_path: pathlib.Path, every_pod: bool
):
    # The check reads the consumer's own objects only; a write of its units that changes
    # a label of the provider's pod is reported from the request stream (R4: nothing of
    # the library's is asked for there). Shown failing on a copy that lists every pod.
    consumer = labelling_every_pod(tmp_path) if every_pod else MESH_CONSUMER
    app = deploy_pair(model, consumer, units=2)
    set_labels(model, {'foo': 'bar'})
    model.settle()
    problems = model.check(app)
    provider_pod = pod_labels(model, 'beacon')['beacon-0']
    if every_pod:
        assert provider_pod.get('foo') == 'bar'
        assert problems and all(p.startswith('R4: ') for p in problems), problems
        assert any('changed label foo of Pod/beacon-0' in p for p in problems), problems
    else:
        assert 'foo' not in provider_pod
        assert problems == []


def test_check_reports_a_label_left_behind(model: Model):
    # The checker is not vacuous: a label someone else re-adds after release is caught.
    app = deploy_pair(model, MESH_CONSUMER, units=1)
    set_labels(model, {'foo': 'bar'})
    model.settle()
    set_labels(model, {})
    model.settle()
    assert model.check(app) == []
    model.kube.patch('Service', model.name, app, {'metadata': {'labels': {'foo': 'bar'}}})
    assert any("Service/consumer label 'foo'" in p for p in model.check(app))


@pytest.mark.parametrize(
    ('consumer', 'holds'),
    [(MESH_CONSUMER, True), (ADR_ORIGINAL, False)],
    ids=['mesh-consumer', 'adr-original'],
)
def test_adr_counterexample_leader_pod_dies_as_data_resets(
    model: Model, consumer: pathlib.Path, holds: bool
):
    """ADR: {"foo": "bar"} applied; data reset to {} while the leader pod dies."""
    app = deploy_pair(model, consumer)
    set_labels(model, {'foo': 'bar'})
    model.settle()
    assert model.check(app) == []
    leader = model.leader(app)
    assert leader is not None

    set_labels(model, {})
    model.delete_pod(leader, graceful=False)
    model.settle()

    problems = model.check(app)
    if holds:
        assert problems == []
    else:
        # The original design's new leader has no record of foo: it stays, unmanaged.
        assert problems
        assert all("label 'foo' is 'bar', expected absent" in p for p in problems)


@pytest.mark.parametrize(
    ('consumer', 'holds'),
    [(MESH_CONSUMER, True), (ADR_ORIGINAL, False)],
    ids=['mesh-consumer', 'adr-original'],
)
def test_adr_counterexample_with_a_leader_change(
    model: Model, consumer: pathlib.Path, holds: bool
):
    """The same, but leadership moves to another unit while the data resets."""
    app = deploy_pair(model, consumer)
    set_labels(model, {'foo': 'bar'})
    model.settle()
    leader = model.leader(app)
    assert leader is not None

    model.stall(leader, 120)  # its agent stops renewing the lease: another unit takes over
    set_labels(model, {})
    model.settle()

    assert model.leader(app) not in (None, leader)
    assert (model.check(app) == []) is holds


def test_config_juju_would_refuse_is_refused_and_changes_nothing(model: Model):
    with pytest.raises(ModelError, match=r"cannot deploy beacon: unknown option 'lables'"):
        model.deploy(BEACON_STUB, app='beacon', config={'lables': '{}'})
    assert 'beacon' not in model.apps
    assert model.kube.get('StatefulSet', model.name, 'beacon') is None

    model.deploy(BEACON_STUB, app='beacon', config={'labels': '{"a": "b"}'})
    model.settle()
    before = (dict(model.apps['beacon'].config), len(model.trace))
    with pytest.raises(ModelError, match=r"option 'labels' expected string, got 3"):
        model.config('beacon', labels=3)
    model.settle()
    assert (dict(model.apps['beacon'].config), len(model.trace)) == before  # no hook ran


def test_refused_data_on_a_new_relation_expects_the_labels_the_old_one_released(model: Model):
    # Labels accepted on a relation since removed were released with it: data refused on
    # the next relation keeps nothing (chaos seed 2026, schedule 447, before the checker
    # tied the last accepted data to its relation).
    app = deploy_pair(model, MESH_CONSUMER, units=1)
    set_labels(model, {'foo': 'bar'})
    model.settle()
    [relation] = [r.id for r in model.relations.values() if r.interface == 'service_mesh']
    model.remove_relation(relation)
    model.settle()
    set_labels(model, {'foo': 'bar', 'app.kubernetes.io/name': 'x'})
    model.integrate(app, 'beacon')
    model.settle()
    expectation = model.expectation(app)
    assert expectation.blocked is not None
    assert expectation.desired == {}
    assert model.check(app) == []
    assert all('foo' not in labels for labels in pod_labels(model, app).values())


def labelled_pair(
    model: Model, consumer: pathlib.Path, *, units: int, labels: dict[str, str]
) -> str:
    """:func:`deploy_pair` with ``labels`` published, settled and checked."""
    app = deploy_pair(model, consumer, units=units)
    set_labels(model, labels)
    model.settle()
    assert model.check(app) == []
    return app


def never_rechecking_leadership(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer with a library that takes itself for the leader once its hook began."""
    return library_edited(
        tmp_path, '_manager.py', 'self.is_leader = is_leader\n', 'self.is_leader = lambda: True\n'
    )


@pytest.mark.parametrize('rechecks', [True, False], ids=['library', 'never-rechecking-copy'])
def test_a_deposed_leaders_write_after_its_successors_is_a_stale_write(
    model: Model, tmp_path: pathlib.Path, rechecks: bool
):
    # The leader stalls at a pod write past its lease while the data changes and goes
    # back; its successor fences and writes. The library's held write then gets 409 and
    # it stops; a copy that never asks again reads everything anew and writes its stale
    # labels over the successor's. A template change rolls the pods and the new leader's
    # upgrade-charm puts them right before the settle point: only the request stream shows
    # the overwrite. Shown failing on that copy.
    consumer = MESH_CONSUMER if rechecks else never_rechecking_leadership(tmp_path)
    app = labelled_pair(model, consumer, units=3, labels={'a': '1'})
    old = model.leader(app)
    assert old is not None
    model.stall_at_request(old, 90, method='PATCH', kind='Pod')
    set_labels(model, {'a': '1', 'b': '2'})
    model.run_until_faults_fired(app)
    set_labels(model, {'a': '1'})
    new = model.force_leader_change(app)
    model.settle()
    problems = model.check(app)
    if rechecks:
        assert problems == []
    else:
        assert problems, 'the overwrite went unseen'
        assert all(p.startswith('stale write: ') for p in problems), problems
        assert any(f'{old}, deposed, PATCH' in p and f'after {new}' in p for p in problems)
    assert model.check(app) == []  # reported once; the labels are right again


def publish_raw(model: Model, labels: str) -> None:
    """The provider ``beacon`` publishes ``labels`` verbatim (publish-raw), settled."""
    provider = model.leader('beacon')
    assert provider is not None
    data = json.dumps({'labels': labels, 'mesh_type': '"istio"'})
    outcome = model.run_action_to_end(provider, 'publish-raw', {'data': data})
    assert outcome.failure is None and outcome.error is None
    model.settle()


def keeping_a_fixed_problem(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer with a library that never clears a problem once it showed one."""
    return library_edited(
        tmp_path,
        '_service_mesh.py',
        "return None if result.outcome is _manager.Outcome.NOT_LEADER else ''\n",
        'return None\n',
    )


@pytest.mark.parametrize('clears', [True, False], ids=['library', 'keeping-copy'])
def test_a_leader_still_blocked_once_the_data_is_fixed_is_a_problem(
    model: Model, tmp_path: pathlib.Path, clears: bool
):
    # The data goes bad, then back to the labels already applied: nothing is written, no
    # pod restarts, so only the consumer itself can take its Blocked status away. Shown
    # failing on a copy that never does.
    consumer = MESH_CONSUMER if clears else keeping_a_fixed_problem(tmp_path)
    app = labelled_pair(model, consumer, units=2, labels={'team': 'mesh'})
    publish_raw(model, 'not json')
    assert model.check(app) == []  # Blocked, as it must be
    publish_raw(model, '{"team": "mesh"}')
    problems = model.check(app)
    if clears:
        assert problems == []
    else:
        assert problems == [
            f"{app} is still Blocked on refused data ('service-mesh relation data: relation "
            'field "labels" is not valid JSON\') on the leader though the data asks for '
            "{'team': 'mesh'} now"
        ]


def blocking_every_unit(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer with a library that shows its last problem on non-leaders too."""
    return library_edited(
        tmp_path,
        '_service_mesh.py',
        'if self.problem and self._charm.unit.is_leader():',
        'if self.problem:',
    )


@pytest.mark.parametrize('clears', [True, False], ids=['library', 'every-unit-copy'])
def test_a_former_leader_still_blocked_once_the_data_is_fixed_is_a_problem(
    model: Model, tmp_path: pathlib.Path, clears: bool
):
    # Refused data Blocks the leader; leadership moves; the data goes back to the labels
    # already applied (no pod restarts to forget a status). The new leader clears its
    # status, and so must the old one, though it reconciles no more: shown failing on a
    # copy whose non-leaders show the problem they recorded as leader.
    consumer = MESH_CONSUMER if clears else blocking_every_unit(tmp_path)
    app = labelled_pair(model, consumer, units=2, labels={'team': 'mesh'})
    old = model.leader(app)
    assert old is not None
    publish_raw(model, '{"team": 1}')
    assert model.check(app) == []  # its leader Blocked, as it must be
    model.force_leader_change(app)
    model.settle()
    publish_raw(model, '{"team": "mesh"}')
    problems = model.check(app)
    if clears:
        assert problems == []
        assert model.unit_status(old).workload == 'active'
    else:
        assert len(problems) == 1, problems
        assert 'is still Blocked on refused data' in problems[0]
        assert f' on {old} though' in problems[0], (old, problems)


def pod_record_ignoring_uid(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer with a library that gives a recreated pod its predecessor's record."""
    old = '    if record is not None and record.uid == obj.uid:\n'
    return library_edited(tmp_path, '_plan.py', old, '    if record is not None:\n')


@pytest.mark.parametrize('by_uid', [True, False], ids=['library', 'ignoring-uid-copy'])
def test_a_value_given_back_to_a_pod_that_never_had_it_is_a_problem(
    model: Model, tmp_path: pathlib.Path, by_uid: bool
):
    # consumer-2's own value is taken over; the change rolls every pod, so the pod the
    # key is then released on is a new one, created from the template. Giving it the old
    # pod's value is seen as it is written, though the next roll takes it away again
    # before the settle point.
    consumer = MESH_CONSUMER if by_uid else pod_record_ignoring_uid(tmp_path)
    app = deploy_pair(model, consumer)
    model.write_labels('Pod', f'{app}-2', {'team': 'theirs'})
    set_labels(model, {'team': 'a'})
    model.settle()
    assert model.check(app) == []
    set_labels(model, {})
    model.settle()
    problems = model.check(app)
    if by_uid:
        assert problems == []
    else:
        assert any('set team=theirs on Pod/consumer-2' in p for p in problems), problems
        assert all(p.startswith('R1-R3:') and 'never carried' in p for p in problems), problems
        assert 'team' not in pod_labels(model, app)[f'{app}-2']  # gone at the settle point


def corrupt_ledger_read_as_none(tmp_path: pathlib.Path) -> pathlib.Path:
    """mesh-consumer with a library that goes on as if a ledger it cannot read were absent."""
    old = '            ledger = self._load_ledger(cm, sts)\n'
    new = (
        '            try:\n'
        '                ledger = self._load_ledger(cm, sts)\n'
        '            except _errors.LedgerCorruptError:\n'
        '                ledger = None\n'
    )
    return library_edited(tmp_path, '_manager.py', old, new)


def write_ledger(model: Model, app: str, text: str | None) -> None:
    """Someone else (not a unit) overwrites ``app``'s ledger, or deletes it with None."""
    name = f'{app}-k8s-labels-service-mesh'
    if text is None:
        model.kubectl('delete', 'configmap', name)
    else:
        model.kubectl(
            'patch', 'configmap', name, '-p', json.dumps({'data': {'ledger.json': text}})
        )


@pytest.mark.parametrize('stops', [True, False], ids=['library', 'going-on-copy'])
def test_a_consumer_blocked_on_a_ledger_someone_corrupted_keeps_its_labels(
    model: Model, tmp_path: pathlib.Path, stops: bool
):
    # A record it cannot trust: Blocked and nothing written is right (as for bad data),
    # so the check expects the labels its last passing check found. Going on as if there
    # were none takes its own value for someone else's, and gives it back on release.
    consumer = MESH_CONSUMER if stops else corrupt_ledger_read_as_none(tmp_path)
    app = deploy_pair(model, consumer)
    set_labels(model, {'foo': 'a'})
    model.settle()
    assert model.check(app) == []
    write_ledger(model, app, 'not json')
    set_labels(model, {'foo': 'b'})
    model.settle()
    status = model.unit_status(model.leader(app) or '')
    assert (status.workload == 'blocked') is stops, status
    assert ('is corrupt' in status.message) is stops, status
    assert model.check(app) == []
    assert {labels.get('foo') for labels in pod_labels(model, app).values()} == (
        {'a'} if stops else {'b'}
    )
    set_labels(model, {})
    model.settle()
    problems = model.check(app)
    if stops:
        assert problems == []  # still Blocked: still nothing changed
    else:
        assert "R1-R3: Service/consumer label 'foo' is 'a', expected absent" in problems


def test_labels_of_a_ledger_someone_deleted_are_nobodys(model: Model, tmp_path: pathlib.Path):
    # The corrupt ledger's message says "fix or delete it"; deleted, the labels it recorded
    # stay, as nobody's (lib/README.md): taken over while asked for, given back after.
    app = deploy_pair(model)
    set_labels(model, {'foo': 'a'})
    model.settle()
    write_ledger(model, app, 'not json')
    set_labels(model, {'foo': 'b'})
    model.settle()
    write_ledger(model, app, None)
    set_labels(model, {'foo': 'c'})
    model.settle()
    assert model.check(app) == []
    set_labels(model, {})
    model.settle()
    assert model.check(app) == []
    assert {labels.get('foo') for labels in pod_labels(model, app).values()} == {'a'}
    # R4 holds them so: as if whoever deleted the ledger had written them.
    expectation = model.expectation(app)
    assert expectation.service_foreign['foo'] == expectation.template_foreign['foo'] == 'a'


@pytest.mark.parametrize('refuses', [True, False], ids=['library', 'off-by-one-copy'])
def test_refused_data_sent_to_the_api_is_a_problem_though_the_api_refuses_it(
    model: Model, tmp_path: pathlib.Path, refuses: bool
):
    # A value of 64 characters: the consumer must refuse it before any call. A copy that
    # lets it through is refused by the API (422) and ends Blocked all the same, its labels
    # unchanged, so only the request stream shows it. Shown failing on that copy.
    consumer = MESH_CONSUMER if refuses else weakened_copy(tmp_path, 'value-length-off-by-one')
    app = labelled_pair(model, consumer, units=2, labels={'team': 'mesh'})
    publish_raw(model, json.dumps({'team': 'v' * 64}))
    problems = model.check(app)
    if refuses:
        assert problems == []
    else:
        assert problems, 'the 422 went unseen'
        assert all(' must be Blocked on refused data before any write: ' in p for p in problems)
        assert all(p.endswith('-> 422: it sent labels the API refuses') for p in problems)
    assert model.unit_status(model.leader(app) or '').workload == 'blocked'
    assert model.check(app) == []  # reported once
