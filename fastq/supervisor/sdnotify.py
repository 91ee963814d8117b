"""systemd's notify protocol (sd_notify) without libsystemd.

A ``Type=notify`` service tells systemd it is ready, what it is doing and that it
is still alive by sending datagrams such as ``READY=1`` to the unix socket named in
``$NOTIFY_SOCKET``. A name starting with ``@`` is in the abstract namespace. When
``WatchdogSec=`` is set, systemd puts the interval in ``$WATCHDOG_USEC`` (and the
pid that must ping in ``$WATCHDOG_PID``); the service sends ``WATCHDOG=1`` at least
every half of it. Without ``$NOTIFY_SOCKET`` every call is a no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

ENV_NOTIFY_SOCKET = "NOTIFY_SOCKET"
ENV_WATCHDOG_USEC = "WATCHDOG_USEC"
ENV_WATCHDOG_PID = "WATCHDOG_PID"


def _socket_address(name: str) -> str | bytes:
    # A leading '@' names an abstract socket: its real first byte is NUL.
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


class SdNotifier:
    """Sends sd_notify messages; silent when not started by systemd.

    Args:
        env: the environment to read ``NOTIFY_SOCKET`` / ``WATCHDOG_*`` from
            (default: ``os.environ``).
        pid: this process's pid, compared with ``WATCHDOG_PID`` (default: ``os.getpid()``).
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, pid: int | None = None) -> None:
        env = os.environ if env is None else env
        self.address: str | bytes | None = None
        name = env.get(ENV_NOTIFY_SOCKET, "")
        if name and (name.startswith("@") or name.startswith("/")):
            self.address = _socket_address(name)
        self.watchdog_interval = self._watchdog_interval(env, os.getpid() if pid is None else pid)
        self._sock: socket.socket | None = None

    @staticmethod
    def _watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None when off."""
        usec = env.get(ENV_WATCHDOG_USEC, "")
        if not usec.isdigit() or int(usec) == 0:
            return None
        wd_pid = env.get(ENV_WATCHDOG_PID, "")
        if wd_pid.isdigit() and int(wd_pid) != pid:
            return None  # the watchdog belongs to another process (e.g. a wrapper)
        return int(usec) / 1_000_000 / 2

    @property
    def enabled(self) -> bool:
        """True when ``$NOTIFY_SOCKET`` names a socket."""
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send one datagram made of ``KEY=value`` lines; False if not sent.

        Args:
            fields: the assignments, e.g. ``"READY=1"``, ``"STATUS=running"``.
        """
        if self.address is None:
            return False
        payload = "\n".join(f.replace("\n", " ") for f in fields).encode()
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.setblocking(False)
                self._sock = sock
            self._sock.sendto(payload, self.address)
        except OSError:
            # systemd gone or socket full: notification is best effort, never fatal.
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1`` (with an optional ``STATUS=``) and ``MAINPID=``."""
        fields = ["READY=1", f"MAINPID={os.getpid()}"]
        if status:
            fields.append(f"STATUS={status}")
        return self.notify(*fields)

    def status(self, text: str) -> bool:
        """``STATUS=<text>``: shown by ``systemctl status``."""
        return self.notify(f"STATUS={text}")

    def reloading(self) -> bool:
        """``RELOADING=1``: a reload started; send ``ready()`` when it is done."""
        return self.notify("RELOADING=1")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: the service is shutting down."""
        fields = ["STOPPING=1"]
        if status:
            fields.append(f"STATUS={status}")
        return self.notify(*fields)

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the service is alive (only when ``WatchdogSec=`` is set)."""
        if self.watchdog_interval is None:
            return False
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        """Close the socket; later calls open a new one."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
