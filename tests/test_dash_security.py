"""Dashboard security: auth, CSRF, read-only, headers, hostile data, secrets, binding."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
import redis
from asynq_writer import put_task
from dash_support import CSRF_RE, HOSTILE, csrf_of, fill_hostile, post
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from fastq.dash import create_app
from fastq.dash.passwords import hash_password, verify_password
from fastq.dash.security import PAGE_CSP
from fastq.inspect.inspector import Inspector

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return hash_password(PASSWORD)


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- authentication ------------------------------------------------------------------------


def test_password_hash_round_trip() -> None:
    hashed = hash_password("s3cret")
    assert hashed.startswith("scrypt$") and "s3cret" not in hashed
    assert verify_password("s3cret", hashed)
    assert not verify_password("s3cret!", hashed)
    assert not verify_password("s3cret", "scrypt$garbage")
    assert hash_password("s3cret") != hashed  # salted


def test_basic_auth_required_everywhere(redis_url: str, alice_hash: str) -> None:
    app = create_app(redis_url=redis_url, users={"alice": alice_hash})
    with TestClient(app) as c:
        for path in ("/", "/static/dash.js", "/events", "/charts/sizes.svg", "/redis"):
            resp = c.get(path)
            assert resp.status_code == 401, path
            assert resp.headers["www-authenticate"].startswith("Basic ")
        assert c.get("/", headers=basic("alice", "wrong")).status_code == 401
        assert c.get("/", headers=basic("mallory", PASSWORD)).status_code == 401
        assert c.get("/", headers={"authorization": "Basic !!notb64"}).status_code == 401
        ok = c.get("/", headers=basic("alice", PASSWORD))
        assert ok.status_code == 200 and ">alice<" in ok.text


def test_users_from_env_and_file(redis_url: str, alice_hash: str, tmp_path: object) -> None:
    from fastq.dash.config import load_config

    path = f"{tmp_path}/users"
    with open(path, "w") as fh:
        fh.write(f"# team\nbob:{alice_hash}\n")
    cfg = load_config(
        redis_url=redis_url,
        env={"FASTQ_DASH_USERS": f"alice:{alice_hash}", "FASTQ_DASH_USERS_FILE": path},
    )
    assert set(cfg.users) == {"alice", "bob"}


def test_trusted_proxy_header(redis_url: str) -> None:
    app = create_app(redis_url=redis_url, auth_header="X-Forwarded-User")
    with TestClient(app, client=("127.0.0.1", 4000)) as proxied:
        resp = proxied.get("/", headers={"x-forwarded-user": "carol"})
        assert resp.status_code == 200 and ">carol<" in resp.text
        assert proxied.get("/").status_code == 401  # the proxy sent no user
    with TestClient(app, client=("203.0.113.9", 4000)) as direct:
        # a client that is not the proxy cannot name itself
        assert direct.get("/", headers={"x-forwarded-user": "carol"}).status_code == 401


# --- CSRF and read-only ------------------------------------------------------------------


@pytest.fixture
def archived(r: redis.Redis) -> str:
    return put_task(r, "default", "archived", error_msg="boom")


def _state(redis_url: str, tid: str) -> str:
    with Inspector(redis_url) as insp:
        return insp.task_info("default", tid).state.value


def test_csrf_refusals_change_nothing(redis_url: str, archived: str) -> None:
    with TestClient(create_app(redis_url=redis_url)) as c:
        form = {"q": "default", "id": archived, "action": "delete"}
        with capture_logs() as logs:
            assert c.post("/actions/task", data=form, follow_redirects=False).status_code == 403
        assert [(e["event"], e["reason"]) for e in logs] == [("dash.refused", "csrf")]
        bad = {**form, "csrf": "0" * 64}
        assert c.post("/actions/task", data=bad, follow_redirects=False).status_code == 403
        token = csrf_of(c)
        # right token, but sent by another site
        for hdrs in (
            {"origin": "https://evil.example"},
            {"sec-fetch-site": "cross-site"},
            {"origin": "null"},
        ):
            resp = c.post(
                "/actions/task", data={**form, "csrf": token}, headers=hdrs, follow_redirects=False
            )
            assert resp.status_code == 403, hdrs
        # a token minted for another browser's cookie does not transfer
        with TestClient(create_app(redis_url=redis_url)) as other:
            other.cookies.set("fastq_dash_csrf", "another-browser")
            resp = other.post("/actions/task", data={**form, "csrf": token}, follow_redirects=False)
            assert resp.status_code == 403
        assert _state(redis_url, archived) == "archived"
        ok = c.post("/actions/task", data={**form, "csrf": token}, follow_redirects=False)
        assert ok.status_code == 303


def test_csrf_token_is_bound_to_the_user(redis_url: str, alice_hash: str, archived: str) -> None:
    app = create_app(redis_url=redis_url, users={"alice": alice_hash, "bob": alice_hash})
    with TestClient(app, headers=basic("alice", PASSWORD)) as c:
        token = csrf_of(c)
        form = {"q": "default", "id": archived, "action": "delete", "csrf": token}
        resp = c.post(
            "/actions/task", data=form, headers=basic("bob", PASSWORD), follow_redirects=False
        )
        assert resp.status_code == 403
    assert _state(redis_url, archived) == "archived"


def test_read_only_hides_and_refuses_mutations(redis_url: str, archived: str) -> None:
    with TestClient(create_app(redis_url=redis_url, read_only=True)) as c:
        for page in ("/", "/queue?q=default&state=archived", f"/task?q=default&id={archived}"):
            html = c.get(page).text
            assert "/actions/" not in html and 'method="post"' not in html, page
            assert "read-only" in html
        with TestClient(create_app(redis_url=redis_url)) as rw:
            token = csrf_of(rw)  # a valid token from a writable instance is no key either
            rw_cookie = rw.cookies.get("fastq_dash_csrf")
        c.cookies.set("fastq_dash_csrf", rw_cookie or "")
        for path, form in (
            ("/actions/task", {"q": "default", "id": archived, "action": "run"}),
            ("/actions/tasks", {"q": "default", "id": archived, "action": "delete"}),
            ("/actions/all", {"q": "default", "state": "archived", "action": "delete"}),
            ("/actions/queue", {"q": "default", "action": "pause"}),
        ):
            resp = c.post(path, data={**form, "csrf": token}, follow_redirects=False)
            assert resp.status_code == 403, path
    with Inspector(redis_url) as insp:
        info = insp.queue_info("default")
    assert (info.archived, info.paused) == (1, False)


# --- headers ---------------------------------------------------------------------------


def test_security_headers_on_every_response(redis_url: str, archived: str) -> None:
    with TestClient(create_app(redis_url=redis_url)) as c:
        for path in ("/", "/queue?q=default", "/static/dash.js", "/nope", "/queue?q=missing"):
            resp = c.get(path)
            assert resp.headers["content-security-policy"] == PAGE_CSP, path
            assert resp.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in PAGE_CSP and "script-src 'self';" in PAGE_CSP
        assert "unsafe-inline" not in PAGE_CSP
        html = c.get("/").text
        # no inline script or style: every <script> has a src, no style= or on*= attributes
        assert re.findall(r"<script(?![^>]*\ssrc=)", html) == []
        assert not re.search(r"\sstyle=|\son[a-z]+=", html)


# --- hostile data ------------------------------------------------------------------------


@pytest.fixture
def hostile(r: redis.Redis) -> list[tuple[str, str]]:
    return fill_hostile(r)


class _Tags(HTMLParser):
    """Every element and attribute the browser would build from a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _assert_inert(html: str, where: str) -> None:
    parser = _Tags()
    parser.feed(html)
    scripts = [a for t, a in parser.tags if t == "script"]
    assert len(scripts) == 1 and str(scripts[0]["src"]).endswith("/static/dash.js"), where
    for tag, attrs in parser.tags:
        assert tag not in ("iframe", "svg", "object", "embed", "base", "frame"), (where, tag)
        for name, value in attrs.items():
            assert not name.startswith("on") and name != "style", (where, tag, name)
            if name in ("href", "src", "action", "formaction"):
                assert (value or "").startswith("/"), (where, tag, value)
        if tag == "img":
            assert str(attrs["src"]).startswith("/charts/"), where
    text = "".join(parser.text)  # what a person reads: no terminal or bidi controls
    for needle in ("\x1b", "\u202e", "\x07", "\x00"):
        assert needle not in text, (where, needle)


def test_hostile_corpus_renders_inert(redis_url: str, hostile: list[tuple[str, str]]) -> None:
    with TestClient(create_app(redis_url=redis_url)) as c:
        pages = ["/", "/servers", "/redis"]
        for q, tid in hostile:
            pages.append(f"/task?q={_enc(q)}&id={tid}")
        for q in {q for q, _ in hostile}:
            for st in ("archived", "completed", "aggregating", "pending"):
                pages.append(f"/queue?q={_enc(q)}&state={st}")
                pages.append(f"/queue?q={_enc(q)}&state={st}&type={_enc(HOSTILE[0])}")
        pages.append("/task?q=big&id=corrupt1")
        for page in pages:
            resp = c.get(page)
            assert resp.status_code in (200, 404), page
            _assert_inert(resp.text, page)
            assert len(resp.content) < 400_000, page  # 1 MB values are cut, not copied
        for path in ("/charts/sizes.svg", "/charts/daily.svg"):
            resp = c.get(path)
            assert resp.status_code == 200, resp.text[-600:]
            root = ElementTree.fromstring(resp.content)  # well-formed XML, hostile text and all
            for el in root.iter():
                assert el.tag.split("}")[-1] not in ("script", "foreignObject", "a"), path
                assert not any(k.startswith("on") for k in el.attrib), path
        # the escaped text is still there to read
        assert "&lt;script&gt;alert(&#39;t1&#39;)&lt;/script&gt;" in c.get("/").text
        assert "\\x1b[31mRED" in c.get("/").text


def _enc(s: str) -> str:
    from urllib.parse import quote

    return quote(s, safe="")


# --- secrets -----------------------------------------------------------------------------


def test_redis_password_never_on_a_page_or_log(
    redis_server: object, redis_url: str, archived: str
) -> None:
    secret = "Sup3r-s3cret-pw"
    admin = redis.Redis.from_url(redis_url)
    admin.config_set("requirepass", secret)
    try:
        url = redis_url.replace("redis://", f"redis://:{secret}@")
        with capture_logs() as logs, TestClient(create_app(redis_url=url)) as c:
            bodies = [c.get(p).text for p in ("/", "/redis", "/servers", "/queue?q=default")]
            post(c, "/actions/queue", {"q": "default", "action": "pause"})
        assert "default" in bodies[0]
        for body in bodies:
            assert secret not in body
        assert secret not in repr(logs)
        wrong = url.replace(secret, "wrong-" + secret)
        with TestClient(create_app(redis_url=wrong)) as c:
            resp = c.get("/")
            assert resp.status_code == 503 and secret not in resp.text
    finally:
        redis.Redis.from_url(redis_url, password=secret).config_set("requirepass", "")


# --- the command line --------------------------------------------------------------------


def _fastq(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastq.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_public_bind_without_auth() -> None:
    res = _fastq("dash", "--host", "0.0.0.0", "--port", "1")
    assert res.returncode == 2
    assert "refusing to serve 0.0.0.0 without authentication" in res.stderr
    assert "--insecure-no-auth" in res.stderr


def test_hash_password_prints_a_verifiable_hash() -> None:
    res = _fastq("dash", "--hash-password", stdin="hunter22\n")
    assert res.returncode == 0
    assert verify_password("hunter22", res.stdout.strip())


def test_python_m_fastq_dash_help() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "fastq.dash", "--help"], capture_output=True, text=True, timeout=60
    )
    assert (
        res.returncode == 0 and "--read-only" in res.stdout and "--insecure-no-auth" in res.stdout
    )


def test_csrf_tokens_differ_per_browser(redis_url: str, archived: str) -> None:
    with TestClient(create_app(redis_url=redis_url)) as c:
        first = CSRF_RE.search(c.get("/").text)
        c.cookies.clear()  # another browser
        second = CSRF_RE.search(c.get("/").text)
        assert first and second and first.group(1) != second.group(1)


def test_missing_dash_extra_gives_a_clear_error() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "from fastq.cli.main import main\n"
        "sys.exit(main(['dash']))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "pip install 'fastq-asynq[dash]'" in res.stderr and "starlette" in res.stderr
