"""Kubernetes ``Status`` errors, built the way the API server builds them.

Messages and reasons follow ``staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go``
(``NewNotFound``, ``NewAlreadyExists``, ``NewConflict``, ``NewInvalid``, ``NewForbidden``,
``NewBadRequest``, ``NewMethodNotSupported``, ``NewGenericServerResponse``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import _http, _resources

# errors.go: OptimisticLockErrorMsg, the tail of every stale-resourceVersion Conflict.
OPTIMISTIC_LOCK_MSG = (
    'the object has been modified; please apply your changes to the latest version and try again'
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Cause:
    """One ``details.causes[]`` entry of a Status."""

    reason: str
    message: str
    field: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The JSON form, without an empty ``field``."""
        out = {'reason': self.reason, 'message': self.message}
        if self.field:  # metav1.StatusCause: field,omitempty
            out['field'] = self.field
        return out


class StatusError(Exception):
    """A failed request, carrying the ``Status`` object the API server would send.

    Attributes:
        code: the HTTP status code.
        reason: the Status ``reason`` (``NotFound``, ``Conflict``...).
        message: the Status ``message``.
        details: the Status ``details``, if any.
    """

    def __init__(
        self, *, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ):
        super().__init__(f'{code} {reason}: {message}')
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The ``Status`` object, as ``metav1.Status`` serialises it."""
        body: dict[str, Any] = {
            'kind': 'Status',
            'apiVersion': 'v1',
            'metadata': {},
            'status': 'Failure',
            'message': self.message,
            'reason': self.reason,
        }
        if self.details is not None:
            body['details'] = self.details
        body['code'] = self.code
        return body

    def response(self) -> _http.ApiResponse:
        """The HTTP response: content type exactly ``application/json`` (lightkube needs it)."""
        return _http.ApiResponse.json(self.code, self.status())


class ResponseLost(Exception):  # noqa: N818 (named for what the front end sees, as asked)
    """The request was applied but its response is lost: front ends drop the connection."""


def qualified(resource: _resources.ResourceType) -> str:
    """``plural[.group]``, as ``schema.GroupResource.String()`` renders it."""
    return f'{resource.plural}.{resource.group}' if resource.group else resource.plural


def _details(
    resource: _resources.ResourceType | None, name: str, *, kind: str | None = None
) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details['name'] = name
    if resource is not None:
        if resource.group:
            details['group'] = resource.group
        details['kind'] = kind if kind is not None else resource.plural
    return details


def not_found(resource: _resources.ResourceType, name: str) -> StatusError:
    """``configmaps "x" not found``."""
    return StatusError(
        code=404,
        reason='NotFound',
        message=f'{qualified(resource)} "{name}" not found',
        details=_details(resource, name),
    )


def path_not_found() -> StatusError:
    """An unknown path or resource type (``errors.NewNotFound`` with an empty resource)."""
    return StatusError(
        code=404,
        reason='NotFound',
        message='the server could not find the requested resource',
        details={},
    )


def already_exists(resource: _resources.ResourceType, name: str) -> StatusError:
    """``configmaps "x" already exists``."""
    return StatusError(
        code=409,
        reason='AlreadyExists',
        message=f'{qualified(resource)} "{name}" already exists',
        details=_details(resource, name),
    )


def conflict(
    resource: _resources.ResourceType, name: str, why: str = OPTIMISTIC_LOCK_MSG
) -> StatusError:
    """``Operation cannot be fulfilled on configmaps "x": <why>``."""
    return StatusError(
        code=409,
        reason='Conflict',
        message=f'Operation cannot be fulfilled on {qualified(resource)} "{name}": {why}',
        details=_details(resource, name),
    )


def invalid(resource: _resources.ResourceType, name: str, causes: list[Cause]) -> StatusError:
    """``ConfigMap "x" is invalid: metadata.labels: Invalid value: ...`` (422).

    ``NewInvalid`` joins several field errors as ``[a, b]`` and names the group-qualified
    Kind (``StatefulSet.apps``), not the plural.
    """
    # field.Error.Error() is "<field>: <body>", even for an empty field (": Too long: ...").
    rendered = [f'{c.field}: {c.message}' if c.field is not None else c.message for c in causes]
    joined = rendered[0] if len(rendered) == 1 else '[' + ', '.join(rendered) + ']'
    qualified_kind = f'{resource.kind}.{resource.group}' if resource.group else resource.kind
    details = _details(resource, name, kind=resource.kind)
    details['causes'] = [c.to_dict() for c in causes]
    return StatusError(
        code=422,
        reason='Invalid',
        message=f'{qualified_kind} "{name}" is invalid: {joined}',
        details=details,
    )


def invalid_patch(problem: str) -> StatusError:
    """A patched object that does not decode (handlers/patch.go: NewInvalid, field "patch")."""
    cause = Cause(
        reason='FieldValueInvalid', message=f'Invalid value: "...": {problem}', field='patch'
    )
    return StatusError(
        code=422,
        reason='Invalid',
        message=f' "" is invalid: patch: {cause.message}',
        details={'causes': [cause.to_dict()]},
    )


def unprocessable(message: str) -> StatusError:
    """A patch that cannot be applied (``NewGenericServerResponse`` with 422), as ``patch.go``."""
    return StatusError(
        code=422,
        reason='Invalid',
        message='the server rejected our request due to an error in our request',
        details={'causes': [{'reason': 'UnexpectedServerResponse', 'message': message}]},
    )


def forbidden(
    resource: _resources.ResourceType | None,
    name: str,
    *,
    user: str,
    verb: str,
    namespace: str,
    resource_name: str = '',
    group: str = '',
) -> StatusError:
    """The RBAC denial, worded as ``responsewriters.forbiddenMessage`` words it.

    ``statefulsets.apps "web" is forbidden: User "system:serviceaccount:ns:app" cannot get
    resource "statefulsets" in API group "apps" in the namespace "ns"``.
    """
    plural = resource.plural if resource is not None else resource_name
    api_group = resource.group if resource is not None else group
    scope = f'in the namespace "{namespace}"' if namespace else 'at the cluster scope'
    why = f'User "{user}" cannot {verb} resource "{plural}" in API group "{api_group}" {scope}'
    what = f'{plural}.{api_group}' if api_group else plural
    head = f'{what} "{name}" is forbidden' if name else f'{what} is forbidden'
    details: dict[str, Any] = {}
    if name:
        details['name'] = name
    if api_group:
        details['group'] = api_group
    details['kind'] = plural
    return StatusError(code=403, reason='Forbidden', message=f'{head}: {why}', details=details)


def unauthorized() -> StatusError:
    """No or an unknown bearer token (``authentication/request/...``: 401 ``Unauthorized``)."""
    return StatusError(code=401, reason='Unauthorized', message='Unauthorized')


def bad_request(message: str) -> StatusError:
    """A 400 ``BadRequest`` (``errors.NewBadRequest``: no details)."""
    return StatusError(code=400, reason='BadRequest', message=message)


def method_not_allowed(resource: _resources.ResourceType | None, verb: str) -> StatusError:
    """``errors.NewMethodNotSupported``: 405 ``MethodNotAllowed``."""
    what = qualified(resource) if resource is not None else 'resource'
    return StatusError(
        code=405,
        reason='MethodNotAllowed',
        message=f'{verb} is not supported on resources of kind "{what}"',
        details=_details(resource, ''),
    )


def unsupported_media_type(content_type: str, accepted: tuple[str, ...]) -> StatusError:
    """``negotiation.NewUnsupportedMediaTypeError``: 415 ``UnsupportedMediaType``."""
    return StatusError(
        code=415,
        reason='UnsupportedMediaType',
        message=(
            f'the body of the request was in an unknown format - accepted media types include: '
            f'{", ".join(accepted)}'
        ),
        details={'causes': [{'reason': 'UnsupportedMediaType', 'message': content_type}]},
    )


def for_code(
    code: int,
    resource: _resources.ResourceType,
    name: str,
    *,
    user: str,
    verb: str,
    namespace: str,
    message: str | None = None,
) -> StatusError:
    """The Status a real server would send with ``code`` for this request (fault injection)."""
    if code == 409:
        return conflict(resource, name or resource.plural)
    if code == 403:
        return forbidden(resource, name, user=user, verb=verb, namespace=namespace)
    if code == 404:
        return not_found(resource, name)
    if code == 401:
        return unauthorized()
    # errors.go NewInternalError / NewServiceUnavailable / NewTooManyRequests / NewTimeoutError
    reasons = {
        429: ('TooManyRequests', 'Too many requests, please try again later.'),
        500: ('InternalError', 'Internal error occurred: injected fault'),
        503: ('ServiceUnavailable', 'the server is currently unable to handle the request'),
        504: ('Timeout', 'Timeout: request did not complete within the allowed duration'),
    }
    reason, default = reasons.get(code, ('Unknown', f'the server responded with {code}'))
    return StatusError(code=code, reason=reason, message=message or default, details={})
