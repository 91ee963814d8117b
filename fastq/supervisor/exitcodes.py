"""The exit codes of ``fastq-worker`` (one name per reason, listed in ``--help``)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Why ``fastq-worker`` exited."""

    OK = 0  # stopped on request (SIGTERM/SIGINT: drained; SIGQUIT: running tasks requeued)
    FAILURE = 1  # an unexpected error in the supervisor itself
    INVALID_OPTIONS = 2  # bad option, environment variable or config file; Redis refused the URL
    APP_IMPORT_ERROR = 3  # APP could not be imported or is not a fastq.App
    REDIS_UNREACHABLE = 4  # Redis did not answer within --redis-wait
    WORKER_BOOT_ERROR = 5  # a worker process failed before it was ready

    @property
    def meaning(self) -> str:
        """One line for ``--help`` and logs."""
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "stopped on request (TERM/INT drain first, QUIT requeues at once)",
    ExitCode.FAILURE: "unexpected error in the supervisor",
    ExitCode.INVALID_OPTIONS: (
        "invalid option, environment variable or config file, or a Redis URL whose "
        "password or DB index Redis refuses"
    ),
    ExitCode.APP_IMPORT_ERROR: "APP cannot be imported or is not a fastq.App",
    ExitCode.REDIS_UNREACHABLE: "Redis did not answer within --redis-wait",
    ExitCode.WORKER_BOOT_ERROR: "a worker process failed before it was ready (not restarted)",
}

# A child that raises before its first heartbeat exits with this code, which the
# supervisor turns into WORKER_BOOT_ERROR instead of restarting it forever.
CHILD_BOOT_FAILED = 87


def exit_codes_help() -> str:
    """The table printed at the end of ``--help``."""
    return "\n".join(f"  {int(code):>3}  {code.name:<18} {code.meaning}" for code in ExitCode)
