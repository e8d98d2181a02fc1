from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import threading

import agent_helpers
import pytest

from jujusim import agent
from jujusim.agent._private import wire


def our_children() -> set[int]:
    """Live (or zombie) processes whose parent is this test process."""
    found: set[int] = set()
    for entry in pathlib.Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
            except OSError:
                continue  # it ended while we looked
            if int(fields[1]) == os.getpid():
                found.add(int(entry.name))
    return found


def identity(pid: int) -> str | None:
    """A pid's start time, so a reused pid is not taken for the same process."""
    try:
        return (
            (pathlib.Path('/proc') / str(pid) / 'stat').read_text().rsplit(')', 1)[1].split()[19]
        )
    except OSError:
        return None


def running(pid: int, ident: str | None) -> bool:
    """Whether that very process still runs (a zombie no longer does)."""
    try:
        fields = (pathlib.Path('/proc') / str(pid) / 'stat').read_text().rsplit(')', 1)[1].split()
    except OSError:
        return False
    return fields[19] == ident and fields[0] != 'Z'


@pytest.mark.parametrize('spares', [0, 2])
def test_close_leaves_no_process_and_no_temp_dir(
    gate: agent_helpers.Gate,
    spares: int,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
):
    children_before = our_children()
    # The zygote and its workers inherit TMPDIR: any temp dir they left outside the
    # pool's own folder would land here.
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.setenv('TMPDIR', str(elsewhere))

    pool = agent.AgentPool(spares=spares)
    pool.add_app('counter', agent_helpers.COUNTER)
    pool.spawn('counter/0')
    pool.spawn('counter/1')
    state = agent_helpers.counter_state()
    assert pool.run_hook('counter/0', agent.HookSpec(kind='start'), state).ok

    # A worker killed mid-hook leaves Scenario's temp dirs behind: in its own temp dir,
    # which the pool deletes once the worker is gone.
    gated = agent_helpers.counter_state(gate=gate.path)
    pool.start_hook('counter/0', agent.HookSpec(kind='update_status'), gated)
    conn, _ = gate.arrive()
    process = pool.process('counter/0')
    assert process is not None
    tmpdir = process.tmpdir
    assert any(p.name.startswith('scenario-') for p in tmpdir.iterdir())
    pool.kill('counter/0')
    assert isinstance(pool.next_event(agent_helpers.PATIENCE), agent.WorkerGone)
    assert not tmpdir.exists()
    conn.close()

    # And one is left blocked mid-hook when the pool closes.
    pool.start_hook('counter/1', agent.HookSpec(kind='update_status'), gated)
    gate.arrive()
    pool.wait_for_spares()
    processes = {pid: identity(pid) for pid in pool.pids}
    assert len(processes) == 2 + spares  # the zygote, counter/1 and the spares
    assert our_children() - children_before == {pool.zygote_pid('counter')}

    pool.close()
    pool.close()  # closing twice is harmless

    assert {pid for pid, ident in processes.items() if identity(pid) == ident} == set()
    assert our_children() == children_before
    assert not pool.root.exists()
    assert list(elsewhere.iterdir()) == []
    with pytest.raises(agent.AgentError, match='closed'):
        pool.spawn('counter/2')


def test_broken_charm_fails_add_app_with_its_traceback(tmp_path: pathlib.Path):
    (tmp_path / 'src').mkdir()
    (tmp_path / 'charmcraft.yaml').write_text('name: broken\n')
    (tmp_path / 'src' / 'charm.py').write_text(
        textwrap.dedent("""
            import ops

            raise RuntimeError('this charm cannot even import')
        """)
    )
    children_before = our_children()
    with agent.AgentPool() as pool:
        with pytest.raises(agent.AgentError, match='failed to load in its zygote') as caught:
            pool.add_app('broken', tmp_path)
        assert 'RuntimeError: this charm cannot even import' in str(caught.value)
        with pytest.raises(agent.AgentError, match="'broken' has not been added"):
            pool.spawn('broken/0')
    assert our_children() == children_before


def test_zygote_death_takes_its_workers_and_is_reported():
    with agent.AgentPool(spares=1) as pool:
        pool.add_app('counter', agent_helpers.COUNTER)
        pool.spawn('counter/0')
        pool.spawn('counter/1')
        pool.wait_for_spares()
        workers = {pid: identity(pid) for pid in pool.pids}

        os.kill(pool.zygote_pid('counter'), signal.SIGKILL)
        gone = [pool.next_event(agent_helpers.PATIENCE) for _ in range(2)]

        assert {(e.unit, e.signal, e.killed) for e in gone if isinstance(e, agent.WorkerGone)} == {
            ('counter/0', None, False),
            ('counter/1', None, False),
        }
        with pytest.raises(agent.AgentError, match='zygote for counter/0 has died'):
            pool.spawn('counter/0')
    # The workers died with their zygote (PR_SET_PDEATHSIG), spares included; as
    # orphans they are reaped by init, in its own time.
    assert {pid for pid, ident in workers.items() if running(pid, ident)} == set()


def test_pool_outlives_the_thread_that_started_it():
    # PR_SET_PDEATHSIG on the zygote would kill it when this thread ends.
    pools: list[agent.AgentPool] = []

    def start() -> None:
        pool = agent.AgentPool(spares=0)
        pool.add_app('counter', agent_helpers.COUNTER)
        pool.spawn('counter/0')
        pools.append(pool)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    (pool,) = pools
    with pool:
        result = pool.run_hook(
            'counter/0', agent.HookSpec(kind='start'), agent_helpers.counter_state()
        )
        assert result.ok


def start_zygote(tmp_path: pathlib.Path) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """A zygote for the counter charm, as the pool starts one; its stderr piped here."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    command = [
        sys.executable,
        '-m',
        'jujusim.agent._private.zygote',
        f'--control-fd={theirs.fileno()}',
        f'--charm={agent_helpers.COUNTER}',
        f'--juju-version={agent.DEFAULT_JUJU_VERSION}',
        f'--tmpdir={tmp_path}',
    ]
    zygote = subprocess.Popen(
        command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    theirs.close()
    ours.settimeout(agent_helpers.PATIENCE)
    message, _ = wire.recv_packet(ours)
    assert message[0] == wire.READY, message
    return zygote, ours


def test_a_zygote_whose_parent_is_gone_with_a_spawn_queued_exits_quietly(
    tmp_path: pathlib.Path,
):
    # The parent asks for a worker and is gone before the zygote answers (an exploration
    # left early): the zygote forks, finds nobody to tell, and ends without a traceback.
    zygote, control = start_zygote(tmp_path)
    worker_end, parent_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    os.kill(zygote.pid, signal.SIGSTOP)  # the request and the close land before it reads
    wire.send_packet(control, (wire.SPAWN, 1, None, {}, str(tmp_path)), [worker_end.fileno()])
    worker_end.close()
    control.close()
    parent_end.close()
    os.kill(zygote.pid, signal.SIGCONT)
    # stderr ends once the zygote and the worker it forked (its child, killed) are gone.
    _, stderr = zygote.communicate(timeout=agent_helpers.PATIENCE)
    assert stderr.decode() == ''
    assert zygote.returncode == 0


def test_a_spare_whose_parent_is_gone_exits_quietly(tmp_path: pathlib.Path):
    # The parent is gone before the spare it asked for is warm: the spare's "ready" finds
    # nobody, and it ends without a traceback, exit code 0.
    zygote, control = start_zygote(tmp_path)
    worker_end, parent_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    parent_end.close()
    wire.send_packet(control, (wire.SPAWN, 1, None, {}, str(tmp_path)), [worker_end.fileno()])
    worker_end.close()
    spawned, fds = wire.recv_packet(control)
    for fd in fds:
        os.close(fd)
    assert spawned[0] == wire.SPAWNED, spawned
    exited, _ = wire.recv_packet(control)
    assert exited[:2] == (wire.EXITED, spawned[3])
    assert os.waitstatus_to_exitcode(exited[2]) == 0
    control.close()
    _, stderr = zygote.communicate(timeout=agent_helpers.PATIENCE)
    assert stderr.decode() == ''
    assert zygote.returncode == 0
