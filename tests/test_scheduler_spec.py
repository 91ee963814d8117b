"""Schedule specs on a fake clock: every form, time zones, DST days, entry ids."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from fastq import App, Task
from fastq.errors import InvalidOptionError
from fastq.scheduler.entry import go_duration, make_entry
from fastq.scheduler.spec import parse_go_duration, parse_spec

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def ts(*args: int, tz: timezone | ZoneInfo = UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def ticks(spec: str, start: float, n: int, tz: str | None = None) -> list[datetime]:
    s = parse_spec(spec, tz)
    out, t = [], start
    for _ in range(n):
        t = s.next_after(t)
        out.append(datetime.fromtimestamp(t, s.tz))
    return out


def test_five_fields() -> None:
    got = ticks("*/5 * * * *", ts(2026, 1, 1, 0, 2, 30), 3)
    assert [d.minute for d in got] == [5, 10, 15]
    assert all(d.second == 0 for d in got)


def test_six_fields_take_seconds_first() -> None:
    got = ticks("*/10 * * * * *", ts(2026, 1, 1, 0, 0, 1), 3)
    assert [(d.minute, d.second) for d in got] == [(0, 10), (0, 20), (0, 30)]


@pytest.mark.parametrize(
    ("macro", "first"),
    [
        ("@hourly", datetime(2026, 3, 5, 11, 0, tzinfo=UTC)),
        ("@daily", datetime(2026, 3, 6, 0, 0, tzinfo=UTC)),
        ("@midnight", datetime(2026, 3, 6, 0, 0, tzinfo=UTC)),
        ("@weekly", datetime(2026, 3, 8, 0, 0, tzinfo=UTC)),  # Sunday
        ("@monthly", datetime(2026, 4, 1, 0, 0, tzinfo=UTC)),
        ("@yearly", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("@annually", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_macros(macro: str, first: datetime) -> None:
    assert ticks(macro, ts(2026, 3, 5, 10, 30), 1) == [first]


def test_every_is_aligned_to_the_epoch() -> None:
    s = parse_spec("@every 30s")
    assert s.next_after(ts(2026, 1, 1, 0, 0, 7)) == ts(2026, 1, 1, 0, 0, 30)
    assert s.next_after(ts(2026, 1, 1, 0, 0, 30)) == ts(2026, 1, 1, 0, 1, 0)
    assert s.latest_at(ts(2026, 1, 1, 0, 0, 59)) == ts(2026, 1, 1, 0, 0, 30)
    # Two schedulers started at different times agree on the ticks.
    a = parse_spec("@every 1h30m").next_after(ts(2026, 1, 1, 0, 0, 1))
    b = parse_spec("@every 1h30m").next_after(ts(2026, 1, 1, 0, 59, 59))
    assert a == b and a % 5400 == 0


def test_every_one_second_ticks_every_second() -> None:
    s = parse_spec("@every 1s")
    assert [s.next_after(100.0 + i) for i in range(3)] == [101, 102, 103]
    assert s.next_after(100.4) == 101


def test_latest_at_includes_the_instant_itself() -> None:
    s = parse_spec("0 * * * *")
    at = ts(2026, 1, 1, 5, 0, 0)
    assert s.latest_at(at) == at
    assert s.latest_at(at + 59) == at
    assert s.latest_at(at - 1) == at - 3600


def test_time_zone_per_entry() -> None:
    got = ticks("0 9 * * *", ts(2026, 1, 10, 0, 0), 1, "America/New_York")
    assert got[0].astimezone(UTC) == datetime(2026, 1, 10, 14, 0, tzinfo=UTC)


def test_cron_tz_prefix_wins_over_the_given_zone() -> None:
    s = parse_spec("CRON_TZ=Europe/Berlin 0 9 * * *", "America/New_York")
    t = s.next_after(ts(2026, 1, 10, 0, 0))
    assert datetime.fromtimestamp(t, UTC) == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    assert parse_spec("TZ=UTC 0 9 * * *").tz is UTC


def _daily_0230_runs(day_start: float) -> list[datetime]:
    s = parse_spec("30 2 * * *", "Europe/Berlin")
    out, t = [], day_start
    while True:
        t = s.next_after(t)
        if t >= day_start + 86400 + 3600:
            return out
        out.append(datetime.fromtimestamp(t, BERLIN))


def test_dst_spring_forward_runs_a_skipped_time_once() -> None:
    # 2026-03-29: Berlin jumps from 02:00 to 03:00; 02:30 does not exist.
    runs = _daily_0230_runs(ts(2026, 3, 29, 0, 0, tz=BERLIN))
    assert len(runs) == 1
    assert runs[0] == datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN)


def test_dst_fall_back_runs_a_repeated_time_once() -> None:
    # 2026-10-25: Berlin goes from 03:00 back to 02:00; 02:30 happens twice.
    runs = _daily_0230_runs(ts(2026, 10, 25, 0, 0, tz=BERLIN))
    assert len(runs) == 1
    assert runs[0].utcoffset() == timedelta(hours=2)  # the first 02:30


def test_dst_wildcard_hour_runs_in_both_copies_of_the_hour() -> None:
    start = ts(2026, 10, 25, 1, 45, tz=BERLIN)
    got = ticks("*/30 * * * *", start, 4, "Europe/Berlin")
    utc = [d.astimezone(UTC).strftime("%H:%M") for d in got]
    assert utc == ["00:00", "00:30", "01:00", "01:30"]  # 02:00/02:30 CEST, then CET


def test_dst_new_york_daily_job_keeps_local_time() -> None:
    # 2026-03-08: New York springs forward at 02:00, so that day is 23 hours long.
    got = ticks("0 8 * * *", ts(2026, 3, 6, 12, 0, tz=NEW_YORK), 3, "America/New_York")
    assert [d.hour for d in got] == [8, 8, 8]
    gaps = [got[i + 1].timestamp() - got[i].timestamp() for i in range(2)]
    assert gaps == [23 * 3600, 24 * 3600]


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "   ",
        "* * * *",
        "* * * * * * *",
        "61 * * * *",
        "@every",
        "@every 0s",
        "@every 1.5s",
        "@every 10",
        "@fortnightly",
        "CRON_TZ=Mars/Base 0 9 * * *",
    ],
)
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(InvalidOptionError):
        parse_spec(spec)


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="time zone"):
        parse_spec("0 9 * * *", "Nowhere/City")


def test_go_durations() -> None:
    assert parse_go_duration("1h30m") == 5400
    assert parse_go_duration("30s") == 30
    assert parse_go_duration("1.5h") == 5400
    assert [go_duration(x) for x in (0, 30, 90, 3600)] == ["0s", "30s", "1m30s", "1h0m0s"]
    with pytest.raises(ValueError):
        parse_go_duration("30 seconds")


def test_entry_ids_are_derived_from_what_the_entry_is() -> None:
    a = make_entry("@every 1s", Task("t", b"p"), queue="q")
    b = make_entry("@every 1s", Task("t", b"p"), queue="q")
    c = make_entry("@every 1s", Task("t", b"p"), queue="other")
    assert a.id == b.id != c.id
    assert make_entry("@every 1s", Task("t"), entry_id="mine").id == "mine"
    assert a.task_id_for(100) == b.task_id_for(100) != a.task_id_for(101)


def test_entry_options_as_asynq_writes_them() -> None:
    e = make_entry("@daily", Task("t", max_retry=3), queue="q", timeout=90, unique=3600)
    assert e.enqueue_options() == ['Queue("q")', "MaxRetry(3)", "Timeout(1m30s)", "Unique(1h0m0s)"]


def test_entries_refuse_a_fixed_task_id_and_bad_policies() -> None:
    with pytest.raises(InvalidOptionError, match="task_id"):
        make_entry("@daily", Task("t", task_id="x"))
    with pytest.raises(InvalidOptionError, match="missed"):
        make_entry("@daily", Task("t"), missed="all")


def test_scheduler_zone_applies_to_entries_without_one() -> None:
    e = make_entry("0 9 * * *", Task("t"))
    z = e.with_default_zone("Europe/Berlin")
    assert z.schedule.tz == BERLIN and z.id != e.id
    own = make_entry("0 9 * * *", Task("t"), tz="UTC")
    assert own.with_default_zone("Europe/Berlin") is own


def test_app_periodic_registers_the_handler_and_the_entry() -> None:
    app = App()

    @app.periodic("*/5 * * * *", queue="low", max_retry=2)
    def cleanup(task: object, ctx: object) -> None: ...

    @app.periodic("@hourly", type="report:hourly", payload=b"{}")
    @app.task("report:hourly")
    def report(task: object, ctx: object) -> None: ...

    name = f"{cleanup.__module__}.{cleanup.__qualname__}"
    assert [e.task.type for e in app.entries] == [name, "report:hourly"]
    assert app.route(name).fn is cleanup
    assert app.entries[0].queue == "low"
    with pytest.raises(InvalidOptionError, match="already scheduled"):
        app.schedule("*/5 * * * *", Task(name), queue="low", max_retry=2)
