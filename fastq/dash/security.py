"""Response headers and CSRF tokens: the browser-side half of the dashboard's safety.

Every response carries a strict Content-Security-Policy (no inline script or style,
nothing from another origin, no framing), ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy``. Every mutation is a POST that must carry a CSRF token: an HMAC of
a random per-browser cookie and the user name, keyed by a per-process secret (or
``FASTQ_DASH_SECRET`` so tokens survive a restart or span replicas).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# SVG charts are shown through <img> (where no script ever runs); their own inline
# <style> carries the dark-mode colours, and nothing else is allowed.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
CSRF_COOKIE = "fastq_dash_csrf"
CSRF_FIELD = "csrf"


class HeadersMiddleware:
    """Add the security headers and the CSRF cookie (when a page minted one).

    Args:
        app: the wrapped ASGI app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"x-frame-options", b"DENY"))
                headers.append((b"referrer-policy", b"same-origin"))
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                nonce = state.get("new_csrf_nonce")
                if nonce:
                    headers.append((b"set-cookie", _cookie(scope, nonce).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _cookie(scope: Scope, nonce: str) -> str:
    path = scope.get("root_path") or "/"
    # Secure under TLS, also when a TLS proxy says so: a forged header only makes the
    # cookie stricter, so it needs no trust.
    forwarded = dict(scope.get("headers", [])).get(b"x-forwarded-proto", b"")
    tls = scope.get("scheme") == "https" or forwarded.lower() == b"https"
    secure = "; Secure" if tls else ""
    return f"{CSRF_COOKIE}={nonce}; Path={path}; HttpOnly; SameSite=Strict{secure}"


def _token(secret: bytes, nonce: str, user: str) -> str:
    msg = f"{nonce}\x00{user}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def csrf_token(request: Request, secret: bytes) -> str:
    """The CSRF token for forms on this page (mints the browser's cookie if needed).

    Args:
        request: the page request.
        secret: the process's CSRF key.
    """
    state: dict[str, Any] = request.scope.setdefault("state", {})
    nonce = request.cookies.get(CSRF_COOKIE) or state.get("new_csrf_nonce")
    if not nonce or len(nonce) > 100:
        nonce = secrets.token_urlsafe(32)
        state["new_csrf_nonce"] = nonce
    return _token(secret, nonce, state.get("user", ""))


def csrf_ok(request: Request, secret: bytes, sent: str | None) -> bool:
    """Whether a mutation's token matches its cookie and user, and it comes from us.

    Args:
        request: the mutation request.
        secret: the process's CSRF key.
        sent: the token the form carried.
    """
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not sent:
        return False
    if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            return False
    expected = _token(secret, nonce, request.scope.get("state", {}).get("user", ""))
    return hmac.compare_digest(expected, sent)
