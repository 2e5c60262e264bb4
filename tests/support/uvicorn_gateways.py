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


@contextlib.contextmanager
def run_gateways(
    count: int,
    redis_url: str,
    master_key: str,
    digest_secret: str,
    options: Mapping[str, object] | None = None,
) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "KEYSTILE_REDIS_URL": redis_url,
        "KEYSTILE_MASTER_KEYS": master_key,
        "KEYSTILE_DIGEST_SECRET": digest_secret,
        **{variable("gateway", name): str(value) for name, value in (options or {}).items()},
    }
    env.pop("KEYSTILE_CONFIG", None)
    ports = [free_port() for _ in range(count)]
    command = [sys.executable, "-m", "uvicorn", "--factory", "tests.support.server_app:create_app"]
    processes = [
        subprocess.Popen(
            [*command, "--port", str(port), "--log-level", "warning", "--lifespan", "on"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base, process in zip(bases, processes, strict=True):
            wait_until_serving(base, process)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
