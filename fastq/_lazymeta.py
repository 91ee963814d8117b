"""Import redis-py without importing ``importlib.metadata``.

``redis.utils`` imports ``importlib.metadata`` only to read redis-py's own version
(for ``CLIENT SETINFO``), and redis-py 5-6 call that at import time. The module
brings email, csv, datetime, calendar, locale and textwrap along: 3.4 MB RSS and
about 19 ms in every process that imports redis (``bench/bench_mem.py --imports``).
So while redis is imported, a stand-in takes the place of ``importlib.metadata``:
its ``version()`` reads the Version header of the distribution that
``importlib.metadata`` would find (the first ``<name>-*.dist-info`` or
``.egg-info`` directory on ``sys.path``) without the email parser, and anything
else, or a distribution it cannot read that way (an egg or a zip file comes first
on ``sys.path``, say), goes to the real module. The
stand-in leaves ``sys.modules`` as soon as redis is imported, so
``import importlib.metadata`` anywhere else gets the real module.

If redis or ``importlib.metadata`` is already imported, this only imports redis.
Until something imports the real module, ``importlib.metadata`` as an attribute of
``importlib`` is the stand-in, so a plain ``import importlib.metadata`` run while
redis was imported still finds it; every name the stand-in lacks comes from the
real module.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import types
from typing import Any

_NAME = "importlib.metadata"


def _normalized(name: str) -> str:
    # As importlib.metadata's Prepared.normalize: PEP 503, then "-" as "_".
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _version_header(path: str) -> str | None:
    """The Version header of a METADATA / PKG-INFO file; None if it has none."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                return None  # the headers end at the first blank line
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == "version":
                return value.strip()
    return None


def find_version(name: str) -> str | None:
    """The version of the distribution ``name`` as ``importlib.metadata.version``
    gives it, read without that module; None when it is not found plainly in a
    directory on ``sys.path`` (then ask the real module)."""
    wanted = _normalized(name)
    for entry in sys.path:
        if entry.lower().endswith(".egg") or os.path.isfile(entry):
            return None  # an egg or a zip comes first: only the real module reads those
        try:
            children = os.listdir(entry or ".")
        except OSError:
            continue  # gone, or not a directory: the real module skips it too
        for child in children:
            low = child.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            if _normalized(low.rpartition(".")[0].partition("-")[0]) != wanted:
                continue
            # The first match is the one importlib.metadata takes, readable or not.
            base = os.path.join(entry or ".", child)
            for meta in ("METADATA", "PKG-INFO"):
                try:
                    return _version_header(os.path.join(base, meta))
                except OSError:
                    continue
            return None
    return None


class _StandIn(types.ModuleType):
    """``importlib.metadata`` as redis.utils uses it (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(_NAME)
        self._versions: dict[str, str] = {}

    def version(self, distribution_name: str) -> str:
        """``importlib.metadata.version``, cached: a running process keeps the code it
        imported whatever is installed later."""
        found = self._versions.get(distribution_name)
        if found is None:
            found = find_version(distribution_name)
            if found is None:
                found = _real().version(distribution_name)
            self._versions[distribution_name] = found
        return found

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real(), name)


def _real() -> types.ModuleType:
    if isinstance(sys.modules.get(_NAME), _StandIn):
        del sys.modules[_NAME]
    return importlib.import_module(_NAME)


def import_redis() -> None:
    """Import redis with ``importlib.metadata`` stood in for (see the module docstring)."""
    import_with_stand_in("redis")


def import_with_stand_in(module: str) -> None:
    """Import ``module`` while the stand-in takes the place of ``importlib.metadata``;
    a plain import if that module or ``importlib.metadata`` is already imported."""
    if module in sys.modules or _NAME in sys.modules:
        importlib.import_module(module)
        return
    stand_in = _StandIn()
    sys.modules[_NAME] = stand_in
    # A plain ``import importlib.metadata`` inside the window binds the package and
    # reads the attribute later: it must be there. It stays until the real module
    # is imported, which replaces it.
    importlib.metadata = stand_in  # type: ignore[attr-defined]
    try:
        importlib.import_module(module)
    finally:
        if sys.modules.get(_NAME) is stand_in:
            del sys.modules[_NAME]
