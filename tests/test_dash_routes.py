"""Every dashboard route against a real Redis: pages, filters, actions, mounting."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import redis
from asynq_writer import put_task
from dash_support import csrf_of, post
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from fastq.dash import create_app
from fastq.inspect.inspector import Inspector

STATES = ("active", "pending", "aggregating", "scheduled", "retry", "archived", "completed")


@pytest.fixture
def client(redis_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(redis_url=redis_url, interval=0.2, users={})) as c:
        yield c


@pytest.fixture
def filled(r: redis.Redis) -> dict[str, str]:
    """One task in every state of queue "default", plus a second queue; state -> id."""
    ids = {
        "pending": put_task(r, "default", "pending"),
        "active": put_task(r, "default", "active"),
        "scheduled": put_task(r, "default", "scheduled", score=time.time() + 600),
        "retry": put_task(r, "default", "retry", error_msg="upstream 503", retried=2),
        "archived": put_task(r, "default", "archived", type="img:resize", error_msg="bad header"),
        "completed": put_task(r, "default", "completed", result=b'{"ok": true}', retention=600),
        "aggregating": put_task(r, "default", "aggregating", group="batch-7"),
    }
    put_task(r, "critical", "pending", type="sms:send")
    return ids


def test_every_page_renders_with_data(client: TestClient, filled: dict[str, str]) -> None:
    pages = ["/", "/servers", "/schedulers", "/schedulers/history?id=e1", "/redis"]
    pages += [f"/queue?q=default&state={s}" for s in STATES]
    pages += [f"/task?q=default&id={tid}" for tid in filled.values()]
    for page in pages:
        resp = client.get(page)
        assert resp.status_code == 200, page
        assert resp.headers["content-type"].startswith("text/html")
    overview = client.get("/").text
    assert "critical" in overview and "default" in overview
    for state, tid in filled.items():
        html = client.get(f"/queue?q=default&state={state}").text
        assert f'data-copy="{tid}"' in html, state  # the full id behind the short one


def test_task_page_shows_payload_result_and_options(client: TestClient, r: redis.Redis) -> None:
    tid = put_task(
        r,
        "default",
        "completed",
        payload=b'{"to":"a@b.c","n":[1,2]}',
        result=b"\x00\xffbinary",
        retention=3600,
    )
    html = client.get(f"/task?q=default&id={tid}").text
    assert "&#34;to&#34;: &#34;a@b.c&#34;" in html  # pretty-printed JSON, escaped
    assert "00 ff 62 69 6e" in html  # non-UTF-8 result as a hex dump
    assert "1h0m" in html  # retention


def test_charts_are_svg_from_the_sampler(client: TestClient, filled: dict[str, str]) -> None:
    for path in ("/charts/sizes.svg", "/charts/daily.svg?days=30", "/charts/rate.svg"):
        resp = client.get(path)
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "image/svg+xml"
        assert resp.text.startswith("<svg")
        assert "script-src" not in resp.headers["content-security-policy"]
    assert "default archived: 1" in client.get("/charts/sizes.svg").text


def test_unknown_queue_and_task_are_404(client: TestClient, filled: dict[str, str]) -> None:
    assert client.get("/queue?q=nope").status_code == 404
    assert client.get("/task?q=default&id=nope").status_code == 404
    assert client.get("/task?q=nope&id=x").status_code == 404


def test_filters_by_type_and_error_text(client: TestClient, r: redis.Redis) -> None:
    a = put_task(r, "default", "archived", type="img:resize", error_msg="Timeout talking to S3")
    b = put_task(r, "default", "archived", type="email:send", error_msg="SMTP refused")
    html = client.get("/queue?q=default&state=archived&type=img:resize").text
    assert a in html and b not in html
    html = client.get("/queue?q=default&state=archived&error=smtp").text
    assert b in html and a not in html


def test_paging(client: TestClient, r: redis.Redis) -> None:
    ids = [put_task(r, "default", "archived", score=1000 + i) for i in range(25)]
    first = client.get("/queue?q=default&state=archived&size=10").text
    third = client.get("/queue?q=default&state=archived&size=10&page=3").text
    assert ids[0] in first and ids[10] not in first
    assert ids[24] in third and ids[19] not in third
    assert "page 3 of 3" in third


def test_run_archived_task_moves_it_to_pending(client: TestClient, filled: dict[str, str]) -> None:
    tid = filled["archived"]
    resp = post(client, "/actions/task", {"q": "default", "id": tid, "action": "run"})
    assert resp.status_code == 303
    assert (
        Inspector(client.app.state.dash.config.redis).task_info("default", tid).state.value
        == "pending"
    )


def test_bulk_actions_on_selected_ids(client: TestClient, r: redis.Redis) -> None:
    ids = [put_task(r, "default", "retry", error_msg="x") for _ in range(3)]
    resp = post(
        client,
        "/actions/tasks",
        {"q": "default", "state": "retry", "action": "archive", "id": ids[:2]},
    )
    assert resp.status_code == 303
    assert "done=archive" in resp.headers["location"] and "n=2" in resp.headers["location"]
    info = Inspector(client.app.state.dash.config.redis).queue_info("default")
    assert (info.retry, info.archived) == (1, 2)


def test_all_in_state_actions(client: TestClient, r: redis.Redis) -> None:
    for _ in range(5):
        put_task(r, "default", "archived")
    resp = post(client, "/actions/all", {"q": "default", "state": "archived", "action": "run"})
    assert resp.status_code == 303
    info = Inspector(client.app.state.dash.config.redis).queue_info("default")
    assert (info.archived, info.pending) == (0, 5)
    post(client, "/actions/all", {"q": "default", "state": "pending", "action": "delete"})
    assert Inspector(client.app.state.dash.config.redis).queue_info("default").size == 0


def test_pause_resume_and_delete_queue(client: TestClient, filled: dict[str, str]) -> None:
    insp = Inspector(client.app.state.dash.config.redis)
    post(client, "/actions/queue", {"q": "default", "action": "pause"})
    assert insp.queue_info("default").paused
    assert "paused" in client.get("/queue?q=default").text
    post(client, "/actions/queue", {"q": "default", "action": "resume"})
    assert not insp.queue_info("default").paused
    refused = post(client, "/actions/queue", {"q": "critical", "action": "delete"})
    assert refused.status_code == 409  # not empty
    assert "critical" in insp.queues()


def test_cancel_active_task_publishes_request(
    client: TestClient, filled: dict[str, str], r: redis.Redis
) -> None:
    pubsub = r.pubsub()
    pubsub.subscribe("asynq:cancel")
    pubsub.get_message(timeout=1)
    post(client, "/actions/task", {"q": "default", "id": filled["active"], "action": "cancel"})
    msg = pubsub.get_message(timeout=2)
    assert msg is not None and msg["data"] == filled["active"].encode()


def test_refused_state_reports_conflict(client: TestClient, filled: dict[str, str]) -> None:
    resp = post(
        client, "/actions/task", {"q": "default", "id": filled["completed"], "action": "run"}
    )
    assert resp.status_code == 409


def test_mutations_are_logged_with_the_user(client: TestClient, filled: dict[str, str]) -> None:
    with capture_logs() as logs:
        post(client, "/actions/queue", {"q": "default", "action": "pause"})
    entry = next(e for e in logs if e["event"] == "dash.mutation")
    assert (entry["user"], entry["action"], entry["queue"]) == (
        "anonymous",
        "queue.pause",
        "default",
    )


def test_gets_change_nothing_and_actions_need_post(
    client: TestClient, filled: dict[str, str]
) -> None:
    tid = filled["archived"]
    for path in ("/actions/task", "/actions/tasks", "/actions/all", "/actions/queue"):
        resp = client.get(f"{path}?q=default&id={tid}&action=delete&state=archived")
        assert resp.status_code == 405
    assert client.get(f"/task?q=default&id={tid}&action=delete").status_code == 200
    assert Inspector(client.app.state.dash.config.redis).queue_info("default").archived == 1


def test_mounted_under_a_prefix(redis_url: str, filled: dict[str, str]) -> None:
    host = Starlette(routes=[Mount("/admin/queues", app=create_app(redis_url=redis_url, users={}))])
    with TestClient(host) as c:
        html = c.get("/admin/queues/").text
        hrefs = re.findall(r'(?:href|src|action)="([^"]+)"', html)
        assert hrefs and all(h.startswith("/admin/queues/") for h in hrefs), hrefs
        assert 'data-events="/admin/queues/events"' in html
        assert c.get("/admin/queues/static/dash.css").status_code == 200
        resp = post(
            c,
            "/admin/queues/actions/task",
            {"q": "default", "id": filled["archived"], "action": "run"},
            page="/admin/queues/",
        )
        assert resp.status_code == 303
        assert resp.headers["location"].startswith("/admin/queues/task?")
        cookie = resp.request.headers["cookie"]
        assert "fastq_dash_csrf" in cookie
        assert (
            c.get("/admin/queues/queue?q=default&state=pending").text.count(filled["archived"]) >= 1
        )


def test_redis_page_shows_version_and_keyspace(client: TestClient, filled: dict[str, str]) -> None:
    html = client.get("/redis").text
    assert "redis_version" in html and "used_memory_human" in html
    assert re.search(r"<th>db0</th><td>avg_ttl=\d+, expires=\d+, keys=\d+</td>", html)


def test_csrf_cookie_is_httponly_and_strict(client: TestClient, filled: dict[str, str]) -> None:
    client.cookies.clear()
    resp = client.get("/")
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert csrf_of(client) != ""


def test_filter_scans_past_the_first_chunk(client: TestClient, r: redis.Redis) -> None:
    from fastq.dash.pages_queue import SCAN_CHUNK

    n = SCAN_CHUNK * 3 + 10
    pipe_ids = [put_task(r, "default", "archived", error_msg="timeout", score=i) for i in range(n)]
    needle = put_task(r, "default", "archived", error_msg="Mailbox FULL", score=n + 1)
    html = client.get("/queue?q=default&state=archived&error=mailbox full").text
    assert needle in html and pipe_ids[0] not in html


def test_inspector_scan_chunk_is_checked(redis_url: str, r: redis.Redis) -> None:
    from fastq.errors import InvalidOptionError

    put_task(r, "default", "archived", error_msg="x")
    with Inspector(redis_url) as insp:
        assert len(insp.list_tasks("default", "archived", error_contains="x", scan_chunk=1)) == 1
        with pytest.raises(InvalidOptionError):
            insp.list_tasks("default", "archived", error_contains="x", scan_chunk=0)


def test_behind_a_proxy_that_strips_a_prefix(redis_url: str, filled: dict[str, str]) -> None:
    app = create_app(redis_url=redis_url, users={})
    with TestClient(app, root_path="/queues") as c:
        resp = c.get("/queue?q=default")
        assert resp.status_code == 200
        hrefs = re.findall(r'(?:href|src|action)="([^"]+)"', resp.text)
        assert hrefs and all(h.startswith("/queues/") for h in hrefs), hrefs
        assert "Path=/queues" in resp.headers["set-cookie"]


def test_schedulers_and_their_history(client: TestClient, r: redis.Redis) -> None:
    from dash_support import put_scheduler

    put_scheduler(r, "nightly-report", "0 3 * * *", "report:build", history=3)
    html = client.get("/schedulers").text
    assert "0 3 * * *" in html and "report:build" in html and "MaxRetry(3)" in html
    assert "/schedulers/history?id=nightly-report" in html
    history = client.get("/schedulers/history?id=nightly-report").text
    assert all(f"task-nightly-report-{i}" in history for i in range(3))


def test_csrf_cookie_is_secure_under_tls(client: TestClient, filled: dict[str, str]) -> None:
    client.cookies.clear()
    assert "Secure" not in client.get("/").headers["set-cookie"]
    client.cookies.clear()
    behind_tls = client.get("/", headers={"x-forwarded-proto": "https"})
    assert "; Secure" in behind_tls.headers["set-cookie"]


def test_overview_sorts_by_any_column(client: TestClient, r: redis.Redis) -> None:
    for q, n in (("a-small", 1), ("b-big", 5), ("c-mid", 3)):
        for _ in range(n):
            put_task(r, q, "archived")

    def order(query: str) -> list[str]:
        html = client.get(f"/?{query}").text
        return re.findall(r'<td><a href="/queue\?q=([a-z-]+)">', html)

    assert order("") == ["a-small", "b-big", "c-mid"]
    assert order("sort=archived&dir=desc") == ["b-big", "c-mid", "a-small"]
    assert order("sort=size") == ["a-small", "c-mid", "b-big"]
    assert order("sort=bogus") == ["a-small", "b-big", "c-mid"]


def test_search_answers_with_progress_and_continues(
    client: TestClient, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastq.dash import pages_queue

    monkeypatch.setattr(pages_queue, "SEARCH_BUDGET", 40)
    for i in range(100):
        put_task(r, "default", "archived", error_msg="timeout", score=i)
    needle = put_task(r, "default", "archived", error_msg="Disk FULL", score=70.5)
    first = client.get("/queue?q=default&state=archived&error=disk full").text
    assert needle not in first
    assert "searched 0-40 of 101 archived tasks" in first
    more = re.search(r'href="([^"]+)" rel="next" id="search-more"', first)
    assert more and "from=40" in more.group(1)
    second = client.get(more.group(1).replace("&amp;", "&")).text
    assert "searched 40-80 of 101" in second and needle in second  # it sits at index 71
    third = client.get("/queue?q=default&state=archived&error=disk+full&from=80").text
    assert needle not in third
    assert "searched 80-101 of 101 archived tasks (to the end)" in third
    assert 'id="search-more"' not in third


def test_metrics_are_served_at_slash_metrics(client: TestClient, filled: dict[str, str]) -> None:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    sizes = dict(
        line.rsplit(" ", 1)
        for line in resp.text.splitlines()
        if line.startswith("asynq_queue_size{")
    )
    assert sizes == {
        'asynq_queue_size{queue="critical"}': "1.0",
        'asynq_queue_size{queue="default"}': "7.0",
    }
