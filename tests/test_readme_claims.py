"""What the README promises about the API is what the code does.

Each test reads the README sentence that makes a claim and checks it against the
code, so a rename on either side fails here instead of misleading a reader.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastq.app import Context, IncomingTask
from fastq.config import redact_url

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _listed(pattern: str) -> list[str]:
    found = re.search(pattern, README, re.S)
    assert found, f"README no longer has the sentence matching {pattern!r}"
    return re.findall(r"`\.?(\w+)(?:\(\))?`", found.group(1))


def test_every_incoming_task_attribute_the_readme_names_exists() -> None:
    names = _listed(r"A handler gets an `IncomingTask` \((.*?)\) and a `Context`")
    assert "retried" in names and len(names) >= 6, names
    for name in names:
        assert hasattr(IncomingTask, name), f"IncomingTask has no {name!r}"


def test_every_context_attribute_the_readme_names_exists() -> None:
    names = _listed(r"and a `Context` \((.*?)\)\.")
    assert names, names
    for name in names:
        assert hasattr(Context, name), f"Context has no {name!r}"


def test_the_logged_url_form_is_what_redaction_produces() -> None:
    found = re.search(r"URLs are logged as `([^`]+)`, or `([^`]+)` with a user name", README)
    assert found, "README no longer says how URLs are logged"
    plain, with_user = found.groups()
    assert redact_url("redis://:s3cret@host") == plain
    assert redact_url("redis://user:s3cret@host") == with_user


def test_the_asynq_compatibility_page_is_linked_and_exists() -> None:
    assert "(docs/asynq-compatibility.md)" in README
    page = (ROOT / "docs" / "asynq-compatibility.md").read_text()
    for topic in ("recover_cap", "pending_since", "9,999", "forward.lua", "100 ms"):
        assert topic in page, topic
