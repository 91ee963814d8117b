"""The systemd units: they verify, and they keep the promises the supervisor relies on."""

from __future__ import annotations

import re
import shutil
import signal
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


def _installed_root(tmp_path: Path) -> Path:
    """A filesystem root laid out as systemd/README.md installs things: the shipped
    units unchanged in /etc/systemd/system, fastq-worker in /opt/fastq/venv/bin, the
    distribution's own units (sysinit.target, ...) and /bin/kill."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(SYSTEMD / unit, root / "etc/systemd/system" / unit)
    venv_bin = root / "opt/fastq/venv/bin"
    venv_bin.mkdir(parents=True)
    script = venv_bin / "fastq-worker"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m fastq.supervisor\n")
    script.chmod(0o755)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "bin").mkdir()
    kill = shutil.which("kill", path="/bin:/usr/bin")
    assert kill is not None
    shutil.copy(kill, root / "bin/kill")
    return root


needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or not Path("/usr/lib/systemd/system").is_dir(),
    reason="no systemd-analyze here",
)


@needs_systemd
def test_systemd_analyze_verify_passes_on_the_shipped_units(tmp_path: Path) -> None:
    p = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            f"--root={_installed_root(tmp_path)}",
            "fastq-worker.service",
            "fastq-worker@billing.service",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert "fastq-worker" not in p.stderr, p.stderr


@needs_systemd
@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_security_exposure_at_most_2(unit: str, tmp_path: Path) -> None:
    # The template is scored as an instance of itself (the file name is all it reads).
    path = tmp_path / unit.replace("@.", "@billing.")
    shutil.copy(SYSTEMD / unit, path)
    p = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", p.stdout)
    assert match is not None, p.stdout
    assert float(match.group(1)) <= 2.0, p.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_children_ask_the_kernel_for_a_signal_when_the_supervisor_dies() -> None:
    code = (
        "import ctypes, signal\n"
        "from fastq.supervisor.childproc import _set_parent_death_signal\n"
        "_set_parent_death_signal(signal.SIGTERM)\n"
        "got = ctypes.c_int()\n"
        "ctypes.CDLL(None).prctl(2, ctypes.byref(got), 0, 0, 0)  # PR_GET_PDEATHSIG\n"
        "print(got.value)\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip() == str(int(signal.SIGTERM))
