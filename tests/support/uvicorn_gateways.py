"""Gateway processes under uvicorn (:mod:`tests.support.server_app`), for the multi-process
tests: ``with run_gateways(2, redis_url, ...) as bases``.

Gateway options go in as ``KEYSTILE_GATEWAY_<OPTION>`` variables, the way a container is
configured.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from keystile.redis_server import free_port
from policies.environment import variable

ROOT = Path(__file__).resolve().parents[2]


def wait_until_serving(base: str, process: subprocess.Popen[str], seconds: float = 30) -> None:
    """Readiness: poll the exempt health route, bounded (uvicorn has no ready signal)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{base} did not come up")


class Gateways:
    """Gateway processes started (in parallel, each waited for) and stopped as a test needs:
    fresh ones, more mid-run (scale-out), one stopped and another started (a restart)."""

    def __init__(
        self,
        redis_url: str,
        master_key: str,
        digest_secret: str,
        options: Mapping[str, object] | None = None,
    ) -> None:
        self.env = {
            **os.environ,
            "KEYSTILE_REDIS_URL": redis_url,
            "KEYSTILE_MASTER_KEYS": master_key,
            "KEYSTILE_DIGEST_SECRET": digest_secret,
            **{variable("gateway", name): str(value) for name, value in (options or {}).items()},
        }
        self.env.pop("KEYSTILE_CONFIG", None)
        self.processes: dict[str, subprocess.Popen[str]] = {}

    def start(self, count: int) -> list[str]:
        """``count`` new processes, serving when this returns: their base URLs."""
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.support.server_app:create_app",
        ]
        started = {}
        for _ in range(count):
            port = free_port()
            started[f"http://127.0.0.1:{port}"] = subprocess.Popen(
                [*command, "--port", str(port), "--log-level", "warning", "--lifespan", "on"],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.processes.update(started)
        for base, process in started.items():
            wait_until_serving(base, process)
        return list(started)

    def stop(self, *bases: str) -> None:
        """Stop as a deployment does (SIGTERM: the lifespan's shutdown runs, a last sync)."""
        stopping = [self.processes.pop(base) for base in bases or list(self.processes)]
        for process in stopping:
            process.terminate()
        for process in stopping:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def run_gateways(
    count: int,
    redis_url: str,
    master_key: str,
    digest_secret: str,
    options: Mapping[str, object] | None = None,
) -> Iterator[list[str]]:
    gateways = Gateways(redis_url, master_key, digest_secret, options)
    try:
        yield gateways.start(count)
    finally:
        gateways.stop()
