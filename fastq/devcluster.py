"""Start and stop a private Redis Cluster or Sentinel set-up (tests, benchmarks).

Everything binds to 127.0.0.1 on free ports, keeps its data in temporary
directories and is stopped by pid; nothing touches a Redis someone else runs.

- ``LocalCluster``: 6 nodes started with ``redis-server --cluster-enabled yes``,
  joined by ``redis-cli --cluster create ... --cluster-replicas 1`` (3 masters,
  3 replicas);
- ``LocalSentinel``: one master, two replicas and three ``redis-sentinel``
  processes monitoring it under the name ``mymaster``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from fastq.devredis import RedisServer, free_port

CLUSTER_NODE_TIMEOUT_MS = 2000
SENTINEL_DOWN_AFTER_MS = 1000
SENTINEL_FAILOVER_TIMEOUT_MS = 4000
MASTER_NAME = "mymaster"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535 and _port_free(port + 10000):
            return port


def _wait(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


class LocalCluster:
    """Six redis-server nodes in cluster mode: 3 masters, 3 replicas."""

    def __init__(self, size: int = 6, replicas: int = 1) -> None:
        self.nodes: list[RedisServer] = []
        for _ in range(size):
            node = RedisServer(
                extra=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    str(CLUSTER_NODE_TIMEOUT_MS),
                ]
            )
            node.port = cluster_port()
            self.nodes.append(node)
        self.replicas = replicas

    @property
    def url(self) -> str:
        """``redis+cluster://`` naming every node (any one would do)."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)
        return f"redis+cluster://{hosts}/"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        redis_cli = shutil.which("redis-cli")
        if redis_cli is None:
            raise RuntimeError("redis-cli is not on PATH")
        subprocess.run(
            [
                redis_cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_ok()

    def client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(port=node.port, socket_timeout=5)

    def alive(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node reports ``cluster_state:ok``, every replica's link to
        its master is up, and 3 masters serve the slots."""

        def ok() -> bool:
            for node in self.alive():
                with self.client(node) as c:
                    info = c.execute_command("CLUSTER", "INFO")
                    text = info.decode() if isinstance(info, bytes) else str(info)
                    if "cluster_state:ok" not in text:
                        return False
                    role = c.execute_command("ROLE")
                    if role[0] == b"slave" and role[3] != b"connected":
                        return False
            return len(self.masters()) == len(self.nodes) // (self.replicas + 1)

        _wait(ok, "cluster_state:ok", timeout)

    def wait_role(self, node: RedisServer, role: str, timeout: float = 30.0) -> None:
        """Until ``node`` reports ``role`` ("master" or "replica"): ``CLUSTER FAILOVER``
        answers OK before the switch, and the cluster may stay ok throughout."""
        _wait(lambda: self.roles().get(node.port) == role, f"{node.port} {role}", timeout)

    def roles(self) -> dict[int, str]:
        """Port -> "master" or "replica", as each live node reports itself."""
        out = {}
        for node in self.alive():
            with self.client(node) as c:
                out[node.port] = (
                    "master" if c.execute_command("ROLE")[0] == b"master" else "replica"
                )
        return out

    def masters(self) -> list[RedisServer]:
        roles = self.roles()
        return [n for n in self.alive() if roles.get(n.port) == "master"]

    def replica_of(self, master: RedisServer) -> RedisServer:
        for node in self.alive():
            with self.client(node) as c:
                role = c.execute_command("ROLE")
                if role[0] == b"slave" and int(role[2]) == master.port:
                    return node
        raise RuntimeError(f"no replica of 127.0.0.1:{master.port}")

    def owner_of(self, slot: int) -> RedisServer:
        """The master serving ``slot`` now."""
        for node in self.masters():
            with self.client(node) as c:
                for start, end, master, *_replicas in c.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        return next(n for n in self.nodes if n.port == int(master[1]))
        raise RuntimeError(f"no master serves slot {slot}")

    def move_slot(self, slot: int, to: RedisServer, batch: int = 50) -> int:
        """Reshard one slot to master ``to`` while clients keep using it, as
        ``redis-cli --cluster reshard`` does: IMPORTING/MIGRATING, MIGRATE the keys
        in batches (clients meanwhile get ASK / TRYAGAIN), then SETSLOT NODE on
        every master. Returns how many keys moved."""
        src = self.owner_of(slot)
        with self.client(src) as s, self.client(to) as d:
            src_id, dst_id = (
                s.execute_command("CLUSTER", "MYID"),
                d.execute_command("CLUSTER", "MYID"),
            )
            d.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
            s.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
            moved = 0
            while True:
                names = s.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch)
                if not names:
                    break
                s.execute_command("MIGRATE", "127.0.0.1", to.port, "", 0, 5000, "KEYS", *names)
                moved += len(names)
            for node in self.masters():
                with self.client(node) as c:
                    c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        return moved

    def flush(self) -> None:
        """Empty every master and its script cache (between tests)."""
        for node in self.masters():
            with self.client(node) as c:
                c.flushall()
                c.script_flush()

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()


class LocalSentinel:
    """One master, two replicas, three sentinels monitoring ``mymaster``."""

    def __init__(self) -> None:
        self.servers = [RedisServer() for _ in range(3)]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.dir = Path(tempfile.mkdtemp(prefix="fastq-sentinel-"))
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    def start(self) -> None:
        master = self.servers[0]
        master.start()
        for replica in self.servers[1:]:
            replica.extra = ["--replicaof", "127.0.0.1", str(master.port)]
            replica.start()
        binary = shutil.which("redis-sentinel")
        if binary is None:
            raise RuntimeError("redis-sentinel is not installed (Debian package redis-sentinel)")
        for i, port in enumerate(self.sentinel_ports):
            conf = self.dir / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {self.dir}\n"
                f"logfile {self.dir}/sentinel-{i}.log\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {SENTINEL_DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} {SENTINEL_FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER_NAME} 2\n"
            )
            self.sentinels.append(
                subprocess.Popen(
                    [binary, str(conf)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        _wait(self._replicas_known, "sentinels to see both replicas")

    def _replicas_known(self) -> bool:
        for port in self.sentinel_ports:
            with redis.Redis(port=port, socket_timeout=2) as c:
                if len(c.sentinel_slaves(MASTER_NAME)) < 2:
                    return False
                if len(c.sentinel_sentinels(MASTER_NAME)) < 2:
                    return False
        return True

    def master_port(self) -> int:
        """The master's port as the first answering sentinel reports it."""
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_timeout=2) as c:
                    return int(c.sentinel_get_master_addr_by_name(MASTER_NAME)[1])
            except redis.RedisError:
                continue
        raise RuntimeError("no sentinel answers")

    def server_on(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    def cleanup(self) -> None:
        for proc in self.sentinels:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        for server in self.servers:
            server.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)
