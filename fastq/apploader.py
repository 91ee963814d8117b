"""Import a worker's APP (``module:attribute``), and import it again on reload.

Both the ``fastq-worker`` daemon and the standalone engine entry
(``python3 -m fastq.worker``) load their app here. The supervisor imports the
app once before forking, so children start with it already loaded (fast boot,
memory shared copy-on-write) and an import error is reported once, clearly,
instead of by every child. A reload forgets every module imported since the
loader was made, so the new code is read from disk.

The app directory (``--app-dir``, default the working directory) is appended to
``sys.path``, never put first: a file there named like a library (``redis.py``,
``json.py``) must not shadow the real one for everything imported later.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
import traceback
from types import ModuleType
from typing import Any

from fastq.errors import AppImportError


class AppLoader:
    """Loads ``module:attribute`` and can load it again with fresh modules.

    Args:
        spec: ``package.module:attribute`` (the attribute may be dotted; a bare
            module means its ``app`` attribute).
        preload: modules imported before the baseline is taken, so a reload
            keeps them (the supervisor passes the engine).
        app_dir: the directory APP's module is imported from; appended to
            ``sys.path`` unless already on it (default: the working directory).
    """

    def __init__(
        self, spec: str, preload: tuple[str, ...] = (), app_dir: str | os.PathLike[str] = "."
    ) -> None:
        self.spec = spec
        self.app_dir = os.path.abspath(app_dir)  # fixed now: a later chdir changes nothing
        module, _, attr = spec.partition(":")
        if not module or (":" in spec and not attr):
            raise AppImportError(spec, "expected module:attribute, e.g. myproject.tasks:app")
        self.module = module
        self.attr = attr or "app"
        for name in ("fastq.app", *preload):  # these stay loaded across reloads
            importlib.import_module(name)
        # Modules loaded before the app belong to the supervisor; a reload keeps them.
        self._baseline = set(sys.modules)

    def load(self) -> Any:
        """Import and return the app object.

        Raises:
            AppImportError: the module fails to import, lacks the attribute, or the
                attribute is not a fastq.App.
        """
        _append_to_path(self.app_dir)
        try:
            obj: Any = importlib.import_module(self.module)
        except Exception as exc:
            last = traceback.extract_tb(exc.__traceback__)[-1:]
            where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
            raise AppImportError(self.spec, f"{type(exc).__name__}: {exc}{where}") from exc
        for part in self.attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise AppImportError(
                    self.spec, f"module {self.module!r} has no attribute {self.attr!r}"
                ) from None
        _check_app(self.spec, obj)
        return obj

    def reload(self) -> Any:
        """Forget the modules imported since the baseline, then ``load()`` again.

        On failure the old modules are put back, so the running app stays usable.
        """
        roots = _installed_roots()
        fresh = {
            name: mod
            for name, mod in list(sys.modules.items())
            if name not in self._baseline and _is_project_module(name, mod, roots)
        }
        for name in fresh:
            del sys.modules[name]
        importlib.invalidate_caches()
        try:
            return self.load()
        except AppImportError:
            for name in [n for n in sys.modules if n in fresh]:
                del sys.modules[name]
            sys.modules.update(fresh)
            raise


def _append_to_path(directory: str) -> None:
    # "" on sys.path means the working directory (python -c, the REPL).
    if all(os.path.abspath(entry or ".") != directory for entry in sys.path):
        sys.path.append(directory)


def _installed_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths)


def _is_project_module(name: str, module: ModuleType | None, roots: tuple[str, ...]) -> bool:
    """Only the project's own modules are re-imported: installed libraries (some
    C extensions cannot be imported twice) and fastq itself stay as they are."""
    if name == "fastq" or name.startswith("fastq."):
        return False
    path = getattr(module, "__file__", None)
    if not path:
        return False
    return not path.startswith(roots)


def _check_app(spec: str, obj: Any) -> None:
    try:
        from fastq.app import App
    except ImportError:  # the engine's App is not importable: accept duck-typed apps
        return
    if not isinstance(obj, App):
        raise AppImportError(spec, f"expected a fastq.App, got {type(obj).__name__}")
