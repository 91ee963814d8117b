"""Clock skew: how close to expiry a live lease gets, and what the recoverer tolerates."""

from __future__ import annotations

import pytest

from fastq.worker.leases import Leases, check_interval, min_remaining, skew_tolerance
from fastq.worker.settings import DEFAULT_SKEW_ALLOWANCE


@pytest.mark.parametrize("duration", [3.0, 5.0, 30.0, 120.0])
@pytest.mark.parametrize("start", [1_000_000.0, 1_000_000.3, 1_000_000.99])
def test_a_live_lease_always_has_min_remaining_left(duration: float, start: float) -> None:
    leases = Leases(duration)
    leases.add("t", "q", int(start + duration))  # what a fetch writes
    step = check_interval(duration)
    now = start
    while now < start + 10 * duration:
        calls, meta = leases.extension_calls(now)
        leases.apply_extension(calls, meta, [[] for _ in calls])  # Redis: none lost
        now += step  # the worst moment: just before the next scan
        left = (leases.score("t") or 0) - now
        assert left >= min_remaining(duration) - 1e-9, (duration, start, now)
    assert leases.score("t") is not None


def test_default_tolerance_covers_at_least_the_allowance() -> None:
    assert DEFAULT_SKEW_ALLOWANCE >= 30
    assert skew_tolerance(30.0, DEFAULT_SKEW_ALLOWANCE) > DEFAULT_SKEW_ALLOWANCE


def test_a_lease_past_its_local_expiry_is_still_acknowledged_through_redis() -> None:
    # The recoverer leaves it alone for skew_allowance more seconds, and the ack
    # scripts compare scores: Redis, not this host's clock, decides whether it is lost.
    leases = Leases(30.0)
    leases.add("t", "q", 1_000)
    assert leases.held("t") == 1_000
    leases.lost.add("t")
    assert leases.held("t") is None


def test_the_allowance_reaches_the_workers_from_flag_and_environment() -> None:
    from fastq.supervisor.options import resolve
    from fastq.supervisor.supervisor import build_settings
    from fastq.worker.settings import ServerIdentity
    from fastq.worker.standalone import settings_from_env

    ident = ServerIdentity()
    assert build_settings(resolve({"app": "a:b"}, {}, {}), ident).skew_allowance == 30
    flag = resolve({"app": "a:b", "skew_allowance": "5s"}, {}, {})
    assert build_settings(flag, ident).skew_allowance == 5
    env = resolve({"app": "a:b"}, {"FASTQ_SKEW_ALLOWANCE": "1m"}, {})
    assert build_settings(env, ident).skew_allowance == 60
    assert settings_from_env({"FASTQ_SKEW_ALLOWANCE": "7"}).skew_allowance == 7
