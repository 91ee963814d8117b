"""Fault-injection suite (marker ``chaos``): crashes, outages and bad input.

Short mode (the default, what CI runs) keeps the whole directory well under three
minutes. The long soak runs the same scenarios at full size::

    FASTQ_CHAOS_LONG=1 python3 -m pytest tests/chaos -q   # or tests/chaos/run_long.sh

Long mode: the kill -9 storm drains 100,000 tasks, the Redis outage lasts 30 s,
the decoder fuzzers try at least 10^6 inputs. See docs/reliability.md.
``FASTQ_CHAOS_REPORT=path`` appends each scenario's numbers as a JSON line;
``FASTQ_CHAOS_SEED=n`` fixes kill victims and fuzz inputs.

Every test talks only to private redis-servers on 127.0.0.1 that it started (the
session one from tests/conftest.py or its own AOF one), and stops only processes
it started, by pid.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fastq.devredis import RedisServer

from .helpers import LONG, Workers


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.chaos)
            if LONG:  # the soak needs more than the suite-wide 120 s
                item.add_marker(pytest.mark.timeout(1800))


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """Starts ``fastq-worker`` subprocesses; kills whatever is left at teardown."""
    w = Workers(tmp_path)
    yield w
    w.close()


@pytest.fixture
def aof_redis() -> Iterator[RedisServer]:
    """A private redis-server with AOF (appendfsync always), restartable on its port."""
    server = RedisServer(appendonly=True)
    server.start()
    yield server
    server.cleanup()
