"""A real TLS redis-server for the tests: a throwaway CA, server and client
certificates, and a server that speaks only TLS and requires a client certificate."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from fastq.devredis import free_port

# The client certificate, the test CA, and verification required.
FULL = (
    "ssl_ca_certs={d}/ca.pem&ssl_certfile={d}/client.pem&ssl_keyfile={d}/client.key"
    "&ssl_cert_reqs=required"
)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_certs(d: Path) -> None:
    """A throwaway CA, and a server and a client certificate it signed."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "2", "-subj", "/CN=fastq-test-ca", cwd=d)  # fmt: skip
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", "-subj", "/CN=127.0.0.1", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "ext",
                 cwd=d)  # fmt: skip


def _tls_binaries() -> list[str]:
    found = [shutil.which("redis-server"), "/usr/bin/redis-server"]
    return [b for b in dict.fromkeys(found) if b and Path(b).exists()]


@contextmanager
def tls_server(d: Path, plain_port: int = 0) -> Iterator[tuple[int, Path]]:
    """(port, certificate directory ``d``) of a redis-server that speaks TLS and
    requires a client certificate; skips the test where none can be started. It
    also takes plain TCP on ``plain_port`` if given (the benches' own records)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make certificates")
    _make_certs(d)
    for binary in _tls_binaries():
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(plain_port), "--tls-port", str(port), "--bind", "127.0.0.1",
             "--tls-cert-file", str(d / "server.pem"), "--tls-key-file", str(d / "server.key"),
             "--tls-ca-cert-file", str(d / "ca.pem"), "--tls-auth-clients", "yes",
             "--save", "", "--appendonly", "no", "--dir", str(d)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        admin = admin_client(port, d, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                admin.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        admin.close()
        if proc.poll() is None and time.monotonic() < deadline:
            try:
                yield port, d
            finally:
                proc.terminate()
                proc.wait(10)
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    pytest.skip("no redis-server built with TLS here")


def tls_url(port: int, d: Path, query: str = FULL) -> str:
    return f"rediss://127.0.0.1:{port}/0?{query.format(d=d)}"


def admin_client(port: int, d: Path, **options: Any) -> redis.Redis:
    """A plain redis-py client of the TLS server, with the client certificate."""
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        ssl=True,
        ssl_ca_certs=str(d / "ca.pem"),
        ssl_certfile=str(d / "client.pem"),
        ssl_keyfile=str(d / "client.key"),
        **options,
    )
