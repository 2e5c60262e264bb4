"""The Tokens page of a workspace with many tokens: its size and the server's time.

    .venv/bin/python -m bench.token_page [--tokens 10000] [--runs 20]

Seeds a workspace of a throwaway redis-server with N tokens (the store's own
``create_token``, pipelined: :func:`bench.setup.create_tokens`), then asks the admin's
Flask app, in process (the server's time, without a network), for: the whole page, the
tokens panel the script fetches, the same filtered (revoked tokens; the oldest token by its
key id and by its name; active tokens whose name has ``bench``, every one: the bounded
search), and, for comparison, the page with every token on it (``tokens_per_page=N``: what
it was before pagination). Prints bytes and the median and 95th percentile of the wall
time; then the first filtered read of a store from before the filters (built by it).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from flask_admin import Admin

from admin_plugin import AdminIdentity, KeystileAdmin, SmtpConfig, SmtpMailer
from bench.setup import bench_env, create_tokens
from policies import PolicyStore
from policies.listing import TOKEN_STATUSES, TokenQuery
from policies.storage import schema

BASE = "/admin/tokens/"


def admin_app(store: PolicyStore, ws: str, tokens_per_page: int) -> Flask:
    app = Flask("bench_token_page")
    app.secret_key = "bench-secret-key-of-at-least-32-characters"
    admin = AdminIdentity("bench", "bench@example.test", (ws,))
    KeystileAdmin(
        store=store,
        current_admin=lambda: admin,
        mailer=SmtpMailer(SmtpConfig(sender="bench@example.test")),  # never sends here
        tokens_per_page=tokens_per_page,
    ).init_app(app, Admin(app, name="Bench"))
    return app


def timed(runs: int, action: Callable[[], int]) -> tuple[int, float, float]:
    """(bytes of the last answer, median ms, p95 ms) of ``runs`` calls after one warm-up."""
    size = action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        size = action()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return size, statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with bench_env() as env:
        store, ws = env.store, env.ws
        create_tokens(store, ws, args.tokens)
        victim = store.token_page(ws, TokenQuery(limit=1)).items[0]
        store.revoke_token(ws, victim.key_id, actor="bench")
        oldest = store.token_page(ws, TokenQuery(offset=args.tokens - 1, limit=1)).items[0]
        client = admin_app(store, ws, 50).test_client()
        everything = admin_app(store, ws, min(args.tokens, 1000)).test_client()

        def get(c: FlaskClient, url: str) -> Callable[[], int]:
            def call() -> int:
                answer = c.get(url)
                assert answer.status_code == 200, answer.status_code
                return len(answer.data)

            return call

        cases: list[tuple[str, Callable[[], int]]] = [
            (
                "store: one page of 50 (token_page)",
                lambda: len(store.token_page(ws, TokenQuery()).items),
            ),
            ("page, 50 tokens a page (the default)", get(client, BASE)),
            ("tokens panel, page 100", get(client, f"{BASE}panel/tokens?ws={ws}&tpage=100")),
            (
                "tokens panel, status revoked",
                get(client, f"{BASE}panel/tokens?ws={ws}&tstatus=revoked"),
            ),
            (
                "tokens panel, the oldest token by its key id",
                get(client, f"{BASE}panel/tokens?ws={ws}&tq={oldest.key_id[:12]}"),
            ),
            (
                "tokens panel, the oldest token by its name",
                get(client, f"{BASE}panel/tokens?ws={ws}&tq={oldest.name}"),
            ),
            (
                "tokens panel, active and 'bench' (every token: bounded)",
                get(client, f"{BASE}panel/tokens?ws={ws}&tq=bench&tstatus=active"),
            ),
            (
                f"page with {min(args.tokens, 1000):,} tokens a page (all at once, as before)",
                get(everything, BASE),
            ),
        ]
        print(f"{args.tokens:,} tokens in one workspace; {args.runs} runs each after a warm-up")
        print(f"{'what':62} {'bytes':>10} {'median ms':>10} {'p95 ms':>8}")
        for label, action in cases:
            size, median, p95 = timed(args.runs, action)
            shown = "-" if label.startswith("store") else f"{size:,}"
            print(f"{label:62} {shown:>10} {median:>10.1f} {p95:>8.1f}")
        filters = [schema.token_status(ws, status) for status in TOKEN_STATUSES]
        store.client.delete(*filters, schema.token_expiry(ws), schema.token_terms(ws))
        start = time.perf_counter()
        store.token_page(ws, TokenQuery(status="revoked"))
        built = (time.perf_counter() - start) * 1000
        print(
            f"first filtered read of a store from before the filters (builds them): {built:,.0f} ms"
        )


if __name__ == "__main__":
    main()
