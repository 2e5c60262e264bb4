"""Two gateway processes under uvicorn, one store: a rotation reaches both.

The test waits on the invalidation inside each process (``/_test/seen``, see
:mod:`tests.support.server_app`) with a generous bound; the benchmark issue measures the
exact delay.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from policies import PolicyStore
from policies.storage.values import CreatedWorkspace
from tests.support.uvicorn_gateways import run_gateways

# The websockets client logs handshake headers (the key!) at DEBUG: not ours to log.
QUIET = logging.getLogger("tests.gateway.websockets-client")
QUIET.setLevel(logging.INFO)
pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def gateways(
    redis_url: str, master_key: str, digest_secret: str, store: PolicyStore
) -> Iterator[list[str]]:
    with run_gateways(2, redis_url, master_key, digest_secret) as bases:
        yield bases


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
