"""Who is asking: HTTP basic auth against scrypt hashes, or a trusted proxy's header.

An ASGI middleware in front of every route (static files and the event stream too).
The user name it finds is put in ``scope["state"]["user"]`` for the CSRF tokens and the
mutation log. Verified credentials are cached under an HMAC of them, so a busy page
does not pay an scrypt per request and the clear password is never kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from fastq.dash.config import DashConfig
from fastq.dash.passwords import verify_password

ANONYMOUS = "anonymous"
_CACHE_MAX = 1024


class AuthMiddleware:
    """Refuse requests without valid credentials when any authentication is configured.

    Args:
        app: the wrapped ASGI app.
        config: users, proxy header and trusted proxies.
    """

    def __init__(self, app: ASGIApp, config: DashConfig) -> None:
        self.app = app
        self.config = config
        self._cache_key = os.urandom(32)
        self._verified: dict[bytes, bool] = {}
        self._header = (config.auth_header or "").lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        user = self._user(scope)
        if user is None:
            await _unauthorized(send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)

    def _user(self, scope: Scope) -> str | None:
        if not self.config.has_auth:
            return ANONYMOUS
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if self._header:
            client = (scope.get("client") or ("", 0))[0]
            if client in self.config.trusted_proxies:
                for name, value in headers:
                    if name == self._header and value:
                        return value.decode("utf-8", "replace")[:200]
        for name, value in headers:
            if name == b"authorization":
                return self._basic(value)
        return None

    def _basic(self, value: bytes) -> str | None:
        scheme, _, encoded = value.partition(b" ")
        if scheme.lower() != b"basic" or not self.config.users:
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, sep, password = decoded.partition(":")
        hashed = self.config.users.get(name)
        if not sep or hashed is None:
            return None
        key = hmac.new(self._cache_key, decoded.encode(), hashlib.sha256).digest()
        ok = self._verified.get(key)
        if ok is None:
            ok = verify_password(password, hashed)
            if len(self._verified) >= _CACHE_MAX:
                self._verified.clear()
            self._verified[key] = ok
        return name if ok else None


async def _unauthorized(send: Send) -> None:
    body = b"authentication required\n"
    headers: list[Any] = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Basic realm="fastq dashboard", charset="UTF-8"'),
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
