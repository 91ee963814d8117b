"""QueueOrder: GCD reduction, strict order, and the weighted draw's frequencies."""

from __future__ import annotations

from collections import Counter

import pytest

from fastq._core import QueueOrder
from fastq.errors import InvalidOptionError

SEED_WEIGHTS = {"critical": 6, "high": 4, "default": 2, "low": 1}


def test_first_pick_frequencies_follow_the_weights() -> None:
    order = QueueOrder(SEED_WEIGHTS, seed=12345)
    draws = 100_000
    firsts = Counter(order.order()[0] for _ in range(draws))
    total = sum(SEED_WEIGHTS.values())
    for queue, weight in SEED_WEIGHTS.items():
        assert abs(firsts[queue] / draws - weight / total) < 0.02, (queue, firsts)


def test_second_pick_is_drawn_without_replacement() -> None:
    # After "critical" (6) goes first, "high" is next with probability 4 / (4 + 2 + 1).
    order = QueueOrder(SEED_WEIGHTS, seed=7)
    seconds = Counter(o[1] for o in (order.order() for _ in range(60_000)) if o[0] == "critical")
    n = sum(seconds.values())
    assert abs(seconds["high"] / n - 4 / 7) < 0.02


def test_every_order_is_a_permutation() -> None:
    order = QueueOrder(SEED_WEIGHTS, seed=1)
    for _ in range(1000):
        assert sorted(order.order()) == sorted(SEED_WEIGHTS)


def test_weights_are_reduced_by_their_gcd() -> None:
    order = QueueOrder({"a": 6, "b": 4, "c": 2})
    assert order.queues == ["a", "b", "c"]
    assert order.weights == [3, 2, 1]
    assert QueueOrder({"x": 5}).weights == [1]


def test_strict_is_descending_weight_with_ties_by_name() -> None:
    order = QueueOrder({"low": 1, "b": 5, "a": 5, "critical": 9}, strict=True)
    assert order.order() == ["critical", "a", "b", "low"]
    assert order.order() == ["critical", "a", "b", "low"]
    assert order.strict


def test_single_queue() -> None:
    assert QueueOrder({"only": 3}).order() == ["only"]
    assert QueueOrder({"only": 3}, strict=True).order() == ["only"]


def test_a_seed_makes_orders_reproducible() -> None:
    a, b = QueueOrder(SEED_WEIGHTS, seed=99), QueueOrder(SEED_WEIGHTS, seed=99)
    assert [a.order() for _ in range(50)] == [b.order() for _ in range(50)]
    unseeded = QueueOrder(SEED_WEIGHTS)
    assert len({tuple(unseeded.order()) for _ in range(200)}) > 1


def test_many_queues() -> None:
    weights = {f"q{i}": i % 7 + 1 for i in range(100)}
    order = QueueOrder(weights, seed=5)
    assert sorted(order.order()) == sorted(weights)


@pytest.mark.parametrize(
    "weights",
    [{}, {"a": 0}, {"a": -1}, {"a": 1.5}, {"": 1}, {"a": True}, {"a": 2**40}],
)
def test_bad_weights_raise_invalid_option(weights: dict[str, int]) -> None:
    with pytest.raises(InvalidOptionError):
        QueueOrder(weights)


def test_queues_and_weights_are_copies() -> None:
    order = QueueOrder({"a": 2, "b": 1}, seed=1)
    order.queues.clear()
    order.weights.append(5)
    assert order.queues == ["a", "b"] and order.weights == [2, 1]
    assert sorted(order.order()) == ["a", "b"]
    with pytest.raises(TypeError):
        order.__init__({"x": 1})  # type: ignore[misc]


def test_a_forked_child_draws_its_own_sequence() -> None:
    import os

    order = QueueOrder({f"q{i}": 1 for i in range(8)})
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next orders and leave at once
        os.write(write, repr([order.order() for _ in range(20)]).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 1 << 16).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child != repr([order.order() for _ in range(20)])
