"""Case 13: what allow-lists cost a cached key, in process (case 1's method).

Three variants through one gateway, with case 1's scope: the bare app, an unrestricted
token, and a token restricted to two scopes (the route's action among them) and a list of
CIDR ranges (the caller's among them), so every check runs and passes. Interleaved rounds
(the order rotates); a variant's cost is the median over rounds; the restricted token's
extra cost is the median over rounds of (restricted - unrestricted) of the same round.
"""

from __future__ import annotations

import statistics

from bench import apps
from bench.apps import gateway_app
from bench.inprocess import _timed, caller, make_scope
from bench.loadgen import quartiles
from bench.report import CaseResult
from bench.setup import ACTOR, BenchEnv

NAME = "13 restricted key"
TARGET_EXTRA_US = 0.5
SCOPES = ["projects.list", "billing:read"]
NETWORKS = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "2001:db8::/32",
    "127.0.0.0/8",  # the bench's caller (make_scope: 127.0.0.1)
    "203.0.113.0/24",
]


async def run(env: BenchEnv, *, rounds: int, per_round: int) -> CaseResult:
    result = CaseResult(NAME)
    plain = env.store.create_token(env.ws, "bench plain", actor=ACTOR).token
    restricted = env.store.create_token(
        env.ws, "bench restricted", actor=ACTOR, scopes=SCOPES, networks=NETWORKS
    ).token
    gate, gated = gateway_app(env.settings, env.catalog)
    await gate.start()
    try:
        assert await gate.invalidation.wait_subscribed(10), "gateway did not subscribe"
        calls = {
            "a bare": caller(apps.bare(), make_scope(plain)),
            "b token": caller(gated, make_scope(plain)),
            "c restricted token": caller(gated, make_scope(restricted)),
        }
        for name, call in calls.items():  # warm up: caches, the key lookups
            statuses = {await call() for _ in range(200)}
            if statuses != {200}:
                raise RuntimeError(f"{name} answered {statuses}, expected 200")
        outside = caller(gated, {**make_scope(restricted), "client": ("198.51.100.1", 1)})
        if await outside() != 403:
            raise RuntimeError("the restricted token was not refused outside its networks")
        names = list(calls)
        samples: dict[str, list[float]] = {name: [] for name in names}
        for r in range(rounds):
            for name in names[r % 3 :] + names[: r % 3]:
                samples[name].append(await _timed(calls[name], per_round))
    finally:
        await gate.stop()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    extra = [c - b for b, c in zip(samples["b token"], samples["c restricted token"], strict=True)]
    delta = statistics.median(extra)
    low, high = quartiles(extra)
    for name in names:
        result.row(f"{name}: us/request", f"{medians[name]:.2f}")
    result.row(
        "restricted - unrestricted: us/request",
        f"{delta:+.2f}",
        f"<= +{TARGET_EXTRA_US} us",
        delta <= TARGET_EXTRA_US,
    )
    result.details.append(
        f"{rounds} interleaved rounds of {per_round} calls; the restricted token has "
        f"{len(SCOPES)} scopes and {len(NETWORKS)} CIDR ranges; extra cost per round "
        f"(restricted - unrestricted) median {delta:+.3f} us, interquartile "
        f"{low:+.3f}-{high:+.3f} us"
    )
    return result
