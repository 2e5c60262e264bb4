"""Case 8's ``keystile authz`` processes: as installed with ``keystile[fast]`` (Granian) and
without it (uvicorn on h11 and asyncio), and the CPU time each one spends.

The CPU time (user + system, of the command and its worker processes) turns a load into
decisions per CPU-second: what one worker would serve with a core of its own, which other
processes on a shared machine take from the decisions per second but not from this.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.apps import PATH
from bench.httpclient import HOST
from bench.loadgen import LoadResult
from bench.setup import ROOT, BenchEnv

# The services and how they are labelled: as installed with keystile[fast], and without it.
SERVICES = {"authz": "Granian, keystile[fast]", "plain": "uvicorn h11, no extra"}
# Concurrent checks of the direct loads: the fronts' (and the docs' nginx keepalive), and one
# that saturates either server (Granian batches its hand-overs to Python as checks queue up).
DIRECT_CONNECTIONS = (32, 128)
CHECK = {"X-Original-Method": "GET", "X-Original-URI": PATH}
# `python -c` as the `keystile` script without the fast extra's modules.
WITHOUT_FAST = (
    "import sys\n"
    "for name in ('granian', 'uvloop', 'httptools'):\n"
    "    sys.modules[name] = None\n"
    "from keystile.cli import main\n"
    "main()\n"
)


def start_authz(
    env: BenchEnv, name: str, port: int, cpus: set[int] | None
) -> subprocess.Popen[bytes]:
    """The service ``name`` of :data:`SERVICES` on ``port`` (dialect nginx, one worker)."""
    environ = env.environ(
        KEYSTILE_AUTHZ_DIALECT="nginx", KEYSTILE_AUTHZ_TRUSTED_PROXIES="127.0.0.1/32"
    )
    script = ["-m", "keystile"] if name == "authz" else ["-c", WITHOUT_FAST]
    argv = [sys.executable, *script, "authz", "--host", HOST, "--port", str(port)]
    if cpus and shutil.which("taskset"):
        argv = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *argv]
    with log_file(env).open("ab") as log:
        return subprocess.Popen(  # our own argv, no shell
            argv, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def log_file(env: BenchEnv) -> Path:
    return env.tmp / "authz.log"


def tail(env: BenchEnv) -> str:
    return log_file(env).read_text(errors="replace")[-500:]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants so far (Linux; else nan)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return float("nan")
    ticks: dict[int, int] = {}
    parents: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # After the command's ")": state, ppid, ..., utime (12th), stime (13th).
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree = {pid}
    grew = True
    while grew:
        found = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


Load = Callable[..., LoadResult]
# (service, connections) -> per round: (the load's result, decisions per CPU-second)
Direct = dict[tuple[str, int], list[tuple[LoadResult, float]]]


def load_directly(
    load: Load, ports: dict[str, int], pids: dict[str, int], *, rounds: int, seconds: float
) -> Direct:
    """Each service loaded with checks, alternating, at each of :data:`DIRECT_CONNECTIONS`."""
    direct: Direct = {(name, c): [] for name in SERVICES for c in DIRECT_CONNECTIONS}
    for r in range(rounds):
        for connections in DIRECT_CONNECTIONS:
            for name in sorted(SERVICES, reverse=r % 2 == 1):
                before = cpu_seconds(pids[name])
                done = load(ports[name], seconds, "/_keystile", connections=connections, **CHECK)
                spent = cpu_seconds(pids[name]) - before
                per_cpu = done.requests / spent if spent > 0 else float("nan")
                direct[name, connections].append((done, per_cpu))
    return direct


def direct_rows(direct: Direct) -> list[tuple[str, str, str]]:
    """(metric, value, details) per service and concurrency, ratios to uvicorn h11's rounds."""
    rows = []
    for (name, connections), runs in direct.items():
        base = direct["plain", connections]
        rps = statistics.median(done.rps for done, _ in runs)
        cpu = statistics.median(per_cpu for _, per_cpu in runs)
        over = statistics.median(x.rps / b.rps for (x, _), (b, _) in zip(runs, base, strict=True))
        cpu_over = statistics.median(x / b for (_, x), (_, b) in zip(runs, base, strict=True))
        rows.append(
            (
                f"authz over HTTP, 1 worker, {SERVICES[name]}, {connections} connections: "
                "decisions/s; per CPU-second",
                f"{rps:,.0f} (x{over:.2f}); {cpu:,.0f} (x{cpu_over:.2f})",
                f"authz over HTTP, {SERVICES[name]}, {connections} connections: decisions/s "
                + ", ".join(f"{done.rps:,.0f}" for done, _ in runs)
                + "; per CPU-second "
                + ", ".join(f"{per_cpu:,.0f}" for _, per_cpu in runs)
                + f"; p50 / p99 {statistics.median(d.p50_ms for d, _ in runs):.2f} / "
                + f"{statistics.median(d.p99_ms for d, _ in runs):.2f} ms; "
                + f"{sum(d.errors for d, _ in runs)} errors",
            )
        )
    return rows
