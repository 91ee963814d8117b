"""``fastq dash`` / ``python -m fastq.dash``: serve the dashboard with uvicorn."""

from __future__ import annotations

import contextlib
import getpass
import sys
from typing import Any

import click

from fastq.config import ENV_REDIS_URL
from fastq.dash.config import (
    DEFAULT_HOST,
    DEFAULT_INTERVAL,
    DEFAULT_PORT,
    ENV_AUTH_HEADER,
    ENV_HOST,
    ENV_INTERVAL,
    ENV_PORT,
    ENV_USERS,
    ENV_USERS_FILE,
    is_loopback,
    load_config,
)
from fastq.dash.live import Sampler
from fastq.dash.passwords import hash_password
from fastq.errors import ConfigError, FastqError

EPILOG = (
    "Exit codes: 0 OK, 1 ERROR, 2 USAGE (bad option, a public bind without "
    "authentication, the dash extra missing)."
)


@click.command(
    "dash",
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--host",
    default=DEFAULT_HOST,
    envvar=ENV_HOST,
    show_default=True,
    help=f"Address to bind (${ENV_HOST}). Non-loopback needs authentication.",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    envvar=ENV_PORT,
    type=int,
    show_default=True,
    help=f"Port to bind (${ENV_PORT}).",
)
@click.option(
    "--redis-url",
    metavar="URL",
    default=None,
    help=f"Redis to show (default ${ENV_REDIS_URL}). Its password is never shown.",
)
@click.option(
    "--read-only",
    is_flag=True,
    default=None,
    help="Hide and refuse every mutation (FASTQ_DASH_READ_ONLY=1).",
)
@click.option(
    "--users-file",
    metavar="PATH",
    default=None,
    help=f"File of 'user:scrypt$...' lines (${ENV_USERS_FILE}; also ${ENV_USERS}).",
)
@click.option(
    "--auth-header",
    metavar="NAME",
    default=None,
    help=f"Trust this header as the user name, set by an auth proxy (${ENV_AUTH_HEADER}).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    metavar="IP",
    multiple=True,
    help="Address allowed to set --auth-header (repeatable; default 127.0.0.1 and ::1).",
)
@click.option(
    "--interval",
    type=float,
    default=None,
    help=f"Seconds between live samples (${ENV_INTERVAL}; default {DEFAULT_INTERVAL}).",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    default=None,
    help="Allow binding a non-loopback address without authentication.",
)
@click.option(
    "--root-path",
    default="",
    envvar="FASTQ_DASH_ROOT_PATH",
    metavar="PREFIX",
    help="Path prefix a reverse proxy strips, e.g. /queues (FASTQ_DASH_ROOT_PATH).",
)
@click.option(
    "--hash-password",
    is_flag=True,
    help="Read a password (prompt or stdin), print its hash for the users file, exit.",
)
def dash(
    host: str,
    port: int,
    redis_url: str | None,
    read_only: bool | None,
    users_file: str | None,
    auth_header: str | None,
    trusted_proxies: tuple[str, ...],
    interval: float | None,
    insecure_no_auth: bool | None,
    root_path: str,
    hash_password: bool,
) -> None:
    """Serve the web dashboard (queues, tasks, servers, schedulers, Redis), live."""
    if hash_password:
        _print_hash()
        return
    try:
        config = load_config(
            redis_url=redis_url,
            users_file=users_file,
            auth_header=auth_header,
            trusted_proxies=trusted_proxies or None,
            read_only=read_only,
            interval=interval,
            insecure_no_auth=insecure_no_auth,
        )
    except FastqError as exc:
        raise click.UsageError(str(exc)) from exc
    if not is_loopback(host) and not config.has_auth and not config.insecure_no_auth:
        raise click.UsageError(
            f"refusing to serve {host} without authentication: set {ENV_USERS} or "
            "--users-file (hashes from `fastq dash --hash-password`), or --auth-header "
            "behind an auth proxy; --insecure-no-auth overrides this"
        )
    import uvicorn

    from fastq.dash.app import create_app
    from fastq.logging import configure_logging

    configure_logging()
    app = create_app(config)
    auth = "basic" if config.users else ("proxy header" if config.auth_header else "none")
    click.echo(
        f"fastq dash on http://{host}:{port}/ (Redis {config.redis.redacted_url}, "
        f"auth: {auth}{', read-only' if config.read_only else ''})",
        err=True,
    )
    server = server_class()(
        app.state.dash.sampler,
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            proxy_headers=False,
            root_path=root_path.rstrip("/"),
            timeout_graceful_shutdown=5,
        ),
    )
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        server.run()


def server_class() -> Any:
    """The uvicorn ``Server`` subclass that serves the dashboard: built here so uvicorn
    is imported only when a dashboard is served (the tests' live servers use it too)."""
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn, ending the event streams first when asked to stop (they never end)."""

        def __init__(self, sampler: Sampler, config: uvicorn.Config) -> None:
            super().__init__(config)
            self.sampler = sampler

        async def shutdown(self, sockets: Any = None) -> None:
            self.sampler.end_streams()
            await super().shutdown(sockets)

    return Server


def _print_hash() -> None:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise click.UsageError("the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        click.echo(hash_password(password))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


def main() -> None:
    """Entry point of ``python -m fastq.dash``."""
    dash(prog_name="python -m fastq.dash")
