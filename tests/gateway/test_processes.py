"""Two gateway processes under uvicorn, one store: a rotation reaches both.

The test waits on the invalidation inside each process (``/_test/seen``, see
:mod:`tests.gateway.server_app`) with a generous bound; the benchmark issue measures the
exact delay.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from keystile.redis_server import free_port
from policies import PolicyStore
from policies.records import CreatedWorkspace

ROOT = Path(__file__).resolve().parents[2]
# The websockets client logs handshake headers (the key!) at DEBUG: not ours to log.
QUIET = logging.getLogger("tests.gateway.websockets-client")
QUIET.setLevel(logging.INFO)
pytestmark = [pytest.mark.anyio, pytest.mark.slow]


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


@pytest.fixture
def gateways(
    redis_url: str, master_key: str, digest_secret: str, store: PolicyStore
) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "KEYSTILE_REDIS_URL": redis_url,
        "KEYSTILE_MASTER_KEYS": master_key,
        "KEYSTILE_DIGEST_SECRET": digest_secret,
    }
    env.pop("KEYSTILE_CONFIG", None)
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.gateway.server_app:create_app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--lifespan",
                "on",
            ],
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


async def test_rotation_reaches_both_processes(
    gateways: list[str], store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    old = {"Authorization": f"Bearer {workspace.publishable_key}"}
    async with httpx.AsyncClient(timeout=15) as http:
        for base in gateways:  # both have the old key cached
            for _ in range(3):
                assert (await http.get(f"{base}/projects", headers=old)).status_code == 200

        new_key = store.rotate_publishable_key(ws, actor="test")
        version = store.workspace(ws).version
        started = time.monotonic()
        pids = set()
        for base in gateways:
            seen = await http.get(
                f"{base}/_test/seen", params={"workspace": ws, "version": version, "timeout": 10}
            )
            assert seen.json()["seen"] is True
            pids.add(seen.json()["pid"])
        assert len(pids) == 2  # two processes, each told by the event
        assert time.monotonic() - started < 10

        new = {"Authorization": f"Bearer {new_key}"}
        for base in gateways:  # right after: the first request already refuses
            refused = await http.get(f"{base}/projects", headers=old)
            assert refused.status_code == 401
            assert refused.json()["code"] == "invalid_key"
            assert (await http.get(f"{base}/projects", headers=new)).status_code == 200


async def test_websockets_under_uvicorn(gateways: list[str], workspace: CreatedWorkspace) -> None:
    url = gateways[0].replace("http://", "ws://") + "/events"
    headers = {"Authorization": f"Bearer {workspace.sdk_key}"}
    async with connect(url, additional_headers=headers, logger=QUIET) as socket:
        caller = json.loads(await socket.recv())
    assert caller["workspace_id"] == workspace.workspace_id
    assert caller["action"] == "events.stream"
    # Closed before accept: uvicorn turns that into a refused handshake.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, logger=QUIET):
            pass
    assert refused.value.response.status_code == 403
