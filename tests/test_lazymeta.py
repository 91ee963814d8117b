"""redis-py is imported without ``importlib.metadata`` (``fastq/_lazymeta.py``), and
the version it reads of itself is the one ``importlib.metadata`` gives.

The import checks run in a fresh interpreter: this process has imported everything.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from test_startup_lazy_imports import run  # a fresh interpreter, in tmp_path

from fastq import _lazymeta


def test_fastq_imports_redis_without_importlib_metadata(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import fastq.rdb.conn, fastq.worker.fetcher, redis.asyncio, redis.utils\n"
        "heavy = ('importlib.metadata', 'email', 'csv', 'calendar')\n"
        "gone = [m for m in heavy if m in sys.modules]\n"
        "print(gone, redis.utils.get_lib_version())\n"
    )
    assert run(code, tmp_path) == f"[] {importlib.metadata.version('redis')}"


def test_redis_imported_after_importlib_metadata_keeps_the_real_module(tmp_path: Path) -> None:
    code = (
        "import sys, importlib.metadata\n"
        "import fastq.rdb.conn, redis.utils\n"
        "print(redis.utils.metadata is sys.modules['importlib.metadata'])\n"
    )
    assert run(code, tmp_path) == "True"


def test_a_plain_import_of_importlib_metadata_inside_the_window_still_works(
    tmp_path: Path,
) -> None:
    (tmp_path / "uses_metadata.py").write_text(
        "import importlib.metadata\n"
        "def redis_version():\n"
        "    return importlib.metadata.version('redis')\n"
        "def not_found():\n"
        "    return importlib.metadata.PackageNotFoundError\n"
    )
    code = (
        "import sys\n"
        "from fastq._lazymeta import import_with_stand_in\n"
        "import_with_stand_in('uses_metadata')\n"
        "import uses_metadata\n"
        "assert 'importlib.metadata' not in sys.modules\n"
        "v = uses_metadata.redis_version()\n"
        "import importlib.metadata as real\n"
        "print(v, uses_metadata.not_found() is real.PackageNotFoundError)\n"
    )
    assert run(code, tmp_path) == f"{importlib.metadata.version('redis')} True"


@pytest.mark.parametrize(
    "name", ["redis", "click", "structlog", "psutil", "setproctitle", "Cython"]
)
def test_find_version_agrees_with_importlib_metadata(name: str) -> None:
    assert _lazymeta.find_version(name) == importlib.metadata.version(name)


def test_find_version_reads_dist_info_and_egg_info_as_importlib_metadata_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "Fastq_Probe-2.0.1.dist-info").mkdir(parents=True)
    (first / "Fastq_Probe-2.0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fastq-probe\nVersion: 2.0.1\n\nVersion: not a header\n"
    )
    (second / "fastq_probe-1.0.dist-info").mkdir(parents=True)  # shadowed by the first
    (second / "fastq_probe-1.0.dist-info" / "METADATA").write_text("Name: x\nVersion: 1.0\n")
    (second / "fastq.egg_probe-0.3.egg-info").mkdir()
    (second / "fastq.egg_probe-0.3.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 1.0\nName: fastq.egg-probe\nversion:  0.3\n"
    )
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    for name in ("fastq-probe", "FASTQ_probe", "fastq.probe", "fastq-egg-probe"):
        assert _lazymeta.find_version(name) == importlib.metadata.version(name)
    assert _lazymeta.find_version("fastq-probe") == "2.0.1"
    assert _lazymeta.find_version("fastq-egg-probe") == "0.3"


def test_what_it_cannot_read_goes_to_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fastq_nover-1.0.dist-info").mkdir()
    (tmp_path / "fastq_nover-1.0.dist-info" / "METADATA").write_text("Name: fastq-nover\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    stand_in = _lazymeta._StandIn()
    assert _lazymeta.find_version("fastq-nover") is None
    assert _lazymeta.find_version("fastq-no-such-distribution") is None
    # redis-py catches the real class through the stand-in's attribute.
    assert stand_in.PackageNotFoundError is importlib.metadata.PackageNotFoundError
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        stand_in.version("fastq-no-such-distribution")
    assert stand_in.version("redis") == importlib.metadata.version("redis")


def test_a_zip_first_on_sys_path_is_left_to_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    plain = tmp_path / "plain"
    (plain / "fastq_zipped-1.0.dist-info").mkdir(parents=True)
    (plain / "fastq_zipped-1.0.dist-info" / "METADATA").write_text("Version: 1.0\n")
    archive = tmp_path / "dists.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("fastq_zipped-2.0.dist-info/METADATA", "Version: 2.0\n")
    monkeypatch.syspath_prepend(str(plain))
    assert _lazymeta.find_version("fastq-zipped") == "1.0"
    monkeypatch.syspath_prepend(str(archive))
    assert _lazymeta.find_version("fastq-zipped") is None
    assert _lazymeta._StandIn().version("fastq-zipped") == "2.0"
    assert importlib.metadata.version("fastq-zipped") == "2.0"
