"""The shop's long-running processes, declared once.

``make demo`` (``run.py``) starts them on the host and ``docker-compose.yml`` in
containers; ``tests/test_shop_compose.py`` checks that both start the same entry
points with the same environment, so the two cannot drift apart. Only *placement*
differs: where Redis is and which address a server binds (``PLACEMENT``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from examples.shop.orders import QUEUES


@dataclass(frozen=True)
class Service:
    """A process: its console-script argv and the environment it needs."""

    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


API_PORT = 8000
DASH_PORT = 8085

# The guide's settings: retention 30 min (ASYNQ_RETENTION_MINUTES there), payments that
# sometimes fail, weights 6/4/2/1. Processes x concurrency = the guide's "Concurrency".
SERVICES = {
    s.name: s
    for s in (
        Service(
            "api",
            ("uvicorn", "examples.shop.api:app", "--no-access-log", "--timeout-keep-alive", "75"),
            {"UVICORN_PORT": str(API_PORT), "FASTQ_RETENTION_MINUTES": "30"},
        ),
        Service(
            "worker",
            ("fastq-worker", "examples.shop.worker:app"),
            {
                "FASTQ_QUEUES": QUEUES,
                "FASTQ_PROCESSES": "2",
                "FASTQ_CONCURRENCY": "50",
                "SHOP_PAYMENT_FAILURE_RATE": "0.1",
                "SHOP_RETRY_UNIT_SECONDS": "1",
            },
        ),
        Service("dashboard", ("fastq", "dash"), {"FASTQ_DASH_PORT": str(DASH_PORT)}),
    )
}

# Where things run: the only environment that may differ between host and containers.
PLACEMENT = frozenset(
    {
        "FASTQ_REDIS_URL",
        "UVICORN_HOST",
        "FASTQ_DASH_HOST",
        "FASTQ_DASH_INSECURE_NO_AUTH",  # containers bind all interfaces, published on loopback
        "FASTQ_METRICS_HOST",  # each worker replica's /metrics, for the monitoring profile
        "FASTQ_METRICS_PORT",
    }
)

# On the host a console script runs as `python -m <module>` (the same main()), so the
# demo needs no installed scripts on PATH and uses the interpreter it was started with.
ENTRY_MODULES = {"uvicorn": "uvicorn", "fastq-worker": "fastq.supervisor", "fastq": "fastq.cli"}


def host_argv(service: Service) -> list[str]:
    """The service's command for this host: ``python -m <entry module> <args>``."""
    entry, *args = service.argv
    return [sys.executable, "-m", ENTRY_MODULES[entry], *args]
