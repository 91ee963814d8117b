"""What every page handler shares: the ``Dash`` context, rendering and error pages."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fastq.dash import format as fmt
from fastq.dash.config import PAGE_SIZES, DashConfig
from fastq.dash.live import Sampler
from fastq.dash.security import CSRF_FIELD, csrf_token
from fastq.errors import (
    BrokerConfigError,
    BrokerConnectionError,
    FastqError,
    InvalidOptionError,
    InvalidStateError,
    NotFoundError,
    QueueNotEmptyError,
)
from fastq.inspect.inspector import AsyncInspector

HERE = Path(__file__).parent


def make_env() -> jinja2.Environment:
    """The template environment: autoescape on for every template, HTML and SVG alike."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt.FILTERS)
    env.globals.update(fmt.GLOBALS)
    env.globals["PAGE_SIZES"] = PAGE_SIZES
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    return env


class Dash:
    """One dashboard instance: settings, the Inspector, the sampler and templates.

    Args:
        config: the settings.
    """

    def __init__(self, config: DashConfig) -> None:
        self.config = config
        self.secret = config.secret or os.urandom(32)
        self.inspector = AsyncInspector(config.redis)
        self.sampler = Sampler(self.inspector, config.interval)
        self.env = make_env()

    async def close(self) -> None:
        """Stop the sampler and close Redis connections."""
        await self.sampler.stop()
        await self.inspector.close()


def dash_of(request: Request) -> Dash:
    """The ``Dash`` serving this request (started lazily: a mounted app gets no lifespan)."""
    dash: Dash = request.app.state.dash
    dash.sampler.start()
    return dash


def url(request: Request, path: str, **params: Any) -> str:
    """A URL under the app's mount point; ``None`` parameters are left out.

    Args:
        request: the current request (its ``root_path`` is the mount prefix).
        path: the path inside the dashboard, starting with ``/``.
        params: query parameters.
    """
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    base = request.scope.get("root_path", "") + quote(path)
    return f"{base}?{query}" if query else base


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a page template with the globals every page uses.

    Args:
        request: the request.
        name: the template file.
        status: the HTTP status.
        ctx: template variables.
    """
    dash: Dash = request.app.state.dash
    state = request.scope.get("state", {})
    ctx.setdefault("done", "")
    ctx.setdefault("nav", "")
    html = dash.env.get_template(name).render(
        request=request,
        url=lambda path, **p: url(request, path, **p),
        csrf=csrf_token(request, dash.secret),
        read_only=dash.config.read_only,
        user=state.get("user", ""),
        interval=dash.config.interval,
        redis_target=dash.config.redis.redacted_url,
        rendered_at=f"{time.time():.3f}",
        **ctx,
    )
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, exc: FastqError) -> Response:
    """The page for an Inspector error: 404, 409, 400 or 503 with its message.

    Args:
        request: the request.
        exc: what the Inspector raised.
    """
    status = 500
    if isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, (InvalidStateError, QueueNotEmptyError)):
        status = 409
    elif isinstance(exc, InvalidOptionError):
        status = 400
    elif isinstance(exc, (BrokerConnectionError, BrokerConfigError)):
        status = 503  # unreachable, or refusing our credentials: the dashboard's Redis is down
    return render(request, "error.html", status=status, message=str(exc), title="Error")


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A bounded integer query parameter; garbage gives the default.

    Args:
        request: the request.
        name: the parameter.
        default: used when missing or not a number.
        low: smallest value allowed.
        high: largest value allowed.
    """
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        return default
    return min(max(value, low), high)


_DONE = {
    "run": "moved to pending",
    "archive": "archived",
    "delete": "deleted",
    "cancel": "asked to cancel",
    "pause": "queue paused",
    "resume": "queue resumed",
}


def done_message(request: Request) -> str:
    """The banner after a redirected action: fixed wording, numbers only from the URL.

    Args:
        request: the page request (``done``, ``n`` and ``skipped`` parameters).
    """
    action = request.query_params.get("done", "")
    if action not in _DONE:
        return ""
    n = int_param(request, "n", -1, -1, 10**9)
    skipped = int_param(request, "skipped", 0, 0, 10**9)
    text = _DONE[action] if n < 0 else f"{n} task(s) {_DONE[action]}"
    if skipped:
        text += f"; {skipped} skipped (gone or in another state)"
    return text
