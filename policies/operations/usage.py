"""Usage counts in Redis: the gateway's flush (one pipeline) and the readers' ranges.

A flush is one script call per workspace (and ``CHUNK_ROWS`` rows) into its minute, hour and
day buckets (:data:`policies.storage.lua_usage.COUNT`): every key of a workspace is in its
hash slot (cluster-safe), and the per-key bound on a bucket's fields holds across processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.catalog.rules import Rule
from policies.operations import token_activity
from policies.operations.base import Context, require_workspace
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation, Script
from policies.storage.lua_usage import COUNT, SUM
from policies.usage.request_counts import (
    ALLOWED,
    BUCKET_ACTIONS,
    BUCKET_ORIGINS,
    DAY,
    HOUR,
    MINUTE,
    OTHER_ACTION,
    OTHER_ORIGIN,
    PUBLISHABLE,
    Grain,
    Impact,
    Report,
    impact,
    subject_totals,
    summarize,
    total_field,
)

Counts = Mapping[str, Mapping[str, int]]  # workspace -> field -> count
MAX_BUCKETS = 2000  # one read: e.g. 30 days of hours, not 30 days of minutes
SUM_BUCKETS = 4  # buckets summed per script call: Redis serves others between two calls
# Fields of one bucket a read sums at most: a bucket within the bound holds far fewer per
# key; only one written before the bound (or a workspace of many thousands of busy keys)
# is read in part, and the report says so (Report.partial).
BUCKET_READ = 10_000
OVERSIZED_READ = 1000  # fields read of a bucket over BUCKET_READ (HSCAN steps, then stop)
BUCKET_ROWS = 2000  # distinct origin rows a bucket's sums hold (the rest: the overflow row)
# A flush's commands go in pipelines of this many: redis-py encodes a pipeline in one go,
# and the gateway's event loop serves requests between two of them.
CHUNK = 1000


CHUNK_ROWS = 1000  # rows per script call: Redis serves others between two calls


def count_calls(counts: Counts, now: float) -> list[Script]:
    """Every field into the minute, hour and day buckets of ``now``, each with its expiry
    (no roll-up job: a bucket outlives its last write by its retention), bounded per key."""
    calls: list[Script] = []
    grains = (MINUTE, HOUR, DAY)
    for ws, fields in counts.items():
        keys = [schema.usage(ws, grain.code, grain.start(now)) for grain in grains]
        expires = [grain.expires(grain.start(now)) for grain in grains]
        totals = [[total_field(s), n] for s, n in subject_totals(fields).items()]
        groups: dict[str, tuple[list[Any], list[Any]]] = {}
        for name, n in fields.items():
            kind, subject, action, label = name.split("|")
            rows = groups.setdefault(subject, ([], []))
            if kind == "a":
                rows[0].append([name, n, label])
            elif kind == "g":
                rows[1].append([name, n, action])
        # In chunks of about CHUNK_ROWS rows (a key's rows stay together); the day's totals
        # go with the first.
        chunk: list[Any] = []
        size = 0
        for subject, (a_rows, g_rows) in groups.items():
            chunk.append([subject, a_rows, g_rows])
            size += len(a_rows) + len(g_rows)
            if size >= CHUNK_ROWS:
                calls.append(_count(keys, chunk, totals, expires))
                chunk, size, totals = [], 0, []
        if chunk or totals:
            calls.append(_count(keys, chunk, totals, expires))
    return calls


def _count(keys: list[str], groups: list[Any], totals: list[Any], expires: list[int]) -> Script:
    return COUNT.call(
        keys,
        groups=groups,
        totals=totals,
        expires=expires,
        max_a=BUCKET_ACTIONS,
        max_g=BUCKET_ORIGINS,
        allowed=ALLOWED,
        other_action=OTHER_ACTION,
        other_origin=OTHER_ORIGIN,
    )


def record(
    ctx: Context, last_used: Mapping[str, Mapping[str, float]], counts: Counts
) -> Operation[None]:
    """One flush of a gateway: last-used times and usage counts, one pipeline (in chunks
    of ``CHUNK`` commands when it is large)."""
    commands: list[Command | Script] = [
        command
        for ws, times in last_used.items()
        if times
        for command in (
            Command(("HSET", schema.last_used(ws), *(x for kv in times.items() for x in kv))),
            token_activity.touch_command(ws, times),  # the "unused for N days" index
        )
    ]
    commands += count_calls(counts, ctx.clock())
    for first in range(0, len(commands), CHUNK):
        yield Batch(tuple(commands[first : first + CHUNK]))


def buckets(
    ctx: Context,
    ws: str,
    grain: Grain,
    since: float,
    until: float | None = None,
    subject: str | None = None,
) -> Operation[tuple[dict[int, dict[str, int]], bool]]:
    """The buckets of ``grain`` from ``since`` to ``until`` (default: now), start -> field ->
    count, summed in Redis per (kind, action, label) for ``subject`` (None: every subject's,
    named ``*``; see :data:`policies.storage.lua_usage.SUM`); a bucket without counts is
    there, empty. With whether a bucket was too large to read whole (``BUCKET_READ``)."""
    require_workspace(ws)
    until = ctx.clock() if until is None else until
    starts = grain.starts(since, until)[-MAX_BUCKETS:]
    calls = []
    for first in range(0, len(starts), SUM_BUCKETS):
        keys = [schema.usage(ws, grain.code, s) for s in starts[first : first + SUM_BUCKETS]]
        calls.append(
            SUM.call(
                keys,
                subject=subject or "",
                cap=BUCKET_READ,
                sample=OVERSIZED_READ,
                rows=BUCKET_ROWS,
                other_origin=OTHER_ORIGIN,
            )
        )
    replies = (yield Batch(tuple(calls))) if calls else []
    sums = [rows for _, per_bucket in replies for rows in per_bucket]
    partial = any(int(flag) for flag, _ in replies)
    found = {
        start: {schema.text(k): int(schema.text(v)) for k, v in _pairs(rows)}
        for start, rows in zip(starts, sums, strict=True)
    }
    return found, partial


def daily_totals(
    ctx: Context, ws: str, subjects: list[str], days: int = 7
) -> Operation[dict[str, list[int]]]:
    """Each subject's requests per day over the last ``days`` days (today last)."""
    require_workspace(ws)
    if not subjects:
        return {}
    starts = DAY.starts(ctx.clock() - (days - 1) * DAY.seconds, ctx.clock())
    fields = [total_field(s) for s in subjects]
    replies = yield Batch(
        tuple(Command(("HMGET", schema.usage(ws, DAY.code, s), *fields)) for s in starts)
    )
    return {
        subject: [int(schema.text(r[i])) if r[i] is not None else 0 for r in replies]
        for i, subject in enumerate(subjects)
    }


def report(
    ctx: Context, ws: str, since: float, grain: Grain, subject: str | None = None
) -> Operation[Report]:
    """A subject's counts (None: the whole workspace's) from ``since`` to now."""
    raw, partial = yield from buckets(ctx, ws, grain, since, subject=subject)
    report = summarize(grain, raw)
    report.partial = partial
    return report


def rule_impact(ctx: Context, ws: str, rule: Rule, span: float) -> Operation[Impact]:
    """What ``rule`` would have refused over the last ``span`` seconds (hour buckets up to
    8 days, day buckets beyond)."""
    since = ctx.clock() - span
    grain = HOUR if span <= 8 * 86400 else DAY
    raw, _ = yield from buckets(ctx, ws, grain, since, subject=PUBLISHABLE)
    return impact(rule, since, raw.values())


def _pairs(reply: object) -> list[tuple[object, object]]:
    if isinstance(reply, dict):
        return list(reply.items())
    values = list(reply) if isinstance(reply, list | tuple) else []
    return list(zip(values[::2], values[1::2], strict=True))
