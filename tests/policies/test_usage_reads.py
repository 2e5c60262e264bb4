"""The admin's usage reads: summed inside Redis per bucket, equal to the raw buckets' sums,
and bounded whatever a bucket holds (one written before the per-key bound)."""

from __future__ import annotations

import random

import pytest
import redis

from policies import PolicyStore
from policies.catalog.rules import Rule
from policies.operations import usage
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from policies.usage.request_counts import DAY, HOUR, impact, summarize
from tests.support.clock import ManualClock

SUBJECTS = ("publishable", "sdk", "tk0001", "tk0002")
ACTIONS = ("projects.list", "projects.create", "billing.read", "-", "odd%7Cname")
OUTCOMES = ("allowed", "action_blocked", "rate_limited")
ORIGINS = ("https://a.example", "OTHER", "NONE", "none", "https://b.example")


def seed(client: redis.Redis, ws: str, start: int, rng: random.Random) -> dict[str, int]:
    fields: dict[str, int] = {}
    for subject in SUBJECTS:
        for action in rng.sample(ACTIONS, 3):
            for outcome in rng.sample(OUTCOMES, 2):
                fields[f"a|{subject}|{action}|{outcome}"] = rng.randint(1, 500)
            for origin in rng.sample(ORIGINS, 2):
                fields[f"g|{subject}|{action}|{origin}"] = rng.randint(1, 500)
        fields[f"t|{subject}"] = rng.randint(1, 9)  # not a series: never in a report
        fields[f"n|{subject}|a"] = 6
    client.hset(schema.usage(ws, DAY.code, start), mapping=fields)
    return fields


def test_sums_in_redis_equal_the_raw_buckets_sums(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis, clock: ManualClock
) -> None:
    ws, rng = workspace.workspace_id, random.Random(25)
    starts = DAY.starts(clock() - 29 * 86400, clock())
    raw = {start: seed(redis_client, ws, start, rng) for start in starts[::2]}
    raw.update({start: {} for start in starts[1::2]})  # days without counts
    for subject in (None, *SUBJECTS):
        report = store.usage(ws, since=clock() - starts[0], subject=subject)
        expected = summarize(DAY, raw, subject)
        assert (report.starts, report.outcomes) == (expected.starts, expected.outcomes)
        assert (report.actions, report.origins) == (expected.actions, expected.origins)
        assert report.total > 0 and not report.partial
    rule = Rule("projects", "*")
    found = store.rule_impact(ws, rule, span=clock() - starts[0])
    expected_impact = impact(rule, found.since, raw.values())
    assert (found.requests, found.origins) == (expected_impact.requests, expected_impact.origins)


def test_an_oversized_bucket_is_read_in_part_and_says_so(
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws = workspace.workspace_id
    monkeypatch.setattr(usage, "BUCKET_READ", 2000)
    monkeypatch.setattr(usage, "OVERSIZED_READ", 500)
    monkeypatch.setattr(usage, "BUCKET_ROWS", 300)
    key = schema.usage(ws, HOUR.code, HOUR.start(clock()))
    big = {f"g|publishable|projects.list|https://o{n}.example": 1 for n in range(20_000)}
    redis_client.hset(key, mapping=big)
    report = store.usage(ws, since=3600, grain=HOUR)
    assert report.partial
    read = sum(report.origins.values())
    assert 500 <= read < 2000  # a sample: HSCAN steps up to OVERSIZED_READ, not the bucket
    # Past BUCKET_ROWS distinct origins, the rest is summed into the overflow row.
    assert len(report.origins) == 301 and report.origins["OTHER"] == read - 300
    redis_client.delete(key)
    redis_client.hset(key, mapping=dict(list(big.items())[:2000]))  # at the cap: read whole
    monkeypatch.setattr(usage, "BUCKET_ROWS", 5000)
    whole = store.usage(ws, since=3600, grain=HOUR)
    assert not whole.partial and sum(whole.origins.values()) == 2000
