"""Case 3: how long a rotated publishable key keeps working on 4 gateway processes.

Four uvicorn gateway processes (one worker each) connect as their own Redis ACL user.
A trial warms the current key on every process (200), starts one poller per process that
sends the old key in a loop, rotates the key with ``PolicyStore.rotate_publishable_key``
(in a thread, so the pollers keep going) and records when each poller first gets 401.
The trial's time is the last process's refusal minus the rotate call's return (also
reported from just before the call). Three modes:

* ``pubsub``: normal operation; the invalidation event evicts the key.
* ``killed``: ``CLIENT KILL TYPE pubsub`` right before the rotation: the event is lost;
  the gateway reconnects, and a re-subscription clears its cache.
* ``down``: the gateways' ACL user loses ``SUBSCRIBE`` and the subscriptions are killed,
  so they cannot come back: only the periodic version check (``check_interval``) catches
  the change. Trials start after a random delay (uniform over one interval) so that they
  sample every phase of the check, and run in parallel lanes, one workspace each; pollers
  pause 2 ms between requests.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.apps import PATH, READY
from bench.httpclient import Connection, bearer, request_bytes, wait_ready
from bench.loadgen import percentile
from bench.report import CaseResult
from bench.servers import Server, uvicorn_servers
from bench.setup import ACTOR, BenchEnv

NAME = "3 propagation"
GATEWAYS = 4
USER = "keystile-gateway"
TARGET_PUBSUB_P99_MS = 10.0
TARGET_DOWN_MAX_MS = 1000.0


@dataclass
class Times:
    after: list[float] = field(default_factory=list)  # ms from the rotate call's return
    before: list[float] = field(default_factory=list)  # ms from just before the call
    timeouts: int = 0

    def summary(self, values: list[float]) -> str:
        if not values:
            return "no trial finished"
        return f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f} / {max(values):.1f}"


class Lane:
    """One workspace and one connection to each gateway: trials run one after another."""

    def __init__(self, env: BenchEnv, ws: str, conns: list[Connection]) -> None:
        self.env = env
        self.ws = ws
        self.conns = conns
        self.key = env.store.publishable_key(ws)

    def rotate(self, before: Callable[[], None] | None) -> tuple[str, float, float]:
        if before is not None:
            before()
        started = time.perf_counter()
        key = self.env.store.rotate_publishable_key(self.ws, actor=ACTOR)
        return key, started, time.perf_counter()

    async def warm(self) -> None:
        request = request_bytes(PATH, bearer(self.key))
        for conn in self.conns:
            if await conn.status(request) != 200:
                raise RuntimeError("a gateway refused the current key before the rotation")

    async def trial(
        self, times: Times, limit: float, pause: float, before: Callable[[], None] | None = None
    ) -> None:
        await self.warm()
        old = request_bytes(PATH, bearer(self.key))
        refused = [float("inf")] * len(self.conns)
        deadline = time.perf_counter() + limit

        async def poll(i: int, conn: Connection) -> None:
            while time.perf_counter() < deadline:
                status = await conn.status(old)
                if status == 401:
                    refused[i] = time.perf_counter()
                    return
                if status != 200:
                    raise RuntimeError(f"gateway answered {status} to the old key")
                if pause:
                    await asyncio.sleep(pause)

        pollers = [asyncio.create_task(poll(i, c)) for i, c in enumerate(self.conns)]
        await asyncio.sleep(0)  # the pollers' first requests are on their way
        self.key, started, returned = await asyncio.to_thread(self.rotate, before)
        await asyncio.gather(*pollers)
        last = max(refused)
        if last == float("inf"):
            times.timeouts += 1
            return
        times.after.append((last - returned) * 1e3)
        times.before.append((last - started) * 1e3)


async def _all_ready(servers: list[Server], expect: int, timeout: float = 15.0) -> None:
    ok = await asyncio.gather(*(wait_ready(s.port, READY, timeout, expect) for s in servers))
    if not all(ok):
        raise RuntimeError(f"gateways did not reach /ready {expect} within {timeout:g} s")


async def run(
    env: BenchEnv,
    *,
    trials: int,
    killed_trials: int,
    lanes: int,
    check_interval: float | None,
    options: dict[str, Any] | None = None,
) -> CaseResult:
    result = CaseResult(NAME)
    password = secrets.token_hex(16)
    env.client.acl_setuser(
        USER, enabled=True, reset=True, passwords=[f"+{password}"], keys=["*"],
        channels=["*"], categories=["+@all"],
    )  # fmt: skip
    url = f"redis://{USER}:{password}@127.0.0.1:{env.server.port}/0"
    extra = {
        "BENCH_CHECK_INTERVAL": "" if check_interval is None else repr(check_interval),
        "BENCH_GATEWAY_OPTIONS": json.dumps(options or {}),
    }
    modes = {"pubsub": Times(), "killed": Times(), "down": Times()}
    async with uvicorn_servers(env, "gateway", GATEWAYS, redis_url=url, extra=extra) as servers:
        conns = [[await Connection.open(s.port) for s in servers] for _ in range(lanes)]
        # Measure, don't assume: the interval the processes actually run with.
        _, body = await conns[0][0].send(request_bytes(READY))
        interval = float(json.loads(body)["check_interval"])
        workspaces = [env.ws] + [
            env.new_workspace(f"Lane {i}").workspace_id for i in range(1, lanes)
        ]
        all_lanes = [Lane(env, ws, c) for ws, c in zip(workspaces, conns, strict=True)]
        first = all_lanes[0]

        for _ in range(trials):
            await first.trial(modes["pubsub"], 2.0, 0.0)

        def kill() -> None:
            env.client.client_kill_filter(_type="pubsub")

        for _ in range(killed_trials):
            await _all_ready(servers, 200)
            await first.trial(modes["killed"], 3.0, 0.0, kill)

        env.client.acl_setuser(USER, enabled=True, commands=["-subscribe", "-psubscribe"])
        kill()
        await _all_ready(servers, 503)

        async def lane_trials(lane: Lane, count: int) -> None:
            for _ in range(count):
                await asyncio.sleep(random.uniform(0, interval))
                await lane.trial(modes["down"], 2 * interval + 2.0, 0.002)

        share = [trials // lanes + (i < trials % lanes) for i in range(lanes)]
        await asyncio.gather(
            *(lane_trials(lane, n) for lane, n in zip(all_lanes, share, strict=True))
        )
        env.client.acl_setuser(USER, enabled=True, commands=["+subscribe", "+psubscribe"])
        await _all_ready(servers, 200)
        for lane_conns in conns:
            for conn in lane_conns:
                await conn.close()

    pubsub, killed, down = modes["pubsub"], modes["killed"], modes["down"]
    p99 = percentile(pubsub.after, 99) if pubsub.after else float("inf")
    worst = max(down.after, default=float("inf"))
    result.row(
        f"pub/sub, p50/p99/max ms ({len(pubsub.after)} trials)",
        pubsub.summary(pubsub.after),
        "p99 <= 10 ms",
        p99 <= TARGET_PUBSUB_P99_MS and not pubsub.timeouts,
    )
    result.row(
        f"subscription killed, reconnects: p50/p99/max ms ({len(killed.after)})",
        killed.summary(killed.after),
    )
    result.row(
        f"no pub/sub (version check only): p50/p99/max ms ({len(down.after)})",
        down.summary(down.after),
        "max <= 1000 ms",
        worst <= TARGET_DOWN_MAX_MS and not down.timeouts,
    )
    for label, times in (("pub/sub", pubsub), ("killed", killed), ("no pub/sub", down)):
        result.details.append(
            f"{label}: from the rotate call's return p50/p99/max {times.summary(times.after)} ms;"
            f" from before the call {times.summary(times.before)} ms; {times.timeouts} timeouts"
        )
    result.details.append(
        f"{GATEWAYS} uvicorn gateway processes, check_interval={interval:g} s"
        + (" (the gateway's default)" if check_interval is None else "")
        + (f", options {json.dumps(options)}" if options else "")
        + "; each "
        "refusal is the arrival of the first 401, so times include one poll round trip; "
        f"no-pub/sub trials in {lanes} parallel lanes (one workspace each), random start phase"
    )
    return result
