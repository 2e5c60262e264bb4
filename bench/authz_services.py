"""Case 8's ``keystile authz`` processes: as installed with ``keystile[fast]`` (Granian) and
without it (uvicorn on h11 and asyncio), and the CPU time each one spends.

The CPU time (user + system, of the command and its worker processes) turns a load into
decisions per CPU-second: what one worker would serve with a core of its own, which other
processes on a shared machine take from the decisions per second but not from this.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.httpclient import HOST
from bench.setup import ROOT, BenchEnv

# The services and how they are labelled: as installed with keystile[fast], and without it.
SERVICES = {"authz": "Granian, keystile[fast]", "plain": "uvicorn h11, no extra"}
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
