"""TLS as the README documents it: ``rediss://`` with ``ssl_ca_certs``, client
certificates (``ssl_certfile``/``ssl_keyfile``) and ``ssl_cert_reqs``, against a real
TLS redis-server that requires client certificates; a TLS failure says why."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from fastq import AsyncClient, BrokerConnectionError, Client, Inspector, Task
from fastq.devredis import free_port

pytestmark = pytest.mark.timeout(60)


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


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """(port, certificate directory) of a redis-server that speaks only TLS and
    requires a client certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make certificates")
    d = tmp_path_factory.mktemp("tls")
    _make_certs(d)
    for binary in _tls_binaries():
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
             "--tls-cert-file", str(d / "server.pem"), "--tls-key-file", str(d / "server.key"),
             "--tls-ca-cert-file", str(d / "ca.pem"), "--tls-auth-clients", "yes",
             "--save", "", "--appendonly", "no", "--dir", str(d)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        admin = redis.Redis(
            host="127.0.0.1",
            port=port,
            ssl=True,
            ssl_ca_certs=str(d / "ca.pem"),
            ssl_certfile=str(d / "client.pem"),
            ssl_keyfile=str(d / "client.key"),
            socket_connect_timeout=0.2,
        )
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                admin.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        admin.close()
        if proc.poll() is None and time.monotonic() < deadline:
            yield port, d
            proc.terminate()
            proc.wait(10)
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    pytest.skip("no redis-server built with TLS here")


def _url(port: int, d: Path, query: str) -> str:
    return f"rediss://127.0.0.1:{port}/0?{query.format(d=d)}"


FULL = "ssl_ca_certs={d}/ca.pem&ssl_certfile={d}/client.pem&ssl_keyfile={d}/client.key"


def test_rediss_with_ca_and_client_certificate(tls: tuple[int, Path]) -> None:
    port, d = tls
    url = _url(port, d, FULL + "&ssl_cert_reqs=required")
    with Client(url) as client:
        info = client.enqueue(Task("tls:ping", b"x"))
    with Inspector(url) as insp:
        assert insp.task_info("default", info.id).type == "tls:ping"

    async def go() -> str:
        client = AsyncClient(url)
        try:
            return (await client.enqueue(Task("tls:async"))).id
        finally:
            await client.close()

    assert asyncio.run(go())


def test_missing_client_certificate_says_so(tls: tuple[int, Path]) -> None:
    port, d = tls
    url = _url(port, d, "ssl_ca_certs={d}/ca.pem")
    with Client(url) as client, pytest.raises(BrokerConnectionError) as exc:
        client.enqueue(Task("x"))
    # The server's alert or its hang-up, depending on timing: either way the TLS detail
    # is kept (it used to read just "ConnectionError").
    reason = exc.value.reason
    assert reason.startswith("ConnectionError: ") and "ssl" in reason.lower(), reason


def test_unknown_server_ca_says_so(tls: tuple[int, Path]) -> None:
    port, d = tls
    # The client's certificate, but the system CAs instead of the test CA.
    query = "ssl_certfile={d}/client.pem&ssl_keyfile={d}/client.key&ssl_cert_reqs=required"
    with Client(_url(port, d, query)) as client, pytest.raises(BrokerConnectionError) as exc:
        client.enqueue(Task("x"))
    assert "CERTIFICATE_VERIFY_FAILED" in exc.value.reason
