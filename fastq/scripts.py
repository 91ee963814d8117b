"""Lua scripts: one operation per ``fastq/lua/<name>.lua``, loaded once per process.

Every script opens with a contract header (``KEYS[n] ->``, ``ARGV[n] ->``,
``Output:``) and receives every key it touches in KEYS. The one exception, named in
its header, is a task hash whose id is only known inside the script (dequeue): it is
built from a task-key prefix passed in ARGV, which keeps it in the queue's hash slot.

Code several scripts share (the lease check, wake tokens, archive trimming) lives
once in ``fastq/lua/lib/<name>.lua`` as a local function; a script pulls it in with
a line ``--@include <name>`` after its header. The assembled text is what Redis
sees, what the SHA is taken of, and what is loaded again after ``NOSCRIPT``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LUA_DIR = Path(__file__).with_name("lua")
LIB_DIR = LUA_DIR / "lib"
_INCLUDE = re.compile(r"^--@include (\w+)[ \t]*$", re.MULTILINE)


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
        src = assemble(path.read_text(encoding="utf-8"))
        out[path.stem] = Script(path.stem, src, hashlib.sha1(src.encode()).hexdigest())
    return out


def get(name: str) -> Script:
    """The script named ``name`` (the file stem); KeyError if there is none."""
    return all_scripts()[name]


def assemble(source: str) -> str:
    """``source`` with each ``--@include <name>`` line replaced by ``lib/<name>.lua``.

    Args:
        source: a script's text.

    Raises:
        FileNotFoundError: an include names no file in ``fastq/lua/lib``.
    """

    def snippet(match: re.Match[str]) -> str:
        return (LIB_DIR / f"{match.group(1)}.lua").read_text(encoding="utf-8").rstrip("\n")

    return _INCLUDE.sub(snippet, source)
