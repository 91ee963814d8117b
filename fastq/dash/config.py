"""Dashboard settings: one frozen dataclass, filled from flags and ``FASTQ_DASH_*``.

Precedence is the CLI's: a flag beats the environment, which beats the default.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastq.config import RedisConfig, resolve_redis
from fastq.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8085
DEFAULT_INTERVAL = 1.0  # seconds between live samples (Asynqmon polls every 8 s by default)
DEFAULT_PAGE_SIZE = 20
PAGE_SIZES = (10, 20, 50, 100)
DEFAULT_TRUSTED_PROXIES = ("127.0.0.1", "::1")

ENV_USERS = "FASTQ_DASH_USERS"
ENV_USERS_FILE = "FASTQ_DASH_USERS_FILE"
ENV_AUTH_HEADER = "FASTQ_DASH_AUTH_HEADER"
ENV_TRUSTED_PROXIES = "FASTQ_DASH_TRUSTED_PROXIES"
ENV_READ_ONLY = "FASTQ_DASH_READ_ONLY"
ENV_INTERVAL = "FASTQ_DASH_INTERVAL"
ENV_SECRET = "FASTQ_DASH_SECRET"
ENV_HOST = "FASTQ_DASH_HOST"
ENV_PORT = "FASTQ_DASH_PORT"
ENV_INSECURE = "FASTQ_DASH_INSECURE_NO_AUTH"


@dataclass(frozen=True, kw_only=True)
class DashConfig:
    """Everything the dashboard app needs.

    Attributes:
        redis: where the queues live (its password is never rendered or logged).
        users: user name -> password hash (``fastq dash --hash-password`` makes one).
        auth_header: trust this request header as the user name (an auth proxy sets it),
            only from ``trusted_proxies``.
        trusted_proxies: client addresses whose ``auth_header`` is believed.
        read_only: hide and refuse every mutation.
        interval: seconds between live samples.
        secret: key for CSRF tokens (random per process when empty).
        insecure_no_auth: allow serving without any authentication.
    """

    redis: RedisConfig
    users: Mapping[str, str] = field(default_factory=dict)
    auth_header: str | None = None
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES
    read_only: bool = False
    interval: float = DEFAULT_INTERVAL
    secret: bytes = b""
    insecure_no_auth: bool = False

    def __post_init__(self) -> None:
        if not 0.05 <= self.interval <= 3600:
            raise ConfigError(
                f"interval must be between 0.05 and 3600 seconds, got {self.interval}"
            )
        for addr in self.trusted_proxies:
            try:
                ipaddress.ip_address(addr)
            except ValueError as exc:
                raise ConfigError(f"trusted proxy {addr!r} is not an IP address") from exc

    @property
    def has_auth(self) -> bool:
        """Whether any authentication (users or a proxy header) is configured."""
        return bool(self.users) or bool(self.auth_header)


def parse_users(text: str, source: str) -> dict[str, str]:
    """Parse ``user:hash`` entries separated by commas or new lines.

    Args:
        text: the entries; blank lines and ``#`` comments are skipped.
        source: where they came from, for error messages.
    """
    users: dict[str, str] = {}
    for raw in text.replace(",", "\n").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not name or not hashed.startswith("scrypt$"):
            raise ConfigError(
                f"{source}: expected 'user:scrypt$...' entries "
                "(make a hash with `fastq dash --hash-password`)"
            )
        users[name] = hashed
    return users


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def load_config(
    *,
    redis_url: str | RedisConfig | None = None,
    users: Mapping[str, str] | None = None,
    users_file: str | None = None,
    auth_header: str | None = None,
    trusted_proxies: tuple[str, ...] | None = None,
    read_only: bool | None = None,
    interval: float | None = None,
    insecure_no_auth: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> DashConfig:
    """Build a ``DashConfig`` from explicit values, falling back to ``FASTQ_*`` env vars.

    Args:
        redis_url: Redis URL or config (default ``FASTQ_REDIS_URL``).
        users: user -> scrypt hash; default ``FASTQ_DASH_USERS`` plus the users file.
        users_file: a file of ``user:hash`` lines (default ``FASTQ_DASH_USERS_FILE``).
        auth_header: trusted user header (default ``FASTQ_DASH_AUTH_HEADER``).
        trusted_proxies: addresses allowed to set it (``FASTQ_DASH_TRUSTED_PROXIES``).
        read_only: refuse mutations (default ``FASTQ_DASH_READ_ONLY``).
        interval: live sample interval in seconds (default ``FASTQ_DASH_INTERVAL`` or 1).
        insecure_no_auth: allow no authentication (``FASTQ_DASH_INSECURE_NO_AUTH``).
        env: the environment to read (default ``os.environ``).
    """
    env = os.environ if env is None else env
    found: dict[str, str] = {}
    if users is None:
        found.update(parse_users(env.get(ENV_USERS, ""), ENV_USERS))
        users_file = users_file or env.get(ENV_USERS_FILE)
    else:
        found.update(users)
    if users_file:
        try:
            with open(users_file, encoding="utf-8") as fh:
                found.update(parse_users(fh.read(), users_file))
        except OSError as exc:
            raise ConfigError(f"cannot read users file {users_file!r}: {exc.strerror}") from exc
    if trusted_proxies is None:
        raw = env.get(ENV_TRUSTED_PROXIES)
        trusted_proxies = (
            tuple(p.strip() for p in raw.split(",") if p.strip())
            if raw
            else DEFAULT_TRUSTED_PROXIES
        )
    if interval is None:
        try:
            interval = float(env.get(ENV_INTERVAL) or DEFAULT_INTERVAL)
        except ValueError as exc:
            raise ConfigError(f"{ENV_INTERVAL} must be a number of seconds") from exc
    secret = env.get(ENV_SECRET, "").encode()
    return DashConfig(
        redis=resolve_redis(redis_url),
        users=found,
        auth_header=auth_header or env.get(ENV_AUTH_HEADER) or None,
        trusted_proxies=trusted_proxies,
        read_only=_truthy(env.get(ENV_READ_ONLY)) if read_only is None else read_only,
        interval=interval,
        secret=secret,
        insecure_no_auth=(
            _truthy(env.get(ENV_INSECURE)) if insecure_no_auth is None else insecure_no_auth
        ),
    )


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
