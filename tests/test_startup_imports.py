"""What fastq's worker processes import, and that the imports they skip are not missed.

Each check runs in a fresh interpreter: ``sys.modules`` of the test process already
holds everything.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import rich"], capture_output=True).returncode != 0,
    reason="rich is not installed",
)


def run(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("entry", ["fastq.supervisor.cli", "fastq.worker.standalone"])
def test_worker_entry_points_import_neither_rich_nor_pygments(entry: str) -> None:
    out = run(
        f"import sys, {entry}, fastq.worker.process, fastq.worker.maintenance\n"
        "import structlog.dev\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'pygments'}))\n"
        "print(structlog.dev.default_exception_formatter is structlog.dev.rich_traceback)\n"
    )
    assert out.split("\n")[:2] == ["[]", "True"]


# Renders one exception with structlog's rich formatters (the default console
# renderer, the monochrome one, and the dict traceback's locals through rich.pretty).
RENDER = """
import sys
{first}
import structlog
from structlog.dev import ConsoleRenderer
from structlog.tracebacks import ExceptionDictTransformer

def fail(token):
    count = 3
    raise ValueError("boom " + token)

def main():  # module globals differ between the runs; a function's locals do not
    try:
        fail("x" * 10)
    except ValueError:
        info = sys.exc_info()
    for colors in (True, False):
        renderer = ConsoleRenderer(colors=colors)
        print(renderer(None, "error", {{"event": "failed", "exc_info": info}}))
    print(ExceptionDictTransformer(show_locals=True)(info))

main()
print("rich loaded:", "rich" in sys.modules)
"""


def test_an_app_that_configures_structlog_still_gets_rich_tracebacks() -> None:
    deferred = run(RENDER.format(first="import fastq.worker.process"))
    eager = run(RENDER.format(first="import rich.console, rich.traceback, rich.pretty"))

    def clean(text: str) -> str:
        return re.sub(r"0x[0-9a-f]+", "0x", text)

    assert "ValueError" in deferred and "╭" in deferred  # rich's boxes were drawn
    assert clean(deferred) == clean(eager)


def test_a_structlog_that_needs_real_rich_at_import_still_imports() -> None:
    # Stand in for a future structlog that subclasses a rich class at import time:
    # any name taken from a stand-in fails, and fastq must fall back to a plain import.
    out = run(
        "import sys\n"
        "from fastq import _lazyrich\n"
        "def refuse(self, name):\n"
        "    raise TypeError('needs the real ' + self.__name__)\n"
        "_lazyrich._StandIn.__getattr__ = refuse\n"
        "_lazyrich.import_structlog()\n"
        "import structlog, rich.console\n"
        "print(type(sys.modules['rich']).__name__, structlog.dev.ConsoleRenderer.__name__)\n"
    )
    assert out.split() == ["module", "ConsoleRenderer"]
