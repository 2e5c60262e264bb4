"""Redis URLs as shown to people: the password never, everything else as given."""

from __future__ import annotations

import pytest

from policies.storage.connections import masked, unreachable


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:hunter2@db:6379/0", "redis://:***@db:6379/0"),
        ("rediss://ops:p%40ss@db/1?password=x&ssl_cert_reqs=none", None),
        ("redis+cluster://u:hunter2@a:1,b:2", "redis+cluster://u:***@a:1,b:2"),
        ("redis+sentinel://:hunter2@s:26379/mymaster", "redis+sentinel://:***@s:26379/mymaster"),
        (
            "unix:///run/redis.sock?db=0&password=hunter2",
            "unix:///run/redis.sock?db=0&password=***",
        ),
        ("redis://user@db:6379/0", "redis://user@db:6379/0"),
    ],
)
def test_masked(url: str, shown: str | None) -> None:
    text = masked(url)
    if shown is not None:
        assert text == shown
    assert "hunter2" not in text and "p%40ss" not in text and "password=x" not in text


def test_unreachable_names_the_url_and_both_ways_out() -> None:
    line = unreachable("redis://:hunter2@db:6380/2", "add --embedded", "ConnectionError")
    assert line.startswith("Redis is unavailable at redis://:***@db:6380/2 (ConnectionError)")
    assert "start Redis at that URL" in line and line.endswith("or add --embedded")
