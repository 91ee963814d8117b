"""The fastq dashboard: ``fastq dash`` / ``python -m fastq.dash`` / ``create_app()``.

Needs the ``dash`` extra (``pip install 'fastq-asynq[dash]'``): Starlette, uvicorn, Jinja2.
"""

from __future__ import annotations

try:
    from fastq.dash.app import create_app
    from fastq.dash.config import DashConfig, load_config
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    missing = (exc.name or "").split(".")[0]
    if missing not in ("starlette", "jinja2", "uvicorn", "multipart", "python_multipart"):
        raise
    raise ModuleNotFoundError(
        f"the fastq dashboard needs the 'dash' extra (missing {missing}): "
        "pip install 'fastq-asynq[dash]'",
        name=missing,
    ) from exc

__all__ = ["DashConfig", "create_app", "load_config"]
