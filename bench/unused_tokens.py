"""The "unused for N days" view at scale: the server's time at N tokens, and what the
activity index adds to a gateway's last-use flush.

    .venv/bin/python -m bench.unused_tokens [--tokens 100000] [--unused 0.1] [--runs 20]

Seeds a workspace of a throwaway redis-server with N tokens made 200 days ago (the store's
own ``create_token``, pipelined: :func:`bench.setup.create_tokens`); a gateway's flush
operation then records a use yesterday for all but the ``--unused`` share. Times, in
process (no network): the index built from the hashes on first read (a deployment from
before it), one page of 50 unused tokens from the store, the admin's Lifetime panel and
the whole Tokens page (Flask test client), and a confirmed revoke of the 50 shown. Then
the flush of 10,000 last uses as it is now (hash + index) against the hash alone, in the
same run. Prints the median and 95th percentile.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.setup import bench_env, create_tokens
from bench.token_page import BASE, admin_app, timed
from policies import PolicyStore
from policies.lifetime import DAY
from policies.operations import usage
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation

FLUSH_KEYS = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--unused", type=float, default=0.1, help="share never used")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with bench_env() as env:
        ws, keyring, now = env.ws, env.store.ctx.keyring, time.time()
        aged = PolicyStore(env.client, keyring, clock=lambda: now - 200 * DAY)
        started = time.perf_counter()
        create_tokens(aged, ws, args.tokens)
        ids = [schema.text(k) for k in env.client.zrange(schema.token_index(ws), 0, -1)]
        used = ids[int(len(ids) * args.unused) :]
        for first in range(0, len(used), FLUSH_KEYS):  # what the gateways recorded
            batch = dict.fromkeys(used[first : first + FLUSH_KEYS], now - DAY)
            env.store.run(usage.record(env.store.ctx, {ws: batch}, {}))
        seeded = time.perf_counter() - started
        store = env.store

        def page() -> int:
            return len(store.lifetime.unused(ws, 90).items)

        env.client.delete(schema.token_activity(ws))  # as a deployment from before the index
        start = time.perf_counter()
        found = page()
        built = (time.perf_counter() - start) * 1000
        unused = store.lifetime.unused(ws, 90)
        client = admin_app(store, ws, 50).test_client()

        def get(url: str) -> Callable[[], int]:
            def call() -> int:
                answer = client.get(url)
                assert answer.status_code == 200, answer.status_code
                return len(answer.data)

            return call

        print(
            f"{args.tokens:,} tokens in one workspace ({unused.total:,} unused for 90 days; "
            f"seeded in {seeded:.0f} s); {args.runs} runs each after a warm-up"
        )
        print(f"{'what':62} {'bytes':>10} {'median ms':>10} {'p95 ms':>8}")
        print(
            f"{'store: first read, index built from the hashes (once)':62} {'-':>10} {built:>10.1f}"
        )
        cases: list[tuple[str, Callable[[], int]]] = [
            ("store: one page of 50 unused tokens (unused_tokens)", page),
            ("lifetime panel (policy and 50 unused tokens)", get(f"{BASE}panel/lifetime?ws={ws}")),
            ("the whole Tokens page (the section included)", get(BASE)),
        ]
        for label, action in cases:
            size, median, p95 = timed(args.runs, action)
            shown = "-" if label.startswith("store") else f"{size:,}"
            print(f"{label:62} {shown:>10} {median:>10.1f} {p95:>8.1f}")
        assert found == len(unused.items) == 50
        start = time.perf_counter()
        done = store.lifetime.revoke_unused(ws, [t.key_id for t in unused.items], 90, actor="bench")
        revoke = (time.perf_counter() - start) * 1000
        assert len(done.revoked) == 50
        print(f"{'store: confirmed revoke of the 50 shown (once)':62} {'-':>10} {revoke:>10.1f}")
        flush_case(env.store, ws, used[:FLUSH_KEYS], args.runs)


def flush_case(store: PolicyStore, ws: str, key_ids: list[str], runs: int) -> None:
    """A flush of ``key_ids``' last uses: the operation as it is, against the hash alone
    (as before the index), alternated run by run so both meet the same load."""
    stamp = time.time()

    def now() -> int:
        store.run(usage.record(store.ctx, {ws: dict.fromkeys(key_ids, stamp)}, {}))
        return 0

    def hash_only() -> int:
        pairs = (x for k in key_ids for x in (k, stamp))
        store.run(_one(Batch((Command(("HSET", schema.last_used(ws), *pairs)),))))
        return 0

    before, after = [], []
    for _ in range(runs):
        before.append(timed(1, hash_only)[1])
        after.append(timed(1, now)[1])
    base, median = statistics.median(before), statistics.median(after)

    def p95(times: list[float]) -> float:
        return sorted(times)[max(0, int(len(times) * 0.95) - 1)]

    label = f"flush of {len(key_ids):,} last uses: hash only (before)"
    print(f"{label:62} {'-':>10} {base:>10.1f} {p95(before):>8.1f}")
    label = "  the same, hash + activity index (now), alternated"
    print(f"{label:62} {'-':>10} {median:>10.1f} {p95(after):>8.1f}   x{median / base:.2f}")


def _one(call: Batch) -> Operation[Any]:
    return (yield call)


if __name__ == "__main__":
    main()
