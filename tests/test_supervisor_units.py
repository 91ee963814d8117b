"""The systemd units: they verify, and they keep the promises the supervisor relies on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
UNITS = ("fastq-worker.service", "fastq-worker@.service")


def directives(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.parametrize("unit", UNITS)
def test_unit_promises(unit: str) -> None:
    d = directives(SYSTEMD / unit)
    assert d["Type"] == ["notify"]
    assert d["KillMode"] == ["mixed"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    for hardening in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert d[hardening] == ["yes"]
    assert d["ProtectSystem"] == ["strict"]
    assert d["User"] == ["fastq"]
    env = directives(SYSTEMD / "fastq-worker.env.example")
    # systemd must not SIGKILL a worker that is still inside its shutdown timeout
    assert int(d["TimeoutStopSec"][0]) > float(env["FASTQ_SHUTDOWN_TIMEOUT"][0]) + 5
    assert "FASTQ_REDIS_URL" in env


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
@pytest.mark.parametrize(
    ("unit", "name"), [(UNITS[0], UNITS[0]), (UNITS[1], "fastq-worker@billing.service")]
)
def test_systemd_analyze_verify(unit: str, name: str, tmp_path: Path) -> None:
    # verify also checks that ExecStart exists: point it at this interpreter.
    text = (
        (SYSTEMD / unit)
        .read_text()
        .replace("/opt/fastq/venv/bin/fastq-worker", f"{sys.executable} -m fastq.supervisor")
    )
    (tmp_path / name).write_text(text)
    p = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert name not in p.stderr, p.stderr
