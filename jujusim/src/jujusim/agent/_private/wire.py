"""Pickled messages over unix sockets: framed on streams, whole on seqpacket sockets."""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import struct
from typing import Any

_HEADER = struct.Struct('!I')
# A seqpacket message must fit in one datagram; spawn requests and replies are small.
SEQPACKET_MAX = 64 * 1024


# The zygote's control protocol (seqpacket): see zygote.py's docstring.
SPAWN = 'spawn'
SPAWNED = 'spawned'
SPAWN_FAILED = 'spawn_failed'
EXITED = 'exited'
READY = 'ready'
FAILED = 'failed'
# A worker's protocol (framed stream): a spare says ('ready',) once warm and waits for
# ('assign', unit, env); then ('hook', id, spec, juju_state, trusted, leader) in (leader:
# what is-leader answers until the worker first sends anything, or None), ('done', id,
# result) out; ('exit',) asks the worker to leave. During a hook the worker may ask
# ('is-leader',) and wait for ('leader', answer), answer None meaning "the State's". Before
# releasing a unit's API request the parent may send ('leader-ahead', answer): what
# is-leader answers from that request's response until the worker next sends anything.
# ('local', LocalState) before its first hook gives a new worker the unit-local state a
# unit's previous worker had (a model restored from a snapshot), instead of none. Between
# hooks, ('as-new',) asks whether the charm's modules and threads are what they were when
# the worker began to serve; it answers ('as-new', bool) (worker.charm_memory).
ASSIGN = 'assign'
LOCAL = 'local'
AS_NEW = 'as-new'
HOOK = 'hook'
DONE = 'done'
EXIT = 'exit'
IS_LEADER = 'is-leader'
LEADER = 'leader'
LEADER_AHEAD = 'leader-ahead'
# A worker whose environment sets this asks the parent is-leader (worker.live_is_leader),
# and its time.sleep waits on the parent's virtual clock (worker.virtual_sleep).
ASK_LEADER_ENV = 'JUJUSIM_ASK_LEADER'
# Where such a worker's time.sleep(seconds) asks the fake API server to hold it: a POST with
# the unit's token and ``?seconds=``; the model's gate holds it that long in virtual time.
SLEEP_PATH = '/jujusim/v1/sleep'


class ConnectionClosedError(EOFError):
    """The other end closed the connection (or died) before a whole message arrived."""


def frame(obj: Any) -> bytes:
    """``obj`` pickled, behind a 4-byte length, ready for one ``sendall``."""
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def send(sock: socket.socket, obj: Any) -> None:
    """Send one framed message on a stream socket, in a single write."""
    sock.sendall(frame(obj))


def recv(sock: socket.socket) -> Any:
    """Block until one framed message arrives on a stream socket.

    Raises:
        ConnectionClosedError: the peer closed the connection first.
    """
    (size,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
    return pickle.loads(_recv_exactly(sock, size))  # noqa: S301 - our own processes only


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionClosedError('peer closed the connection')
        chunks.append(chunk)
        remaining -= len(chunk)
    return b''.join(chunks)


class FrameReader:
    """Reassembles framed messages from the chunks a non-blocking reader gets."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """Add ``data``; return every message now complete, oldest first."""
        self._buffer += data
        messages: list[Any] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            messages.append(pickle.loads(bytes(self._buffer[_HEADER.size : end])))  # noqa: S301
            del self._buffer[:end]
        return messages

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message held back."""
        return len(self._buffer)


def send_packet(sock: socket.socket, obj: Any, fds: list[int] | None = None) -> None:
    """Send one pickled message on a seqpacket socket, with file descriptors attached."""
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    if len(payload) > SEQPACKET_MAX:
        raise ValueError(f'message of {len(payload)} bytes is over {SEQPACKET_MAX}')
    socket.send_fds(sock, [payload], fds or [])


def recv_packet(sock: socket.socket, *, wait: bool = True) -> tuple[Any, list[int]]:
    """Receive one message and its file descriptors from a seqpacket socket.

    Raises:
        ConnectionClosedError: the peer closed the connection.
        BlockingIOError: ``wait`` is false and no message is ready.
    """
    flags = 0 if wait else socket.MSG_DONTWAIT
    payload, fds, _flags, _addr = socket.recv_fds(sock, SEQPACKET_MAX, 4, flags)
    if not payload:
        for fd in fds:  # pragma: no cover - an empty message never carries descriptors
            _close_quietly(fd)
        raise ConnectionClosedError('peer closed the connection')
    return pickle.loads(payload), fds  # noqa: S301 - our own processes only


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
