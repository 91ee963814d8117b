"""Import structlog without importing rich until something draws with rich.

``structlog.dev`` and ``structlog.tracebacks`` import rich (and, through it,
pygments) at import time when it is installed: about 6 MB RSS and 120 modules in
every process. fastq's own processes log with plain tracebacks, so rich is dead
weight in a worker. Hiding rich from structlog would change what applications
that configure structlog themselves get (no rich tracebacks), so instead, while
structlog is imported, stand-ins take the place of ``rich``, ``rich.console``,
``rich.traceback`` and ``rich.pretty``: every name structlog takes from them is a
reference that imports the real module on first use. structlog sees rich
installed and behaves exactly as it would (``rich_traceback`` stays the default
exception formatter of ``ConsoleRenderer``); rich is imported the first time such
a traceback is drawn. The stand-ins leave ``sys.modules`` as soon as structlog is
imported, so ``import rich`` anywhere else gets the real package.

If structlog (or rich) is already imported, or rich is not installed, this only
imports structlog.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Mapping
from typing import Any

STAND_INS = ("rich", "rich.console", "rich.traceback", "rich.pretty")


class _Deferred:
    """A name of a rich module, imported when it is first called or read."""

    __slots__ = ("_module", "_name")

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name

    def _resolve(self) -> Any:
        return getattr(importlib.import_module(self._module), self._name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._resolve(), attr)

    def __repr__(self) -> str:
        return f"<deferred {self._module}.{self._name}>"


class _StandIn(types.ModuleType):
    """A rich module whose names are deferred; dunder names stay missing, so the
    import system treats it as a plain module and ``from rich import __x__`` fails
    like an old rich would (structlog then falls back to no rich at all)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Deferred(self.__name__, name)


def _rich_installed() -> bool:
    try:
        return importlib.util.find_spec("rich") is not None
    except (ImportError, ValueError):
        return False


def import_structlog() -> None:
    """Import structlog with rich deferred (see the module docstring)."""
    if "structlog" in sys.modules or "rich" in sys.modules or not _rich_installed():
        import structlog

        return
    stand_ins = {name: _StandIn(name) for name in STAND_INS}
    for name in STAND_INS[1:]:
        setattr(stand_ins["rich"], name.split(".", 1)[1], stand_ins[name])
    sys.modules.update(stand_ins)
    try:
        import structlog
    except Exception:
        # A structlog that needs more of rich at import time than names (a subclass
        # of a rich class, say) must still import: forget the half-imported one
        # and import it plainly, rich and all.
        for name in [m for m in sys.modules if m == "structlog" or m.startswith("structlog.")]:
            del sys.modules[name]
        _drop(stand_ins)
        import structlog  # noqa: F401
    finally:
        _drop(stand_ins)


def _drop(stand_ins: Mapping[str, types.ModuleType]) -> None:
    for name, module in stand_ins.items():
        if sys.modules.get(name) is module:
            del sys.modules[name]
