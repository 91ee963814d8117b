"""Password redaction for anything that may reach a log, an error message or ``ps``.

It imports nothing from fastq, so the error tree, the configuration and logging can
all use it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL_WITH_CREDS = re.compile(r"\b(rediss?|unix)(\+cluster|\+sentinel)?://[^\s'\"<>]*@[^\s'\"<>]*")
# password=..., 'password': '...', password: ... as in kwargs, dict reprs and URL queries.
_PASSWORD_FIELD = re.compile(r"""(\bpassword['"]?\s*[=:]\s*['"]?)([^'"\s,&)}]+)""", re.IGNORECASE)


def redact_url(url: str) -> str:
    """Return the URL with any password replaced by '***', safe for logs and titles."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable redis url>"
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        user = creds.split(":", 1)[0] if ":" in creds else ""
        netloc = f"{user}:***@{host}" if user else f"***@{host}"
    query = parts.query
    if "password" in query:
        query = "&".join(
            "password=***" if q.startswith("password=") else q for q in query.split("&")
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Mask the password of every Redis URL and every ``password=…`` field in ``text``."""
    if "://" in text:
        text = _URL_WITH_CREDS.sub(lambda m: redact_url(m.group(0)), text)
    if "assword" in text or "ASSWORD" in text:
        text = _PASSWORD_FIELD.sub(lambda m: m.group(1) + "***", text)
    return text


def scrub_argv(argv: list[str], option: str = "--redis-url") -> None:
    """Mask, in place, a password given as ``option URL`` or ``option=URL`` in ``argv``."""
    for i, arg in enumerate(argv):
        if arg.startswith(option + "="):
            argv[i] = option + "=" + redact_url(arg.split("=", 1)[1])
        elif i > 0 and argv[i - 1] == option:
            argv[i] = redact_url(arg)
