"""The gate: the scheduler's thread applies a released request; its thread only answers."""

from __future__ import annotations

import threading

import pytest

from jujusim.kube import ApiRequest, ApiResponse, FakeKube, ResponseLost, StatusError
from jujusim.model._gate import Decision, Gate, HeldRequest


class _Kube:
    """Stands in for FakeKube.handle: records which thread applied each request."""

    def __init__(self, fail: BaseException | None = None):
        self.threads: list[str] = []
        self.fail = fail

    def handle(self, request: ApiRequest) -> ApiResponse:
        self.threads.append(threading.current_thread().name)
        if self.fail is not None:
            raise self.fail
        return ApiResponse.json(200, {'path': request.path})


def _held(kube: _Kube) -> tuple[Gate, threading.Thread, HeldRequest, dict[str, object]]:
    gate = Gate(kube, wake=lambda: None)  # type: ignore[arg-type]  # a handler is all it uses
    gate.register('tok', 'app/0')
    outcome: dict[str, object] = {}

    def serve() -> None:
        try:
            outcome['response'] = gate.handle(
                ApiRequest(method='GET', path='/x', headers={'authorization': 'Bearer tok'})
            )
        except BaseException as e:
            outcome['raised'] = e

    thread = threading.Thread(target=serve, name='server-thread')
    thread.start()
    while not (arrived := gate.arrived()):
        threading.Event().wait(0.001)
    return gate, thread, arrived[0], outcome


def test_release_applies_on_the_releasing_thread_before_the_server_wakes():
    kube = _Kube()
    _, thread, held, outcome = _held(kube)
    held.release('apply')
    # Applied by the time release() returns: the scheduler waits for no thread switch.
    assert held.applied.is_set()
    assert held.response is not None and held.response.status == 200
    assert kube.threads == [threading.current_thread().name]
    thread.join(5)
    assert outcome == {'response': held.response}


def test_handler_errors_are_raised_on_the_server_thread():
    error = StatusError(code=409, reason='Conflict', message='x')
    _, thread, held, outcome = _held(_Kube(fail=error))
    held.release('apply')
    thread.join(5)
    assert outcome == {'raised': error}  # the server answers it as before: a 409 Status


def test_apply_lose_applies_and_the_server_loses_the_response():
    kube = _Kube()
    _, thread, held, outcome = _held(kube)
    held.release('apply-lose')
    assert held.applied.is_set() and kube.threads
    assert thread.is_alive()  # waits until the scheduler has killed the worker
    held.delivered.set()
    thread.join(5)
    assert isinstance(outcome['raised'], ResponseLost)


@pytest.mark.parametrize(
    ('decision', 'fail', 'sent_early'),
    [
        ('apply', None, True),
        ('apply', StatusError(code=409, reason='Conflict', message='x'), False),
        ('apply-lose', None, False),
        ('drop', None, False),
    ],
)
def test_only_an_applied_answer_goes_out_from_the_releasing_thread(
    decision: Decision, fail: BaseException | None, sent_early: bool
):
    """The releasing thread sends the response itself (the server's early responder) only
    when the request was applied, succeeded and its response is not to be lost."""
    _, thread, held, outcome = _held(_Kube(fail=fail))
    sent: list[tuple[str, ApiResponse]] = []

    def respond_now(response: ApiResponse) -> bool:
        sent.append((threading.current_thread().name, response))
        return True

    held.respond_now = respond_now
    held.release(decision)
    held.delivered.set()
    thread.join(5)
    expected = [(threading.current_thread().name, outcome.get('response'))] if sent_early else []
    assert sent == expected


def test_drop_never_applies():
    kube = _Kube()
    _, thread, held, outcome = _held(kube)
    held.release('drop')
    thread.join(5)
    assert kube.threads == []
    assert isinstance(outcome['raised'], ResponseLost)


def test_requests_of_others_pass_straight_through():
    fake = FakeKube(namespaces=('m',))
    gate = Gate(fake, wake=lambda: pytest.fail('nobody is held'))
    response = gate.handle(ApiRequest(method='GET', path='/api/v1/namespaces/m/configmaps/none'))
    assert response.status in (401, 403, 404)
