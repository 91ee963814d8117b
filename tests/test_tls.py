"""TLS as the README documents it: ``rediss://`` with ``ssl_ca_certs``, client
certificates (``ssl_certfile``/``ssl_keyfile``) and ``ssl_cert_reqs``, against a real
TLS redis-server that requires client certificates; a TLS failure says why."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tls_support import tls_server, tls_url

from fastq import AsyncClient, BrokerConnectionError, Client, Inspector, Task

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    with tls_server(tmp_path_factory.mktemp("tls")) as server:
        yield server


def test_rediss_with_ca_and_client_certificate(tls: tuple[int, Path]) -> None:
    port, d = tls
    url = tls_url(port, d)
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
    url = tls_url(port, d, "ssl_ca_certs={d}/ca.pem")
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
    with Client(tls_url(port, d, query)) as client, pytest.raises(BrokerConnectionError) as exc:
        client.enqueue(Task("x"))
    assert "CERTIFICATE_VERIFY_FAILED" in exc.value.reason
