"""Password hashes for HTTP basic auth: scrypt from the standard library.

scrypt is memory-hard (an attacker with a GPU pays for RAM per guess), is in
``hashlib`` on every CPython built against OpenSSL, and needs no extra wheel. A hash
reads ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<key b64>`` so its cost can be raised later
without breaking stored hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from fastq.errors import ConfigError

LOG2_N = 15
R = 8
P = 1
_KEY_LEN = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=n * r * 256, dklen=_KEY_LEN
    )


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password`` for ``FASTQ_DASH_USERS``.

    Args:
        password: the clear-text password (not stored anywhere).
    """
    if not password:
        raise ConfigError("the password must not be empty")
    salt = os.urandom(16)
    key = _derive(password, salt, LOG2_N, R, P)
    return f"scrypt${LOG2_N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches ``hashed`` (constant-time compare).

    Args:
        password: what the client sent.
        hashed: a hash made by ``hash_password``.
    """
    try:
        scheme, log2_n, r, p, salt, key = hashed.split("$")
        if scheme != "scrypt" or not 10 <= int(log2_n) <= 20:
            return False
        got = _derive(password, _unb64(salt), int(log2_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(key))
