"""The dashboard in a real headless Chromium (Debian's chromium + chromedriver).

Every page opens; retrying an archived task makes it leave the archive; pausing a
queue stops a running fastq-worker from taking its tasks; counters move without a
reload while a worker drains; hostile strings run no script. The run also takes the
screenshots shown in docs/dashboard.md.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from asynq_writer import put_task
from dash_support import fill_hostile, live_server, put_scheduler
from supervisorapps.harness import ROOT, SupervisorProc, wait_for

from fastq.client import Client
from fastq.dash import create_app
from fastq.inspect.inspector import Inspector
from fastq.task import Task

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = ROOT / "docs" / "dashboard"
APP = "supervisorapps.recording_app:app"


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium / chromedriver not installed (apt install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="fastq-dash-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def base(redis_url: str, driver: Any) -> Iterator[str]:
    driver.get("about:blank")
    driver.get_log("browser")  # drop what earlier tests left
    with live_server(create_app(redis_url=redis_url, interval=0.3)) as url:
        yield url


@pytest.fixture
def workers() -> Iterator[list[SupervisorProc]]:
    procs: list[SupervisorProc] = []
    yield procs
    for p in procs:
        p.close()


def start_worker(procs: list[SupervisorProc], tmp: Path, url: str, *args: str) -> SupervisorProc:
    p = SupervisorProc.real([APP, "--processes", "1", *args], tmp, {"FASTQ_REDIS_URL": url})
    procs.append(p)
    wait_for(lambda: Inspector(url).servers(), timeout=20, what="the worker's heartbeat")
    return p


def enqueue(url: str, n: int, sleep: float = 0.0, queue: str = "default") -> None:
    with Client(url) as client:
        client.enqueue_many(
            [Task("record", json.dumps({"sleep": sleep}).encode()) for _ in range(n)], queue=queue
        )


def css(driver: Any, selector: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, selector)


def html_of(driver: Any, selector: str) -> str:
    """innerHTML looked up now (live updates may have replaced the element)."""
    return str(
        driver.execute_script(
            "var e = document.querySelector(arguments[0]); return e ? e.innerHTML : '';", selector
        )
    )


def text_of(driver: Any, selector: str) -> str:
    """innerText looked up now, in one call (a re-render between finding the element
    and reading it would make a found element stale)."""
    return str(
        driver.execute_script(
            "var e = document.querySelector(arguments[0]); return e ? e.innerText : '';", selector
        )
    )


def no_alert(driver: Any) -> bool:
    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    alert.dismiss()
    return False


def shot(driver: Any, name: str, width: int = 1280, height: int = 900) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(width, height)
    time.sleep(0.4)  # let the chart images load
    driver.save_screenshot(str(SHOTS / name))
    driver.set_window_size(1280, 900)


def test_every_page_opens_and_screenshots(
    base: str,
    driver: Any,
    r: redis.Redis,
    redis_url: str,
    workers: list[SupervisorProc],
    tmp_path: Path,
) -> None:
    archived = ""
    for q, n in (("critical", 3), ("default", 6), ("low", 2)):
        for i in range(n):
            put_task(r, q, "pending", type="email:send", payload=b'{"to":"ann@example.com"}')
            put_task(
                r,
                q,
                "retry",
                type="img:resize",
                error_msg=f"upstream 503 (attempt {i})",
                retried=1,
                score=time.time() + 30 * (i + 1),
            )
            tid = put_task(
                r,
                q,
                "archived",
                type="report:build",
                error_msg="KeyError: 'customer_id'",
                retried=25,
            )
            archived = tid if q == "default" else archived
        put_task(r, q, "completed", result=b'{"sent": true}', retention=3600)
        put_task(r, q, "scheduled", score=time.time() + 600)
        put_task(r, q, "aggregating", group="digest:ann")
        r.incrby(f"asynq:{{{q}}}:processed:{time.strftime('%Y-%m-%d', time.gmtime())}", 40 * n)
        r.incrby(f"asynq:{{{q}}}:failed:{time.strftime('%Y-%m-%d', time.gmtime())}", 7 * n)
    put_scheduler(r, "nightly-report", "0 3 * * *", "report:build", history=5)
    put_scheduler(r, "heartbeat", "@every 30s", "ping", history=2)
    start_worker(workers, tmp_path, redis_url, "--queues", "slow=1", "--concurrency", "3")
    enqueue(redis_url, 3, sleep=60, queue="slow")
    wait_for(lambda: Inspector(redis_url).queue_info("slow").active == 3, what="3 active tasks")

    pages = {
        "overview.png": "/",
        "queue-retry.png": "/queue?q=default&state=retry",
        "queue-archived.png": "/queue?q=default&state=archived",
        "task.png": f"/task?q=default&id={archived}",
        "servers.png": "/servers",
        "schedulers.png": "/schedulers",
        "scheduler-history.png": "/schedulers/history?id=nightly-report",
        "redis.png": "/redis",
    }
    for name, path in pages.items():
        driver.get(base + path)
        assert css(driver, "header .brand").text == "fastq", path
        assert "Error" not in driver.title, path
        shot(driver, name)
    driver.get(base + "/servers")
    assert len(driver.find_elements(By.CSS_SELECTOR, "details.server tbody tr")) == 3
    driver.get(base + "/queue?q=default&state=retry")
    shot(driver, "phone-queue.png", 390, 844)
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        driver.get(base + "/")
        bg = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(18, 18, 20)"  # the dark palette is in force
        shot(driver, "overview-dark.png")
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_retry_archived_task_leaves_the_archive(base: str, driver: Any, r: redis.Redis) -> None:
    keep = put_task(r, "default", "archived", error_msg="still broken")
    tid = put_task(r, "default", "archived", error_msg="fixed upstream")
    driver.get(base + "/queue?q=default&state=archived")
    assert tid in driver.page_source
    css(driver, f'input[name="id"][value="{tid}"]').click()
    css(driver, "#run-selected").click()
    wait_for(lambda: "1 task(s) moved to pending" in text_of(driver, "main"), what="the banner")
    rows = css(driver, "#tasks").get_attribute("innerHTML")
    assert tid not in rows and keep in rows
    assert css(driver, "nav.tabs a[aria-current] .chip").text == "1"
    driver.get(base + "/queue?q=default&state=pending")
    assert tid in driver.page_source


def test_pause_stops_a_running_worker(
    base: str,
    driver: Any,
    redis_url: str,
    r: redis.Redis,
    workers: list[SupervisorProc],
    tmp_path: Path,
) -> None:
    start_worker(workers, tmp_path, redis_url, "--concurrency", "4")
    enqueue(redis_url, 5)
    wait_for(lambda: r.llen("test:done") == 5, what="the worker to run 5 tasks")
    driver.get(base + "/queue?q=default")
    css(driver, "#pause-queue").click()
    wait_for(lambda: driver.find_elements(By.ID, "resume-queue"), what="the resume button")
    assert Inspector(redis_url).queue_info("default").paused
    enqueue(redis_url, 10)
    time.sleep(2.0)  # the worker polls and wakes well within this; none may run
    assert r.llen("test:done") == 5
    assert Inspector(redis_url).queue_info("default").pending == 10
    css(driver, "#resume-queue").click()
    wait_for(lambda: r.llen("test:done") == 15, timeout=20, what="the resumed queue to drain")


def test_counter_changes_without_reload_while_a_worker_drains(
    base: str,
    driver: Any,
    redis_url: str,
    r: redis.Redis,
    workers: list[SupervisorProc],
    tmp_path: Path,
) -> None:
    enqueue(redis_url, 1)
    driver.get(base + "/")
    driver.execute_script("window.fastqMarker = 'same page'")
    pending = css(driver, '[data-live-total="pending"]')
    processed = css(driver, '[data-live-total="processed"]')
    assert (pending.text, processed.text) == ("1", "0")
    enqueue(redis_url, 300, sleep=0.005)
    wait_for(lambda: pending.text == "301", what="the pending counter to rise live")
    start_worker(workers, tmp_path, redis_url, "--concurrency", "8")
    wait_for(lambda: processed.text == "301", timeout=30, what="processed to reach 301 live")
    assert pending.text == "0"
    assert driver.execute_script("return window.fastqMarker") == "same page"  # never reloaded


def test_pause_button_stops_live_updates(base: str, driver: Any, redis_url: str) -> None:
    enqueue(redis_url, 1)
    driver.get(base + "/")
    pending = css(driver, '[data-live-total="pending"]')
    css(driver, "#live-toggle").click()
    assert css(driver, "#live-toggle").text == "Resume updates"
    enqueue(redis_url, 4)
    time.sleep(1.5)  # five sample intervals
    assert pending.text == "1"
    css(driver, "#live-toggle").click()
    wait_for(lambda: pending.text == "5", what="updates to resume")


def test_hostile_strings_run_no_script(base: str, driver: Any, r: redis.Redis) -> None:
    made = fill_hostile(r)
    from urllib.parse import quote

    pages = ["/", "/servers", "/redis", "/charts/sizes.svg"]
    for q, tid in made:
        pages.append(f"/task?q={quote(q, safe='')}&id={tid}")
    for q in sorted({q for q, _ in made}):
        for st in ("archived", "completed", "aggregating", "pending"):
            pages.append(f"/queue?q={quote(q, safe='')}&state={st}")
    for path in pages:
        driver.get(base + path)
        assert no_alert(driver), path
    time.sleep(1.0)  # live updates rewrite counters with hostile queue names in play
    assert no_alert(driver)
    logs = driver.get_log("browser")
    assert [e for e in logs if e["level"] == "SEVERE"] == [], logs[:3]
