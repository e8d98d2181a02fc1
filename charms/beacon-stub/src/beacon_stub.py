"""The beacon-stub charm: publishes service-mesh labels exactly as istio-beacon-k8s does.

What is published, in order of precedence:

1. An override made by an action (``set-labels``, ``clear-labels`` or ``publish-raw``),
   as long as the config has not changed since the action ran.
2. Otherwise the ``labels`` and ``mesh-type`` config options.

The override is kept in the application databag of the ``overrides`` peer relation,
together with the config values it overrides. It ends when the current config differs
from those values. That test is made from data, not from a ``config-changed`` event:
Juju also sends ``config-changed`` when a pod restarts with its config untouched, and an
override must survive the leader's pod restart.

Labels are published through the library's ``k8s_labels.ServiceMeshProvider`` (the
copy in ``lib/``, written by ``charms/build_charms.py``), with its validation off: the
stub checks Kubernetes label syntax only, never reserved keys, so that consumers can be
fed keys such as ``app.kubernetes.io/name``. ``publish-raw`` bypasses the provider and
writes its databag verbatim.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import cast

import ops

import k8s_labels

logger = logging.getLogger(__name__)

MESH_ENDPOINT = 'service-mesh'
PEER_ENDPOINT = 'overrides'
OVERRIDE_KEY = 'override'
PROVIDER_KEYS = frozenset({'labels', 'mesh_type'})
"""The keys the provider writes; any other key in the databag was left by ``publish-raw``."""

# Kubernetes label syntax: k8s.io/apimachinery pkg/util/validation/validation.go
# (IsQualifiedName, IsDNS1123Subdomain, IsValidLabelValue) and
# https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
_NAME = re.compile(r'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')
_DNS1123_SUBDOMAIN = re.compile(r'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')
_NAME_MAX = 63
_PREFIX_MAX = 253
_VALUE_MAX = 63
_MESH_TYPE = re.compile(r'[a-z0-9]([-a-z0-9]*[a-z0-9])?')


class InvalidInputError(ValueError):
    """A config value or action parameter that cannot be published; the message names it."""


def label_key_problem(key: str) -> str | None:
    """Return what is wrong with a label key's syntax, or None if it is valid."""
    parts = key.split('/')
    if len(parts) > 2:
        return 'has more than one "/"'
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return 'has an empty prefix before "/"'
        if len(prefix) > _PREFIX_MAX:
            return f'has a prefix longer than {_PREFIX_MAX} characters'
        if not _DNS1123_SUBDOMAIN.fullmatch(prefix):
            return 'has a prefix that is not a lower-case DNS subdomain'
    if not name:
        return 'has an empty name'
    if len(name) > _NAME_MAX:
        return f'has a name longer than {_NAME_MAX} characters'
    if not _NAME.fullmatch(name):
        return (
            'has a name that is not alphanumerics, "-", "_" or "." '
            'starting and ending with an alphanumeric'
        )
    return None


def label_value_problem(value: str) -> str | None:
    """Return what is wrong with a label value's syntax, or None if it is valid."""
    if len(value) > _VALUE_MAX:
        return f'is longer than {_VALUE_MAX} characters'
    if value and not _NAME.fullmatch(value):
        return (
            'is not empty or alphanumerics, "-", "_" or "." '
            'starting and ending with an alphanumeric'
        )
    return None


def _json_object(text: str, *, what: str) -> dict[str, object]:
    try:
        obj: object = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInputError(f'{what}: not valid JSON ({e.msg} at character {e.pos})') from e
    if not isinstance(obj, dict):
        raise InvalidInputError(f'{what}: must be a JSON object, not {_json_type(obj)}')
    # JSON object keys are always strings.
    return cast('dict[str, object]', obj)


def _json_type(value: object) -> str:
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, int | float):
        return 'a number'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, list):
        return 'an array'
    return 'an object'


def parse_labels(text: str, *, what: str) -> dict[str, str]:
    """Parse a JSON object of label key to value; blank text means no labels.

    Args:
        text: the JSON text.
        what: where the text came from, for the error message (``config labels``).

    Raises:
        InvalidInputError: naming the key or value at fault.
    """
    if not text.strip():
        return {}
    labels: dict[str, str] = {}
    for key, value in _json_object(text, what=what).items():
        if not isinstance(value, str):
            raise InvalidInputError(
                f'{what}: value of {key!r} must be a string, not {_json_type(value)}'
            )
        if (problem := label_key_problem(key)) is not None:
            raise InvalidInputError(f'{what}: key {key!r} {problem}')
        if (problem := label_value_problem(value)) is not None:
            raise InvalidInputError(f'{what}: value {value!r} of {key!r} {problem}')
        labels[key] = value
    return labels


def parse_mesh_type(value: str) -> str:
    """Check the ``mesh-type`` option: a lower-case name such as ``istio``.

    Raises:
        InvalidInputError: if it is not one.
    """
    if not _MESH_TYPE.fullmatch(value):
        raise InvalidInputError(
            f'config mesh-type: {value!r} is not a lower-case name such as "istio"'
        )
    return value


def parse_raw(text: str) -> dict[str, str]:
    """Parse ``publish-raw``'s ``data``: a JSON object of databag key to string value.

    Only what Juju can store is checked: keys non-empty, values non-empty strings
    (an empty value would delete the key: ``ops.RelationDataContent``).

    Raises:
        InvalidInputError: naming the key at fault.
    """
    data: dict[str, str] = {}
    for key, value in _json_object(text, what='data').items():
        if not key:
            raise InvalidInputError('data: a databag key cannot be empty')
        if not isinstance(value, str):
            raise InvalidInputError(
                f'data: value of {key!r} must be a string, not {_json_type(value)}'
            )
        if not value:
            raise InvalidInputError(
                f'data: value of {key!r} is empty, which Juju stores as no key: leave it out'
            )
        data[key] = value
    return data


def _strings(value: object, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidInputError(f'override: {what} is not an object')
    return {str(k): str(v) for k, v in cast('dict[object, object]', value).items()}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Publication:
    """What the leader publishes: labels through the provider, or a raw databag."""

    labels: dict[str, str] = dataclasses.field(default_factory=dict[str, str])
    mesh_type: str = 'istio'
    raw: dict[str, str] | None = None
    """``publish-raw``'s databag, written verbatim; ``labels`` and ``mesh_type`` unused."""

    @classmethod
    def from_json(cls, value: object) -> Publication:
        """Rebuild from :func:`dataclasses.asdict` output.

        Raises:
            InvalidInputError: it is not that.
        """
        if not isinstance(value, dict):
            raise InvalidInputError('override: publication is not an object')
        fields = cast('dict[str, object]', value)
        mesh_type, raw = fields.get('mesh_type'), fields.get('raw')
        if not isinstance(mesh_type, str):
            raise InvalidInputError('override: mesh_type is not a string')
        return cls(
            labels=_strings(fields.get('labels'), 'labels'),
            mesh_type=mesh_type,
            raw=None if raw is None else _strings(raw, 'raw'),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class StubConfig:
    """The raw config options; validated when a publication is planned, not here.

    Keeping them raw lets a bad value block the unit without failing the hook, and lets
    an override record exactly what it overrides.
    """

    labels: str = ''
    mesh_type: str = 'istio'

    def snapshot(self) -> dict[str, str]:
        """The options as Juju names them: what an override records and compares."""
        return {'labels': self.labels, 'mesh-type': self.mesh_type}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Override:
    """An action's publication, in force while the config equals ``config``."""

    action: str
    publication: Publication
    config: dict[str, str]

    def dump(self) -> str:
        """Serialise for the peer databag."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def load(cls, text: str) -> Override | None:
        """Parse :meth:`dump`'s output; None (and a log line) if it is not that."""
        try:
            raw = _json_object(text, what='override')
            action = raw['action']
            if not isinstance(action, str):
                raise InvalidInputError('override: action is not a string')
            return cls(
                action=action,
                publication=Publication.from_json(raw['publication']),
                config=_strings(raw['config'], 'config'),
            )
        except (InvalidInputError, KeyError) as e:
            logger.warning('ignoring an unreadable override in the peer databag: %s', e)
            return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """What the leader should publish now, and why."""

    publication: Publication | None
    """What to publish; None to publish nothing (``problem`` says why)."""
    source: str
    """``config`` or the name of the action whose override is in force."""
    problem: str | None = None
    override_ended: bool = False
    """An override is recorded but the config has changed since: delete it."""


def plan(config: StubConfig, override: Override | None) -> Plan:
    """Decide what to publish from the config and the recorded override (a pure function)."""
    snapshot = config.snapshot()
    if override is not None and override.config == snapshot:
        return Plan(publication=override.publication, source=override.action)
    ended = override is not None
    try:
        labels = parse_labels(config.labels, what='config labels')
        mesh_type = parse_mesh_type(config.mesh_type)
    except InvalidInputError as e:
        return Plan(publication=None, source='config', problem=str(e), override_ended=ended)
    return Plan(
        publication=Publication(labels=labels, mesh_type=mesh_type),
        source='config',
        override_ended=ended,
    )


class BeaconStubCharm(ops.CharmBase):
    """Publish labels on every ``service-mesh`` relation, as istio-beacon-k8s does."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.mesh = k8s_labels.ServiceMeshProvider(self, MESH_ENDPOINT)
        mesh = self.on[MESH_ENDPOINT]
        # Every event that can leave a databag stale: a new relation has an empty one,
        # new config or new charm code may publish something else, a new leader takes
        # over. start and update-status are cheap repairs: publishing writes only what
        # differs (ops sends relation-set only for changed keys).
        for event in (
            self.on.leader_elected,
            self.on.config_changed,
            self.on.upgrade_charm,
            self.on.start,
            self.on.update_status,
            mesh.relation_created,
            mesh.relation_joined,
        ):
            framework.observe(event, self._on_reconcile)
        framework.observe(self.on.set_labels_action, self._on_set_labels)
        framework.observe(self.on.clear_labels_action, self._on_clear_labels)
        framework.observe(self.on.publish_raw_action, self._on_publish_raw)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    def _on_reconcile(self, _event: ops.EventBase) -> None:
        if not self.unit.is_leader():
            return
        current = self._plan()
        if current.override_ended:
            peers = self.model.get_relation(PEER_ENDPOINT)
            if peers is not None:
                logger.info('config changed since %s: back to the config', current.source)
                del peers.data[self.app][OVERRIDE_KEY]
        if current.publication is None:
            # Publish nothing: the last good databag stays, the status names the problem.
            logger.warning('not publishing: %s', current.problem)
            return
        self._publish(current.publication)

    def _on_set_labels(self, event: ops.ActionEvent) -> None:
        try:
            labels = parse_labels(str(event.params['labels']), what='labels')
        except InvalidInputError as e:
            event.fail(str(e))
            return
        self._override_labels(event, 'set-labels', labels)

    def _on_clear_labels(self, event: ops.ActionEvent) -> None:
        self._override_labels(event, 'clear-labels', {})

    def _on_publish_raw(self, event: ops.ActionEvent) -> None:
        try:
            data = parse_raw(str(event.params['data']))
        except InvalidInputError as e:
            event.fail(str(e))
            return
        self._override(event, 'publish-raw', Publication(raw=data))

    def _override_labels(
        self, event: ops.ActionEvent, action: str, labels: Mapping[str, str]
    ) -> None:
        config = self.load_config(StubConfig)
        try:
            mesh_type = parse_mesh_type(config.mesh_type)
        except InvalidInputError as e:
            event.fail(f'{e}; fix the config first')
            return
        self._override(event, action, Publication(labels=dict(labels), mesh_type=mesh_type))

    def _override(self, event: ops.ActionEvent, action: str, publication: Publication) -> None:
        if not self.unit.is_leader():
            event.fail(
                f'only the leader publishes: run `juju run {self.app.name}/leader {action} ...`'
            )
            return
        peers = self.model.get_relation(PEER_ENDPOINT)
        if peers is None:
            event.fail(f'the {PEER_ENDPOINT} peer relation is not up yet: try again shortly')
            return
        record = Override(
            action=action, publication=publication, config=self.load_config(StubConfig).snapshot()
        )
        peers.data[self.app][OVERRIDE_KEY] = record.dump()
        count = self._publish(publication)
        if publication.raw is not None:
            event.set_results(
                {'databag': json.dumps(publication.raw, sort_keys=True), 'relations': count}
            )
        else:
            event.set_results(
                {
                    'labels': json.dumps(publication.labels, sort_keys=True),
                    'mesh-type': publication.mesh_type,
                    'relations': count,
                }
            )

    def _plan(self) -> Plan:
        override = None
        peers = self.model.get_relation(PEER_ENDPOINT)
        if peers is not None and (text := peers.data[self.app].get(OVERRIDE_KEY)):
            override = Override.load(text)
        return plan(self.load_config(StubConfig), override)

    def _publish(self, publication: Publication) -> int:
        """Publish on every relation; ops writes only the keys whose value changes.

        Returns:
            How many relations there are.
        """
        relations = self.model.relations[MESH_ENDPOINT]
        if publication.raw is not None:
            # Verbatim, bypassing the provider: the databag becomes exactly ``raw``.
            for relation in relations:
                self._keep_only(relation, publication.raw.keys())
                relation.data[self.app].update(publication.raw)
            return len(relations)
        for relation in relations:
            # The provider leaves keys it does not write alone; any other key here was
            # left by publish-raw, which normal publishing ends.
            self._keep_only(relation, PROVIDER_KEYS)
        # validate=False: the stub has checked syntax only, so reserved keys get through.
        self.mesh.publish(publication.labels, mesh_type=publication.mesh_type, validate=False)
        return len(relations)

    def _keep_only(self, relation: ops.Relation, keys: Iterable[str]) -> None:
        ours = relation.data[self.app]
        keep = set(keys)
        for key in [k for k in ours if k not in keep]:
            del ours[key]

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        current = self._plan()
        if current.problem is not None:
            event.add_status(ops.BlockedStatus(current.problem))
        elif not self.unit.is_leader():
            event.add_status(ops.ActiveStatus('standby: the leader publishes'))
        elif current.source == 'config':
            event.add_status(ops.ActiveStatus('publishing from config'))
        else:
            event.add_status(
                ops.ActiveStatus(f'publishing from {current.source} (overrides config)')
            )
