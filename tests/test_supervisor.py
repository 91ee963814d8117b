"""The supervisor's mechanics with real processes and real signals.

These run the real Supervisor around a stand-in worker body
(tests/supervisorapps/fake_main.py), so they exercise forking, signals, reaping,
restarts and murder without Redis. tests/test_supervisor_engine.py runs the real
`fastq-worker` on the real engine.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import types
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from supervisorapps.harness import SupervisorProc, alive, kill_quietly, wait_for

from fastq.supervisor.exitcodes import ExitCode

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[SupervisorProc]]:
    procs: list[SupervisorProc] = []
    yield procs
    for p in procs:
        p.close()


def fake(started: list[SupervisorProc], tmp_path: Path, *args: str, **env: str) -> SupervisorProc:
    p = SupervisorProc.fake(
        ["--processes", "2", "--concurrency", "3", "--shutdown-timeout", "2", *args],
        tmp_path,
        env,
    )
    started.append(p)
    return p


def started_pids(p: SupervisorProc) -> list[int]:
    return [int(e[0]) for e in p.events() if e[1] == "start"]


def test_ttin_and_ttou_change_the_number_of_children(
    started: list[SupervisorProc], tmp_path: Path
) -> None:
    p = fake(started, tmp_path)
    wait_for(lambda: len(p.workers()) == 2, what="2 children")
    p.signal(signal.SIGTTIN)
    wait_for(lambda: len(p.workers()) == 3, what="3 children after TTIN")
    # (a child still booting would be retired before its handlers record anything)
    wait_for(lambda: len(started_pids(p)) == 3, what="3 children running")
    p.signal(signal.SIGTTOU)
    wait_for(lambda: len(p.workers()) == 2, what="2 children after TTOU")
    p.signal(signal.SIGTTOU)  # (the kernel merges a signal sent while one is pending)
    wait_for(lambda: len(p.workers()) == 1, what="1 child after two TTOU")
    p.signal(signal.SIGTTOU)  # never below one
    time.sleep(0.5)
    assert len(p.workers()) == 1
    retired = [e for e in p.events() if e[1] == "term"]
    assert len(retired) == 2  # retired gracefully, not killed
    p.signal(signal.SIGTERM)
    assert p.wait() == ExitCode.OK


def test_graceful_stop_forwards_term_and_exits_zero(
    started: list[SupervisorProc], tmp_path: Path
) -> None:
    p = fake(started, tmp_path)
    pids = wait_for(lambda: len(started_pids(p)) == 2 and started_pids(p), what="2 starts")
    wait_for(
        lambda: all("busy 1/3" in t for t in p.titles()) and len(p.titles()) == 2,
        what="busy titles",
    )
    p.signal(signal.SIGTERM)
    assert p.wait() == ExitCode.OK
    events = p.events()
    for pid in pids:
        assert [str(pid), "term"] in events
        assert [str(pid), "exit", "term"] in events
    assert "supervisor stopped" in p.log()


def test_second_sigint_escalates_to_fast(started: list[SupervisorProc], tmp_path: Path) -> None:
    p = fake(started, tmp_path, "--shutdown-timeout", "20", FAKE_MODE="slow_stop")
    pids = wait_for(lambda: len(started_pids(p)) == 2 and started_pids(p), what="2 starts")
    wait_for(lambda: len(p.titles()) == 2 and all("busy 1/3" in t for t in p.titles()), what="busy")
    p.signal(signal.SIGINT)  # graceful: children get TERM and keep draining
    wait_for(lambda: all([str(pid), "term"] in p.events() for pid in pids), what="term")
    time.sleep(0.7)
    assert p.proc.poll() is None
    p.signal(signal.SIGINT)  # the second one: fast
    assert p.wait() == ExitCode.OK
    for pid in pids:
        assert [str(pid), "exit", "quit"] in p.events()
    assert "stopping fast" in p.log()


def test_kill_9_of_a_child_restarts_it(started: list[SupervisorProc], tmp_path: Path) -> None:
    p = fake(started, tmp_path)
    first = wait_for(lambda: len(p.workers()) == 2 and p.workers(), what="2 children")
    victim = first[0].pid
    kill_quietly(victim)
    wait_for(
        lambda: len(p.workers()) == 2 and victim not in {c.pid for c in p.workers()},
        what="a replacement",
    )
    # The log reaches the file through the harness's pipe: wait for it, then check it.
    wait_for(lambda: "restarting" in p.log(), what="the restart in the log")
    assert "killed by SIGKILL: out of memory?" in p.log()


def test_a_crash_is_logged_with_its_exit_code(
    started: list[SupervisorProc], tmp_path: Path
) -> None:
    p = fake(started, tmp_path, FAKE_MODE="crash_once")
    wait_for(lambda: any(e[1] == "crash" for e in p.events()), what="the crash")
    wait_for(lambda: len(started_pids(p)) == 3, what="the restart")
    assert "exited with code 9" in p.log()


def test_boot_failure_halts_with_its_exit_code(
    started: list[SupervisorProc], tmp_path: Path
) -> None:
    p = fake(started, tmp_path, FAKE_MODE="boot_fail")
    assert p.wait() == ExitCode.WORKER_BOOT_ERROR
    log = p.log()
    assert "this worker cannot start" in log  # the child's traceback
    assert "failed to boot" in log
    assert len(started_pids(p)) == 2  # no restart loop


def test_stuck_child_is_aborted_and_replaced(started: list[SupervisorProc], tmp_path: Path) -> None:
    p = fake(started, tmp_path, "--child-timeout", "1", FAKE_MODE="stuck_once")
    wait_for(lambda: any(e[1] == "stuck" for e in p.events()), what="a stuck child")
    stuck = next(int(e[0]) for e in p.events() if e[1] == "stuck")
    wait_for(
        lambda: not alive(stuck),
        timeout=8,
        what="the stuck child to die",
    )
    wait_for(lambda: len(started_pids(p)) == 3, what="its replacement")
    log = p.log()
    assert "is stuck (no heartbeat)" in log
    assert "killed by SIGABRT" in log
    # faulthandler in the child dumped where it hung
    assert "Current thread" in log or "Fatal Python error" in log


def test_recycle_request_starts_a_replacement(
    started: list[SupervisorProc], tmp_path: Path
) -> None:
    p = fake(started, tmp_path, "--processes", "1", FAKE_MODE="recycle")
    wait_for(
        lambda: sum(1 for e in p.events() if e[1] == "recycle") >= 2,
        timeout=10,
        what="two recycles",
    )
    wait_for(lambda: len(p.workers()) == 1, what="one serving child")
    log = p.log()
    assert "replacing worker process" in log and "fake max tasks" in log
    assert "died; restarting" not in log  # a recycle is not a crash: no backoff


def test_quiet_sends_usr1_to_every_child(started: list[SupervisorProc], tmp_path: Path) -> None:
    p = fake(started, tmp_path)
    pids = wait_for(lambda: len(started_pids(p)) == 2 and started_pids(p), what="2 starts")
    wait_for(lambda: len(p.titles()) == 2 and all("busy 1/3" in t for t in p.titles()), what="busy")
    p.signal(signal.SIGTSTP)
    wait_for(lambda: all([str(pid), "usr1"] in p.events() for pid in pids), what="usr1")
    wait_for(lambda: all("busy 0/3" in t for t in p.titles()), what="quiet titles")
    assert psutil.Process(p.pid).status() != psutil.STATUS_STOPPED
    p.signal(signal.SIGTERM)
    assert p.wait() == ExitCode.OK


def test_children_stop_when_the_supervisor_dies(
    started: list[SupervisorProc], tmp_path: Path
) -> None:
    p = fake(started, tmp_path)
    kids = wait_for(lambda: len(p.workers()) == 2 and p.workers(), what="2 children")
    wait_for(lambda: len(started_pids(p)) == 2, what="2 children running")
    p.proc.kill()
    p.proc.wait()
    for kid in kids:
        kid.wait(timeout=10)  # no orphans left behind
    events = p.events()
    for kid in kids:
        assert [str(kid.pid), "term"] in events or [str(kid.pid), "orphan"] in events


def test_hup_applies_the_config_file_and_survives_a_broken_one(
    started: list[SupervisorProc], tmp_path: Path
) -> None:
    config = tmp_path / "worker.toml"
    config.write_text("processes = 1\nconcurrency = 3\n")
    p = SupervisorProc.fake(["--config", str(config), "--shutdown-timeout", "2"], tmp_path)
    started.append(p)
    first = wait_for(lambda: len(p.workers()) == 1 and p.workers(), what="1 child")
    config.write_text("processes = 2\nconcurrency = 5\n")
    p.signal(signal.SIGHUP)
    wait_for(
        lambda: len(p.titles()) == 2 and all("/5)" in t for t in p.titles()),
        timeout=8,
        what="2 children with the new concurrency",
    )
    assert first[0].pid not in {c.pid for c in p.workers()}
    config.write_text("processes = [oops\n")
    p.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in p.log(), what="the failed reload")
    time.sleep(0.5)
    assert len(p.workers()) == 2
    p.signal(signal.SIGTERM)
    assert p.wait() == ExitCode.OK


def test_a_hung_orphan_is_killed_after_the_shutdown_timeout(
    started: list[SupervisorProc], tmp_path: Path
) -> None:
    p = fake(started, tmp_path, "--shutdown-timeout", "0.5", FAKE_MODE="deaf")
    kids = wait_for(lambda: len(p.workers()) == 2 and p.workers(), what="2 children")
    wait_for(lambda: len(started_pids(p)) == 2, what="2 children running")
    p.proc.kill()
    p.proc.wait()
    started_at = time.monotonic()
    for kid in kids:
        kid.wait(timeout=10)
    # A bound, not a measurement: 0.5 s shutdown timeout + 5 s grace + polling, with
    # room for a loaded machine (an orphan never killed fails kid.wait above).
    assert time.monotonic() - started_at < 15


def test_sd_notify_messages(started: list[SupervisorProc], tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    try:
        p = fake(started, tmp_path, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
        got: list[str] = []
        while not any("READY=1" in m for m in got):
            got.append(sock.recv(4096).decode())
        ready = next(m for m in got if "READY=1" in m)
        assert f"MAINPID={p.pid}" in ready
        assert "STATUS=running: 2/2 worker processes" in ready
        while not any(m == "WATCHDOG=1" for m in got):
            got.append(sock.recv(4096).decode())
        p.signal(signal.SIGTERM)
        while not any(m.startswith("STOPPING=1") for m in got):
            got.append(sock.recv(4096).decode())
        assert p.wait() == ExitCode.OK
    finally:
        sock.close()


def test_restart_backoff_doubles_for_young_deaths_and_is_capped() -> None:
    from fastq.supervisor.children import Child
    from fastq.supervisor.options import resolve
    from fastq.supervisor.supervisor import BACKOFF_MAX, HEALTHY_UPTIME, Supervisor

    sup = Supervisor(
        resolve({"app": "x:app"}, {}, {}),
        object(),
        worker_factory=lambda app, settings, index: lambda control: 0,
    )
    sup.signals.uninstall()

    def crash(uptime: float) -> float:
        now = time.monotonic()
        child = Child(index=1, pid=1, fd=-1, generation=0, started=now - uptime, last_seen=now)
        sup._record_crash(child)
        return round(sup.next_spawn - now, 1)

    delays = [crash(0.5) for _ in range(12)]
    assert delays[:4] == [0.2, 0.4, 0.8, 1.6]
    assert max(delays) <= BACKOFF_MAX and delays[-1] == BACKOFF_MAX
    sup.next_spawn = 0.0
    # A child killed after a healthy run (an OOM kill, a kill -9) comes back at once.
    assert crash(HEALTHY_UPTIME + 1) == 0.1


def test_maintenance_forks_once_the_workers_are_ready_or_a_tick_later() -> None:
    from fastq.supervisor.children import MAINTENANCE_INDEX, Child
    from fastq.supervisor.options import resolve
    from fastq.supervisor.supervisor import LOOP_TICK, Supervisor

    sup = Supervisor(
        resolve({"app": "x:app", "processes": 2, "maintenance_in": "process"}, {}, {}),
        object(),
        worker_factory=lambda app, settings, index: lambda control: 0,
        maintenance_factory=lambda settings: lambda control: 0,
    )
    sup.signals.uninstall()
    forked: list[int] = []
    sup.spawn = lambda index: forked.append(index)  # type: ignore[method-assign,assignment,return-value]
    now = time.monotonic()
    sup.maintenance_first_spawn = now + LOOP_TICK
    for pid in (101, 102):
        sup.children[pid] = Child(
            index=pid - 100, pid=pid, fd=-1, generation=0, started=now, last_seen=now
        )
    sup.housekeeper.hold_redis_writes = True  # as run() sets it
    sup._manage_maintenance(now)
    assert forked == []  # the workers are still booting
    assert sup.housekeeper.hold_redis_writes  # nor the server state: same wait
    sup.children[101].ready = True
    sup._manage_maintenance(now)
    assert forked == []
    sup.children[102].ready = True
    sup._manage_maintenance(now)
    assert forked == [MAINTENANCE_INDEX]
    assert not sup.housekeeper.hold_redis_writes
    # Workers that never get ready do not hold maintenance back past the tick.
    forked.clear()
    sup.maintenance_first_spawn = now + LOOP_TICK
    sup.children[102].ready = False
    sup._manage_maintenance(now + LOOP_TICK)
    assert forked == [MAINTENANCE_INDEX]


def test_maintenance_duties_go_to_one_ready_worker_and_move_when_it_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastq.supervisor.children import Child
    from fastq.supervisor.options import resolve
    from fastq.supervisor.supervisor import Supervisor

    sup = Supervisor(
        resolve({"app": "x:app", "processes": 3}, {}, {}),
        object(),
        worker_factory=lambda app, settings, index: lambda control: 0,
        maintenance_factory=lambda settings: lambda control: 0,
    )
    sup.signals.uninstall()
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(Child, "signal", lambda self, sig: sent.append((self.index, sig)) or True)
    sup.spawn = lambda index: pytest.fail("no maintenance process in worker mode")  # type: ignore[method-assign,assignment,return-value]
    now = time.monotonic()
    for pid in (101, 102, 103):
        sup.children[pid] = Child(
            index=pid - 100, pid=pid, fd=-1, generation=0, started=now, last_seen=now, ready=True
        )
    sup.children[101].ready = False  # still booting: not a host yet
    sup._manage_maintenance(now)
    assert sent == [(2, signal.SIGUSR2)]  # the lowest-numbered ready worker
    sup._manage_maintenance(now)
    assert len(sent) == 1  # once: the host keeps them
    sup.children[101].ready = True
    sup._manage_maintenance(now)
    assert len(sent) == 1  # a lower index that gets ready later does not take them
    del sup.children[102]  # the host is killed and reaped
    sup._manage_maintenance(now)
    assert sent[-1] == (1, signal.SIGUSR2)
    sup.children[101].retiring_since = now  # the host is stopping (reload, scale down)
    sup._manage_maintenance(now)
    assert sent[-1] == (3, signal.SIGUSR2)
    # A host that asks to be replaced stops its duties itself: they move at once.
    read_fd, write_fd = os.pipe()
    sup.children[103].fd = read_fd
    os.write(write_fd, b"r max tasks\n")
    sup._read_children([read_fd])
    os.close(read_fd)
    os.close(write_fd)
    assert sup.children[103].replace_reason == "max tasks"
    sup.children[104] = Child(
        index=4, pid=104, fd=-1, generation=0, started=now, last_seen=now, ready=True
    )
    sup._manage_maintenance(now)
    assert sent[-1] == (4, signal.SIGUSR2)
    hosts = [c.index for c in sup.children.values() if c.hosts_maintenance]
    assert hosts == [1, 4]  # 1 is stopping: its duties stopped with its first TERM


def test_held_server_state_writes_wait_until_released() -> None:
    from fastq.supervisor.housekeeping import Housekeeper
    from fastq.supervisor.sdnotify import SdNotifier

    writes: list[str] = []

    class State:
        def beat(self, settings: object, *, processes: int, status: str, active: int) -> None:
            writes.append("beat")

        def prune(self) -> None:
            writes.append("prune")

        def forget_process(self, pid: int) -> None:
            pass

        def clear(self) -> None:
            pass

    keeper = Housekeeper(SdNotifier(), State())
    sup = types.SimpleNamespace(
        children={},
        options=types.SimpleNamespace(max_memory_per_child=0),
        settings=types.SimpleNamespace(heartbeat_interval=5.0),
        target=1,
        stopping=None,
        quiet=False,
    )
    keeper.hold_redis_writes = True
    keeper.tick(sup)  # type: ignore[arg-type]
    assert writes == []
    keeper.hold_redis_writes = False
    keeper.tick(sup)  # type: ignore[arg-type]
    assert writes == ["beat"]


def test_reload_frees_the_replaced_app_that_the_last_fork_froze() -> None:
    import gc
    import types
    import weakref

    from fastq.supervisor.options import resolve
    from fastq.supervisor.supervisor import Supervisor

    options = resolve({"app": "x:app"}, {}, {})
    old_app = types.ModuleType("old_app")
    exec("def handler(): pass", old_app.__dict__)  # handler <-> module dict: a cycle
    sup = Supervisor(
        options,
        old_app,
        worker_factory=lambda app, settings, index: lambda control: 0,
        reloader=lambda: (options, object()),
    )
    sup.signals.uninstall()
    gone = weakref.ref(old_app.handler)
    del old_app
    gc.freeze()  # what spawn() does before each fork
    try:
        sup.handle_hup()
        assert gone() is None
    finally:
        gc.unfreeze()


def test_redis_outage_is_logged_once_and_recovery_only_after_a_real_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastq.errors import BrokerConnectionError
    from fastq.supervisor import housekeeping, supervisor
    from fastq.supervisor.options import resolve

    class State:
        down = False
        writes = 0

        def beat(self, settings: object, **kw: object) -> None:
            self.writes += 1
            if self.down:
                raise BrokerConnectionError("redis://127.0.0.1:1/0")

        def prune(self) -> None:
            self.beat(None)

        def clear(self) -> None:
            pass

    lines: list[str] = []

    class Log:
        def warning(self, event: str, **kw: object) -> None:
            lines.append(event)

        info = warning

    monkeypatch.setattr(housekeeping, "log", Log())
    state = State()
    sup = supervisor.Supervisor(
        resolve({"app": "x:app"}, {}, {}),
        object(),
        server_state=state,
        worker_factory=lambda app, settings, index: lambda control: 0,
    )
    sup.signals.uninstall()
    now = 1000.0
    state.down = True
    for _ in range(40):  # 20 s of loop passes at 0.5 s: 10 failed beats
        sup.housekeeper._beat(sup, now, [])
        now += 0.5
    assert lines == ["could not write the server heartbeat"]
    assert state.writes == 10
    state.down = False
    sup.housekeeper._next_beat = now + 1
    sup.housekeeper._beat(sup, now, [])  # not due yet: no write, so no claim of recovery
    assert lines == ["could not write the server heartbeat"]
    sup.housekeeper._beat(sup, now + 1, [])
    assert lines == ["could not write the server heartbeat", "server heartbeat written again"]
