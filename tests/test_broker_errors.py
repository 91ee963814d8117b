"""Redis errors keep their cause: refused credentials and DB indexes are permanent
configuration errors, OOM and read-only replicas have their own classes, and the
redacted reason reaches the message (issue 11, items 11 and 15)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis_harness import RedisServer, free_port

from fastq import (
    AsyncClient,
    BrokerAuthError,
    BrokerConfigError,
    BrokerConnectionError,
    BrokerOutOfMemoryError,
    BrokerReadOnlyError,
    Client,
    Inspector,
    Task,
)
from fastq.cli.common import ExitCode as CliExit
from fastq.errors import BrokerError
from fastq.supervisor.exitcodes import ExitCode as WorkerExit

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
PASSWORD = "hunter2-secret"

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def locked() -> Iterator[RedisServer]:
    """A private Redis that wants a password (its own: these tests break its state)."""
    server = RedisServer()
    server.start()
    with redis.Redis(port=server.port) as admin:
        admin.config_set("requirepass", PASSWORD)
    yield server
    server.cleanup()


def _url(server: RedisServer, password: str | None, db: int = 0) -> str:
    auth = f":{password}@" if password is not None else ""
    return f"redis://{auth}127.0.0.1:{server.port}/{db}"


def _admin(server: RedisServer) -> redis.Redis:
    return redis.Redis(port=server.port, password=PASSWORD)


@pytest.mark.parametrize("password", ["wrong-pw", None])
def test_refused_credentials_are_a_permanent_auth_error(
    locked: RedisServer, password: str | None
) -> None:
    with Client(_url(locked, password)) as client, pytest.raises(BrokerAuthError) as exc:
        client.enqueue(Task("x"))
    err = exc.value
    assert isinstance(err, BrokerConfigError) and not isinstance(err, BrokerConnectionError)
    # The cause is chained and its words kept (redacted), not just its class name.
    assert isinstance(err.__cause__, redis.exceptions.ConnectionError)
    assert ("invalid username-password" in err.reason) == (password is not None)
    assert err.reason.startswith("AuthenticationError: ")
    assert "wrong-pw" not in str(err) and err.target == _url(locked, None).replace(
        "redis://", "redis://***@" if password else "redis://"
    )


def test_async_client_refused_credentials_are_an_auth_error(locked: RedisServer) -> None:
    async def go() -> BaseException:
        client = AsyncClient(_url(locked, "wrong-pw"))
        try:
            await client.enqueue(Task("x"))
        except BaseException as exc:
            return exc
        finally:
            await client.close()
        raise AssertionError("enqueue succeeded with a wrong password")

    err = asyncio.run(go())
    assert isinstance(err, BrokerAuthError)
    assert "invalid username-password" in err.reason and "wrong-pw" not in str(err)


def test_db_index_out_of_range_is_a_config_error(locked: RedisServer) -> None:
    with Inspector(_url(locked, PASSWORD, db=99)) as insp, pytest.raises(BrokerConfigError) as exc:
        insp.queues()
    assert not isinstance(exc.value, BrokerAuthError)
    assert "DB index is out of range" in str(exc.value)
    assert PASSWORD not in str(exc.value)


def test_unreachable_keeps_the_cause_message_and_chains_it() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    with Client(url) as client, pytest.raises(BrokerConnectionError) as exc:
        client.enqueue(Task("x"))
    err = exc.value
    assert isinstance(err.__cause__, redis.exceptions.ConnectionError)
    assert "Connection refused" in err.reason and "Connection refused" in str(err)
    assert PASSWORD not in str(err) and PASSWORD not in err.reason


def test_missing_tls_ca_file_is_named(locked: RedisServer) -> None:
    url = f"rediss://127.0.0.1:{locked.port}/0?ssl_ca_certs=/nonexistent/fastq-ca.pem"
    with Client(url) as client, pytest.raises(BrokerConnectionError) as exc:
        client.enqueue(Task("x"))
    assert "No such file" in exc.value.reason or "fastq-ca.pem" in exc.value.reason


def test_out_of_memory_has_its_own_class(locked: RedisServer) -> None:
    admin = _admin(locked)
    with Client(_url(locked, PASSWORD)) as client:
        client.enqueue(Task("x", b"before"))  # the queue exists: pause reaches its write
    admin.config_set("maxmemory", "1")
    try:
        with Client(_url(locked, PASSWORD)) as client:
            with pytest.raises(BrokerOutOfMemoryError) as exc:
                client.enqueue(Task("x", b"p"))
            with pytest.raises(BrokerOutOfMemoryError) as many:
                client.enqueue_many([Task("x", b"p")] * 3)
            assert isinstance(many.value.__cause__, redis.exceptions.ResponseError)
        with Inspector(_url(locked, PASSWORD)) as insp, pytest.raises(BrokerOutOfMemoryError):
            insp.pause("default")
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()
    assert isinstance(exc.value, BrokerError) and "maxmemory" in str(exc.value)
    assert "call to f_" not in str(exc.value)  # Redis's words, not the script's hash
    assert isinstance(exc.value.__cause__, redis.exceptions.ResponseError)


def test_read_only_replica_has_its_own_class(locked: RedisServer) -> None:
    admin = _admin(locked)
    admin.replicaof("127.0.0.1", free_port())  # a primary that is not there
    try:
        with Client(_url(locked, PASSWORD)) as client, pytest.raises(BrokerReadOnlyError) as exc:
            client.enqueue(Task("x", b"p"))
    finally:
        admin.replicaof("NO", "ONE")
        admin.close()
    assert "read only replica" in str(exc.value)


# --- the commands: a refusal is a configuration error, not "unreachable" -------------


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{TESTS}")
    env.pop("FASTQ_REDIS_URL", None)
    env.pop("NOTIFY_SOCKET", None)
    return env


def test_fastq_cli_wrong_password_exits_with_usage_and_says_why(locked: RedisServer) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "fastq.cli", "--redis-url", _url(locked, "wrong-pw"), "queue", "ls"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == CliExit.USAGE, p.stderr
    assert "Redis refused the credentials" in p.stderr
    assert "invalid username-password" in p.stderr and "wrong-pw" not in p.stderr


def test_fastq_cli_unreachable_says_why() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    p = subprocess.run(
        [sys.executable, "-m", "fastq.cli", "--redis-url", url, "stats"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == CliExit.REDIS_UNAVAILABLE
    assert "Connection refused" in p.stderr and PASSWORD not in p.stderr


@pytest.mark.parametrize(
    ("password", "db", "words"),
    [
        ("wrong-pw", 0, "Redis refused the credentials"),
        (None, 0, "Redis refused the credentials"),
        (PASSWORD, 99, "DB index is out of range"),
    ],
)
def test_fastq_worker_refused_configuration_exits_at_once(
    locked: RedisServer, password: str | None, db: int, words: str
) -> None:
    env = dict(_env(), FASTQ_REDIS_URL=_url(locked, password, db))
    # --redis-wait 0 waits forever for an unreachable Redis: a refusal must not.
    p = subprocess.run(
        [sys.executable, "-m", "fastq.supervisor", "supervisorapps.recording_app:app"],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=30,
    )
    out = p.stdout + p.stderr
    assert p.returncode == WorkerExit.INVALID_OPTIONS, out
    assert words in out and "retrying" not in out
    assert "wrong-pw" not in out and PASSWORD not in out


def test_standalone_worker_refused_credentials_exit_2(locked: RedisServer) -> None:
    env = dict(_env(), FASTQ_REDIS_URL=_url(locked, "wrong-pw"))
    p = subprocess.run(
        [sys.executable, "-m", "fastq.worker", "workerapps.apps:app"],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Redis refused the credentials" in p.stderr and "wrong-pw" not in p.stderr
