"""Packaging: a distribution name that is not someone else's, SPDX license metadata,
the deployment files, examples and docs in the sdist, a demo that installs no dev
toolchain (issue 11, items 22 and 23)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sdist_name_license_and_shipped_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        names = {n.removeprefix(top + "/") for n in tar.getnames()}
        pkg_info = tar.extractfile(f"{top}/PKG-INFO")
        assert pkg_info is not None
        meta = Parser().parsestr(pkg_info.read().decode())
    # "fastq" on PyPI is an unrelated FASTQ-file reader.
    assert meta["Name"] == "fastq-asynq"
    assert meta["License-Expression"] == "MIT" and meta["License-File"] == "LICENSE"
    assert "LICENSE" in names and "MIT License" in (ROOT / "LICENSE").read_text()
    for path in (
        "systemd/fastq-worker.service",
        "systemd/fastq-worker@.service",
        "systemd/fastq-worker.env.example",
        "systemd/README.md",
        "examples/demo.py",
        "examples/shop/api.py",
        "examples/shop/worker.py",
        "examples/shop/README.md",
        "docs/architecture.md",
        "fastq/_core.c",
    ):
        assert path in names, path
    lua = {str(p.relative_to(ROOT)) for p in (ROOT / "fastq/lua").rglob("*.lua")}
    assert lua and lua <= names, sorted(lua - names)  # scripts and their lib/ includes


def test_make_demo_installs_runtime_dependencies_only() -> None:
    # Under `make test` the parent make's MAKEFLAGS would add "Leaving directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    plan = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    install = next(line for line in plan.splitlines() if "pip install" in line)
    assert "[dev]" not in install and '-e ".[shop' in install
    assert plan.splitlines()[-1].split()[1:3] == ["-m", "examples.shop.run"]
