"""Every script touches one Redis Cluster hash slot: its KEYS header names keys of
one queue (``{<q>}``), of one server (``{<host:pid:sid>}``) or one global key.

A static check of the contract headers, so a new script that mixes slots fails here
before it fails on a cluster (where redis-py refuses a cross-slot EVALSHA).
"""

from __future__ import annotations

import re

import pytest

from fastq import scripts

_KEY_LINE = re.compile(r"^-- KEYS\[[^\]]+\]\s*->\s*(.*)$", re.MULTILINE)
_KEY = re.compile(r"(?:asynq|fastq):[^\s,()|]*")


def _slot_class(key: str) -> str:
    if "{<host" in key:
        return "server"
    if "{<" in key:
        return "queue"
    return f"global {key}"


def _classes(source: str) -> set[str]:
    out = set()
    for line in _KEY_LINE.findall(source):
        found = _KEY.findall(line)
        if found:  # "a or b" lines name alternatives for one key: the first decides
            out.add(_slot_class(found[0]))
    return out


@pytest.mark.parametrize("name", sorted(scripts.all_scripts()))
def test_script_keys_share_one_hash_slot(name: str) -> None:
    classes = _classes(scripts.get(name).source)
    assert classes, f"{name}: its header names no key"
    assert len(classes) == 1, f"{name} mixes hash slots: {sorted(classes)}"


def test_the_check_catches_a_mixed_script() -> None:
    src = "-- KEYS[1] -> asynq:{<q>}:pending\n-- KEYS[2] -> asynq:queues\n"
    assert _classes(src) == {"queue", "global asynq:queues"}
