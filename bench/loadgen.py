"""Load generators: wrk where installed, else a Python asyncio client (same numbers out).

Both are bounded in seconds and in requests. wrk gets ``-t1 -cN -dS --latency`` and a Lua
script that stops it after the request budget; the Python client runs ``connections``
keep-alive connections in one process (``python -m bench.loadgen``, so it can be pinned to
its own core like wrk) and measures every request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.httpclient import HOST, Connection, request_bytes
from bench.setup import ROOT

WRK_STOP = """
local count = 0
local limit = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")
function response(status, headers, body)
  count = count + 1
  if limit > 0 and count >= limit then wrk.thread:stop() end
end
"""


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    errors: int  # non-2xx answers and socket errors
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def quartiles(values: list[float]) -> tuple[float, float]:
    """(25th, 75th) percentiles: the spread that medians hide."""
    return percentile(values, 25), percentile(values, 75)


def wrk_path() -> str | None:
    return shutil.which("wrk")


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT[unit]


def parse_wrk(output: str) -> LoadResult:
    """wrk 4.x ``--latency`` output to a :class:`LoadResult`."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if done is None:
        raise RuntimeError(f"unexpected wrk output: {output[-300:]!r}")
    seconds = float(done.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[done.group(3)]
    p50 = re.search(r"50%\s+([\d.]+(?:us|ms|s))", output)
    p99 = re.search(r"99%\s+([\d.]+(?:us|ms|s))", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket:
        errors += sum(int(g) for g in socket.groups())
    return LoadResult(
        "wrk",
        int(done.group(1)),
        seconds,
        errors,
        _ms(p50.group(1)) if p50 else float("nan"),
        _ms(p99.group(1)) if p99 else float("nan"),
    )


def run_wrk(
    port: int, path: str, headers: dict[str, str], *, connections: int, duration: float,
    max_requests: int, cpus: set[int] | None,
) -> LoadResult:  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_STOP)
    argv = [wrk_path() or "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s"]
    argv += ["--latency", "--timeout", "2s", "-s", script.name]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(f"http://{HOST}:{port}{path}")
    if cpus and shutil.which("taskset"):
        argv = [shutil.which("taskset") or "taskset", "-c", ",".join(map(str, sorted(cpus))), *argv]
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=duration + 15, check=True,
            env={**os.environ, "BENCH_MAX_REQUESTS": str(max_requests)},
        )  # fmt: skip
    finally:
        Path(script.name).unlink(missing_ok=True)
    return parse_wrk(out.stdout)


async def python_load(
    port: int, request: bytes, *, connections: int, duration: float, max_requests: int
) -> LoadResult:
    latencies: list[float] = []
    budget = [max_requests]
    errors = [0]
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        conn = await Connection.open(port)
        try:
            while budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                started = time.perf_counter()
                status, _ = await conn.send(request)
                latencies.append(time.perf_counter() - started)
                if status >= 300:
                    errors[0] += 1
        except (OSError, asyncio.IncompleteReadError):
            errors[0] += 1
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(connections))), duration + 10)
    seconds = time.perf_counter() - started
    ms = [x * 1e3 for x in latencies]
    return LoadResult("python", len(ms), seconds, errors[0], percentile(ms, 50), percentile(ms, 99))


def run_python(
    port: int, path: str, headers: dict[str, str], *, connections: int, duration: float,
    max_requests: int, cpus: set[int] | None,
) -> LoadResult:  # fmt: skip
    """The Python client in its own process (pinned to ``cpus``), like wrk."""
    argv = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--path", path]
    argv += ["--connections", str(connections), "--duration", str(duration)]
    argv += ["--max-requests", str(max_requests)]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    if cpus and shutil.which("taskset"):
        argv = [shutil.which("taskset") or "taskset", "-c", ",".join(map(str, sorted(cpus))), *argv]
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration + 20, check=True, cwd=ROOT
    )
    return LoadResult(**json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description="bounded HTTP load on loopback")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=100_000)
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    result = asyncio.run(
        python_load(
            args.port,
            request_bytes(args.path, headers),
            connections=args.connections,
            duration=args.duration,
            max_requests=args.max_requests,
        )
    )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
