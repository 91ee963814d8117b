"""APP loading adds the app directory at the end of sys.path: a file in the working
directory never shadows a library imported later (issue 11, item 16)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastq.supervisor.cli import main
from fastq.supervisor.exitcodes import ExitCode
from fastq.supervisor.options import parse_args

ROOT = Path(__file__).resolve().parent.parent

APP = """
import fastq
app = fastq.App()

@app.task("t")
def t(task, ctx):
    import colorsys  # imported after the app: must be the standard library's
    return colorsys.__name__
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "shadowapp.py").write_text(APP)
    # Named like a standard-library module the app (or a library) imports later.
    (tmp_path / "colorsys.py").write_text(
        "raise ImportError('the working directory shadowed colorsys')\n"
    )
    return tmp_path


def _load(cwd: Path, app_dir: str | None) -> subprocess.CompletedProcess[str]:
    """Load the app in a fresh interpreter; print where colorsys came from and whether
    the app directory is the last sys.path entry."""
    args = "'shadowapp:app'" if app_dir is None else f"'shadowapp:app', app_dir={app_dir!r}"
    code = "\n".join(
        [
            "import sys",
            "from fastq.apploader import AppLoader",
            f"loader = AppLoader({args})",
            "loader.load()",
            "import colorsys",
            "print(colorsys.__file__)",
            "print(sys.path[-1] == loader.app_dir)",
        ]
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # -P: no script directory on sys.path, as the fastq-worker entry point runs.
    return subprocess.run(
        [sys.executable, "-P", "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_the_working_directory_is_appended_not_prepended(project: Path) -> None:
    p = _load(project, None)
    assert p.returncode == 0, p.stderr
    colorsys_file, appended = p.stdout.split()
    assert not colorsys_file.startswith(str(project))  # the standard library's
    assert appended == "True"


def test_app_dir_imports_from_another_directory(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    p = _load(elsewhere, str(project))
    assert p.returncode == 0, p.stderr
    assert not p.stdout.split()[0].startswith(str(project))


def test_app_dir_option_env_and_validation(project: Path, tmp_path: Path) -> None:
    assert parse_args(["m:app"], {}).app_dir == os.path.abspath(".")
    assert parse_args(["m:app", "--app-dir", str(project)], {}).app_dir == str(project)
    assert parse_args(["m:app"], {"FASTQ_APP_DIR": str(project)}).app_dir == str(project)
    assert main(["m:app", "--app-dir", str(tmp_path / "missing")]) == ExitCode.INVALID_OPTIONS
