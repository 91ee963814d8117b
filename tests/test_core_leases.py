"""LeaseTable: which held tasks need their lease extended, and which leases ended."""

from __future__ import annotations

import pytest

from fastq._core import LeaseTable


@pytest.fixture
def table() -> LeaseTable:
    t = LeaseTable()
    t.add("a", "critical", 100.0)
    t.add("b", "default", 110.0)
    t.add("c", "default", 130.0)
    return t


def test_add_lookup_and_remove(table: LeaseTable) -> None:
    assert len(table) == 3
    assert "a" in table and "zz" not in table
    assert table.deadline("b") == 110.0
    assert table.deadline("zz") is None
    assert table.remove("a") is True
    assert table.remove("a") is False
    assert "a" not in table and len(table) == 2
    assert "b" in table and "c" in table


def test_add_replaces_an_entry(table: LeaseTable) -> None:
    table.add("a", "low", 200.0)
    assert (table.deadline("a"), len(table)) == (200.0, 3)
    assert table.due_for_extension(now=0.0, margin=200.0)["low"] == ["a"]
    assert "critical" not in table.due_for_extension(now=0.0, margin=200.0)


def test_due_for_extension_groups_ids_by_queue(table: LeaseTable) -> None:
    assert table.due_for_extension(now=95.0, margin=10.0) == {"critical": ["a"]}
    due = table.due_for_extension(now=100.0, margin=10.0)  # deadline == now + margin is due
    assert due == {"critical": ["a"], "default": ["b"]}
    assert table.due_for_extension(now=0.0, margin=1.0) == {}


def test_extend_moves_deadlines_and_ignores_unknown_ids(table: LeaseTable) -> None:
    table.extend(["a", "b", "gone"], 150.0)
    assert table.deadline("a") == table.deadline("b") == 150.0
    assert "gone" not in table
    assert table.due_for_extension(now=125.0, margin=10.0) == {"default": ["c"]}


def test_empty_table() -> None:
    t = LeaseTable()
    assert len(t) == 0
    assert t.due_for_extension(0.0, 1e12) == {}


def test_scan_over_many_leases() -> None:
    t = LeaseTable()
    for i in range(10_000):
        t.add(f"t{i}", f"q{i % 3}", float(i))
    due = t.due_for_extension(now=4_000.0, margin=999.0)
    assert sum(len(v) for v in due.values()) == 5_000


def test_bad_arguments_raise_type_error() -> None:
    t = LeaseTable()
    with pytest.raises(TypeError):
        t.add("a", "q", "soon")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        t.add(1, "q", 1.0)  # type: ignore[arg-type]
