"""Lua scripts: one operation per ``fastq/lua/<name>.lua``, loaded once per process.

Every script opens with a contract header (``KEYS[n] ->``, ``ARGV[n] ->``,
``Output:``) and receives every key it touches in KEYS. The one exception, named in
its header, is a task hash whose id is only known inside the script (dequeue): it is
built from a task-key prefix passed in ARGV, which keeps it in the queue's hash slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LUA_DIR = Path(__file__).with_name("lua")


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: str
    sha: str


@cache
def all_scripts() -> dict[str, Script]:
    """Every script in ``fastq/lua``, keyed by file stem."""
    out: dict[str, Script] = {}
    for path in sorted(LUA_DIR.glob("*.lua")):
        src = path.read_text(encoding="utf-8")
        out[path.stem] = Script(path.stem, src, hashlib.sha1(src.encode()).hexdigest())
    return out


def get(name: str) -> Script:
    """The script named ``name`` (the file stem); KeyError if there is none."""
    return all_scripts()[name]
