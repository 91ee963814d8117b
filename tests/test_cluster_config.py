"""Cluster and Sentinel URLs: parsing, refusals and password masking (no server needed)."""

from __future__ import annotations

import pytest

from fastq.config import RedisConfig
from fastq.errors import InvalidOptionError
from fastq.redact import redact_text, redact_url


def test_cluster_url_lists_its_nodes() -> None:
    c = RedisConfig(url="redis+cluster://u:s3cret@h1:7000,h2:7001,h3/")
    assert c.topology == "cluster"
    assert c.nodes == [("h1", 7000), ("h2", 7001), ("h3", 6379)]
    assert c.credentials == ("u", "s3cret")
    assert c.db == 0


def test_sentinel_url_names_master_and_db() -> None:
    c = RedisConfig(url="redis+sentinel://:p%40ss@s1:26379,s2/mymaster/3")
    assert c.topology == "sentinel"
    assert c.nodes == [("s1", 26379), ("s2", 26379)]
    assert (c.master_name, c.db) == ("mymaster", 3)
    assert c.credentials == (None, "p@ss")


def test_single_redis_urls_keep_their_topology() -> None:
    c = RedisConfig(url="redis://127.0.0.1:6379/2")
    assert (c.topology, c.nodes, c.master_name, c.db) == ("single", [], "", 2)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+sentinel://s1:26379/", "name the master"),
        ("redis+sentinel://s1:26379/m/x", "the database must be a number"),
        ("redis+cluster://h1:port/", "list nodes as host:port"),
        ("redis+cluster://h1:7000/1", "only database 0"),
        ("redis+cluster://h1:99999/", "list nodes as host:port"),
    ],
)
def test_bad_multi_host_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidOptionError, match=reason):
        RedisConfig(url=url)


@pytest.mark.parametrize(
    "url",
    ["redis+cluster://u:s3cret@h1:7000,h2:7001/", "redis+sentinel://:s3cret@s1,s2/m/0"],
)
def test_passwords_are_masked(url: str) -> None:
    assert "s3cret" not in repr(RedisConfig(url=url))
    assert "s3cret" not in redact_url(url)
    assert "s3cret" not in redact_text(f"cannot reach {url}: refused")
    assert "***" in redact_text(f"cannot reach {url}: refused")
