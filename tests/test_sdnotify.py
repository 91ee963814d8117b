"""sd_notify over a real datagram socket, path and abstract namespace."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastq.supervisor.sdnotify import SdNotifier


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def test_messages_reach_a_path_socket(path_socket: tuple[socket.socket, str]) -> None:
    sock, path = path_socket
    n = SdNotifier({"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready("2 workers up")
    msg = sock.recv(4096).decode()
    assert msg.splitlines() == ["READY=1", f"MAINPID={os.getpid()}", "STATUS=2 workers up"]
    assert n.status("line one\nline two")
    assert sock.recv(4096) == b"STATUS=line one line two"
    assert n.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    n.close()


def test_abstract_namespace_socket() -> None:
    name = f"fastq-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        n = SdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert n.reloading()
        assert sock.recv(4096) == b"RELOADING=1"
    finally:
        sock.close()


def test_without_notify_socket_everything_is_a_noop() -> None:
    n = SdNotifier({})
    assert not n.enabled
    assert not n.ready()
    assert not n.watchdog()


def test_missing_listener_is_not_fatal(tmp_path: Path) -> None:
    n = SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert not n.ready()


def test_watchdog_interval_is_half_of_watchdog_usec(
    path_socket: tuple[socket.socket, str],
) -> None:
    sock, path = path_socket
    n = SdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"}, pid=42)
    assert n.watchdog_interval == 2.0
    assert n.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    other = SdNotifier(
        {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}, pid=42
    )
    assert other.watchdog_interval is None
    assert not other.watchdog()
