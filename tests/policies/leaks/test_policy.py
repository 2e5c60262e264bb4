"""The leak policy's encoding, the outcomes' feedback labels, a sighting's scrubbing."""

from __future__ import annotations

import pytest

from policies.errors import KeystileError
from policies.leaks.policy import MAX_WHERE, LeakPolicy, LeakRecord, Outcome, Sighting


def test_default_and_round_trip() -> None:
    assert LeakPolicy() == LeakPolicy("roll", "revoke")
    assert LeakPolicy.decode(None) == LeakPolicy()
    policy = LeakPolicy("notify", "notify")
    assert LeakPolicy.decode(policy.encode()) == policy


@pytest.mark.parametrize(
    "raw",
    ["nope", "[]", '{"sdk": "revoke"}', '{"tokens": "roll"}', '{"sdk": 1}', '{"x": "roll"}'],
)
def test_damaged_policies_are_refused(raw: str) -> None:
    with pytest.raises(KeystileError):
        LeakPolicy.decode(raw)


def test_labels() -> None:
    for outcome in Outcome:
        expected = outcome not in (Outcome.PUBLISHABLE, Outcome.UNKNOWN)
        assert (outcome.label == "true_positive") is expected


def test_a_sighting_never_keeps_the_key_it_reports() -> None:
    key = "tk_" + "A" * 50
    seen = Sighting("gitlab", f"config.py:3 {key} " + "x" * 1000, "s" * 100).scrubbed(key)
    assert key not in seen.where and "tk_…" in seen.where
    assert len(seen.where) == MAX_WHERE and len(seen.source) == 64
    with pytest.raises(ValueError):
        Sighting("bitbucket")


def test_records_round_trip_and_damaged_ones_are_skipped() -> None:
    record = LeakRecord(1.5, "tk", "abc", "ci", "github", "https://x", "content", "revoked")
    assert LeakRecord.decode(record.encode()) == record
    assert LeakRecord.decode("{}") is None
    assert LeakRecord.decode("not json") is None
