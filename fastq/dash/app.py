"""``create_app``: the dashboard as one Starlette (ASGI) app, standalone or mounted.

Mount it in your own app under any prefix::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    import fastq.dash

    app = Starlette(routes=[Mount("/admin/queues", app=fastq.dash.create_app())])

Links, the CSRF cookie and the event stream all follow the mount prefix. A mounted
app gets no lifespan events from its parent, so the sampler starts on the first
request and stops with the process.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from fastq.config import RedisConfig
from fastq.dash import actions, pages_overview, pages_queue, pages_system, pages_task
from fastq.dash.auth import AuthMiddleware
from fastq.dash.config import DashConfig, load_config
from fastq.dash.security import HeadersMiddleware
from fastq.dash.web import HERE, Dash


def _metrics_routes(config: DashConfig) -> list[BaseRoute]:
    # Asynq's queue series (fastq.metrics), behind the dashboard's auth like every page.
    from fastq.metrics import asgi_app

    return [Mount("/metrics", app=asgi_app(config.redis))]


def create_app(
    config: DashConfig | None = None,
    *,
    redis_url: str | RedisConfig | None = None,
    read_only: bool | None = None,
    **options: Any,
) -> Starlette:
    """Build the dashboard ASGI app.

    Args:
        config: full settings; when None they come from the keyword options and the
            ``FASTQ_*`` environment (see ``fastq.dash.config.load_config``).
        redis_url: Redis URL or ``RedisConfig`` (default ``FASTQ_REDIS_URL``).
        read_only: hide and refuse every mutation.
        options: other ``load_config`` keywords (``users``, ``auth_header``,
            ``interval``, ...).
    """
    if config is None:
        config = load_config(redis_url=redis_url, read_only=read_only, **options)
    dash = Dash(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await dash.close()

    routes: list[BaseRoute] = [
        *pages_overview.routes,
        *pages_queue.routes,
        *pages_task.routes,
        *pages_system.routes,
        *actions.routes,
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        *_metrics_routes(config),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(HeadersMiddleware),
            Middleware(AuthMiddleware, config=config),
        ],
        lifespan=lifespan,
    )
    app.state.dash = dash
    return app
