"""Case 8: a non-Python API behind nginx + ``auth_request`` + ``keystile authz``.

One nginx (one worker) serves five things on free loopback ports: the upstream (fixed
``200 ok``), the API through nginx alone, the API through the documented ``auth_request``
config (``docs/proxies.md``) asking ``keystile authz`` (the real command, one worker,
dialect ``nginx``: under Granian, as installed with ``keystile[fast]``), the same config
asking ``keystile authz`` as installed without that extra (uvicorn on h11 and asyncio: the
fast extra's modules unimportable in its process), and the first config with
``proxy_cache`` on the auth location (answers kept 1 s per key, method, host and URI).
nginx and both services share the server cores, the load generator and Redis the others.
Each round loads the fronts for the same duration in a rotating order with the same client
(wrk, else the Python one); numbers are medians over rounds, ratios medians of per-round
ratios to nginx alone.

Then each service's own capacity: its decisions per second loaded directly over HTTP (one
worker, so one core; alternating, with 32 and with 128 connections), the same per
CPU-second the service spent (what other processes on a shared machine cannot take from
it), and in-process (the ASGI app called in a loop, no HTTP), all with a cached publishable
key on a catalogued route whose workspace has a blacklist rule
(:mod:`bench.authz_services`).
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from collections.abc import Callable

import httpx

from bench.apps import PATH
from bench.authz_inprocess import decisions_in_process
from bench.authz_services import (
    DIRECT_CONNECTIONS,
    SERVICES,
    direct_rows,
    load_directly,
    start_authz,
    tail,
)
from bench.httpclient import HOST, wait_ready
from bench.loadgen import LoadResult, run_python, run_wrk, wrk_path
from bench.nginx import DOC_AUTHZ, DOC_UPSTREAM, run_nginx, snippet
from bench.report import CaseResult
from bench.setup import BenchEnv, cpu_plan, pinned
from keystile.redis_server import free_port

NAME = "8 authz behind nginx"
CONNECTIONS = 32
MAX_REQUESTS = 2_000_000
# Everything the decision depends on: the key, the request, the origin, the upgrade.
CACHE_KEY = "|".join(
    "$" + name
    for name in (
        "http_authorization", "http_x_api_key", "request_method", "host", "request_uri",
        "http_origin", "http_referer", "http_upgrade",
    )
)  # fmt: skip
CACHE = f"""
        proxy_cache keystile_auth;
        proxy_cache_key "{CACHE_KEY}";
        proxy_cache_valid 200 401 403 1s;
        proxy_ignore_headers Cache-Control Expires;
"""
FRONTS = ("alone", "authz", "plain", "cached")
LABELS = {
    "alone": "a nginx alone",
    "authz": "b nginx + auth_request + authz (Granian, keystile[fast])",
    "plain": "b' b with authz under uvicorn (no keystile[fast])",
    "cached": "c b + proxy_cache 1 s on the auth location",
}
Runner = Callable[..., LoadResult]


def servers(ports: dict[str, int], authz: dict[str, int], folder: str) -> str:
    """The nginx config: upstream, alone, the docs' front (one per service), the docs' front
    with the cache."""
    docs = snippet("nginx").replace(DOC_AUTHZ, f"{HOST}:{authz['authz']}")
    docs = docs.replace(DOC_UPSTREAM, f"{HOST}:{ports['upstream']}")
    front = docs.replace("listen 8000;", f"listen {HOST}:{ports['authz']};")
    server = docs[docs.index("server {") :]  # the upstream blocks are declared once
    plain = server.replace("listen 8000;", f"listen {HOST}:{ports['plain']};")
    plain = plain.replace("http://keystile_authz", "http://keystile_authz_plain")
    plain = (
        f"upstream keystile_authz_plain {{ server {HOST}:{authz['plain']}; keepalive 32; }}\n"
        + plain
    )
    cached = server.replace("listen 8000;", f"listen {HOST}:{ports['cached']};")
    cached = cached.replace("location = /_keystile {", "location = /_keystile {" + CACHE)
    return f"""
    proxy_cache_path {folder}/auth-cache keys_zone=keystile_auth:10m levels=1:2 inactive=60s;
    server {{
        listen {HOST}:{ports["upstream"]};
        location / {{ return 200 "ok\\n"; }}
    }}
    server {{
        listen {HOST}:{ports["alone"]};
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://api;
        }}
    }}
{front}
{plain}
{cached}
"""


async def run(env: BenchEnv, *, rounds: int, seconds: float, loadgen: str = "auto") -> CaseResult:
    result = CaseResult(NAME)
    if shutil.which("nginx") is None:
        return result.row("skipped", "nginx is not installed (apt-get install nginx)")
    server_cpus, load_cpus = cpu_plan()
    use_wrk = loadgen == "wrk" or (loadgen == "auto" and wrk_path() is not None)
    runner: Runner = run_wrk if use_wrk else run_python
    key = {"X-Api-Key": env.publishable_key()}
    ports = {name: free_port() for name in ("upstream", *FRONTS)}
    services = {name: free_port() for name in SERVICES}
    processes = {name: start_authz(env, name, port, server_cpus) for name, port in services.items()}
    try:
        for name, port in services.items():  # a check without headers: 400
            if not await wait_ready(port, "/", 30, expect=400):
                raise RuntimeError(f"keystile authz ({SERVICES[name]}) did not start: {tail(env)}")
        nginx_servers = servers(ports, services, str(env.tmp))
        with run_nginx(env.tmp / "nginx", nginx_servers, list(ports.values()), cpus=server_cpus):

            def load(
                port: int,
                duration: float,
                path: str = PATH,
                connections: int = CONNECTIONS,
                **extra: str,
            ) -> LoadResult:
                return runner(
                    port, path, {**key, **extra}, connections=connections, duration=duration,
                    max_requests=MAX_REQUESTS, cpus=load_cpus,
                )  # fmt: skip

            runs: dict[str, list[LoadResult]] = {front: [] for front in FRONTS}
            for front in FRONTS:  # warm-up: connections, the key cache, nginx's cache
                warm = load(ports[front], 1.0)
                if warm.errors:
                    raise RuntimeError(f"{front}: {warm.errors} errors during warm-up")
            for r in range(rounds):
                turn = r % len(FRONTS)
                for front in FRONTS[turn:] + FRONTS[:turn]:
                    runs[front].append(load(ports[front], seconds))
            pids = {name: process.pid for name, process in processes.items()}
            direct = load_directly(load, services, pids, rounds=rounds, seconds=seconds)
            revoked = await revocation(env, key, ports["authz"], ports["cached"])
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(10)
    # nginx writes each cache entry's key, as text, into its file: the API key on disk.
    secret = key["X-Api-Key"].encode()
    cache_files = [f for f in (env.tmp / "auth-cache").rglob("*") if f.is_file()]
    on_disk = sum(secret in f.read_bytes() for f in cache_files)
    with pinned(server_cpus and {min(server_cpus)}):
        in_process = await decisions_in_process(env, 20_000 if env.quick else 200_000)

    def ratio(front: str) -> float:
        pairs = zip(runs[front], runs["alone"], strict=True)
        return statistics.median(x.rps / a.rps for x, a in pairs)

    for front in FRONTS:
        rps = statistics.median(x.rps for x in runs[front])
        p50 = statistics.median(x.p50_ms for x in runs[front])
        p99 = statistics.median(x.p99_ms for x in runs[front])
        result.row(f"{LABELS[front]}: req/s", f"{rps:,.0f} (x{ratio(front):.3f})")
        result.details.append(
            f"{LABELS[front]}: req/s per round "
            + ", ".join(f"{x.rps:,.0f}" for x in runs[front])
            + f"; p50 / p99 {p50:.2f} / {p99:.2f} ms; "
            + f"{sum(x.errors for x in runs[front])} errors"
        )
    result.details.append(
        f"{LABELS['cached']}: {on_disk} of {len(cache_files)} cache files hold the API key in "
        "plain text (nginx writes the cache key into each file)"
    )
    result.row(
        "revoked key refused after (b / c)",
        f"{revoked['authz'] * 1e3:.0f} / {revoked['cached'] * 1e3:.0f} ms",
    )
    for metric, value, details in direct_rows(direct):
        result.row(metric, value)
        result.details.append(details)
    result.row("authz in-process (no HTTP): decisions/s per core", f"{in_process:,.0f}")
    result.details.append(
        f"load generator: {runs['alone'][0].tool}, 1 thread, {CONNECTIONS} connections (the "
        f"direct loads: also {DIRECT_CONNECTIONS[-1]}), {rounds} rounds x {seconds:g} s per front "
        "and per service (rotating order); the ratios of the direct loads: to uvicorn h11's "
        "rounds; nginx "
        f"(1 worker) and both keystile authz services (1 worker each) on cores "
        f"{sorted(server_cpus or [])}, the load generator and Redis on {sorted(load_cpus or [])}"
    )
    return result


async def revocation(
    env: BenchEnv, key: dict[str, str], *fronts: int, limit: float = 10.0
) -> dict[str, float]:
    """Rotate the publishable key (just used, so cached everywhere); seconds until each
    front refuses it (polled every 5 ms: the cache's expiry sends no event)."""
    paths = {port: f"http://{HOST}:{port}{PATH}" for port in fronts}
    async with httpx.AsyncClient() as client:
        for url in paths.values():
            (await client.get(url, headers=key)).raise_for_status()
        started = time.perf_counter()
        env.store.rotate_publishable_key(env.ws, actor="bench")
        seen: dict[int, float] = {}
        while len(seen) < len(fronts) and time.perf_counter() - started < limit:
            for port, url in paths.items():
                if port not in seen and (await client.get(url, headers=key)).status_code == 401:
                    seen[port] = time.perf_counter() - started
            await asyncio.sleep(0.005)
    names = dict(zip(fronts, ("authz", "cached"), strict=True))
    return {names[port]: seen.get(port, float("inf")) for port in fronts}
