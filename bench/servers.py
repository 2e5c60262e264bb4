"""uvicorn subprocesses for the HTTP cases: one worker each, on free loopback ports.

``async with uvicorn_servers(env, "gateway", 4) as servers`` starts them together (pinned
to ``cpus`` when given), waits until each answers ``GET /ready`` with 200 and stops them
all afterwards (SIGTERM, then SIGKILL). Their output goes to a log file in the bench's temp
folder, whose tail is shown if one fails to start. They die with the bench (Linux).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from bench.apps import READY
from bench.httpclient import HOST, wait_ready
from bench.setup import ROOT, BenchEnv
from keystile.redis_server import free_port

_PR_SET_PDEATHSIG = 1


def _child_setup(cpus: set[int] | None) -> Callable[[], None]:
    def setup() -> None:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)

    return setup


class Server:
    def __init__(self, factory: str, environ: dict[str, str], log: Path, cpus: set[int] | None):
        self.factory = factory
        self.port = free_port()
        self.log = log
        argv = [sys.executable, "-m", "uvicorn", "--factory", f"bench.apps:{factory}"]
        argv += ["--host", HOST, "--port", str(self.port), "--no-access-log"]
        argv += ["--log-level", "warning", "--lifespan", "on", "--loop", "asyncio"]
        with log.open("w") as out:
            self.process = subprocess.Popen(  # our own argv, no shell
                argv,
                cwd=ROOT,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_child_setup(cpus),
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 5) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log.read_text().strip().splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.asynccontextmanager
async def uvicorn_servers(
    env: BenchEnv,
    factory: str,
    count: int = 1,
    *,
    cpus: set[int] | None = None,
    redis_url: str | None = None,
    extra: dict[str, str] | None = None,
    timeout: float = 20.0,
) -> AsyncIterator[list[Server]]:
    environ = env.environ(redis_url, **(extra or {}))
    servers: list[Server] = []
    try:
        for i in range(count):
            log = env.tmp / f"uvicorn-{factory}-{i}-{len(list(env.tmp.glob('uvicorn-*')))}.log"
            servers.append(Server(factory, environ, log, cpus))
        ready = await asyncio.gather(*(wait_ready(s.port, READY, timeout) for s in servers))
        for server, ok in zip(servers, ready, strict=True):
            if not ok:
                raise RuntimeError(f"uvicorn {factory} did not become ready: {server.tail()}")
        yield servers
    finally:
        for server in servers:
            server.stop()
