"""A defect is not an outage: a store error reply that does not mean "Redis is away" is a
500 problem, logged once with its traceback and counted, never a 503 with Retry-After."""

from __future__ import annotations

import logging

import httpx
import pytest
import redis
from prometheus_client import CollectorRegistry

from policies import PolicyStore
from policies.storage.values import CreatedWorkspace
from tests.support.gateway import Factory, bearer

pytestmark = pytest.mark.anyio


async def test_a_damaged_record_is_a_500_logged_once_not_a_503(
    make_gate: Factory,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ws = workspace.workspace_id
    redis_client.delete(f"ks:{{{ws}}}:keys")
    redis_client.set(f"ks:{{{ws}}}:keys", "damaged by hand")  # the lookup's HGET: WRONGTYPE
    gate = make_gate()
    caplog.set_level(logging.INFO, logger="keystile.gateway")
    transport = httpx.ASGITransport(app=gate)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/projects", headers=bearer(workspace.sdk_key))
    await gate.stop()
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in answer.headers
    body = answer.json()
    assert body["code"] == "internal_error" and "WRONGTYPE" not in answer.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "WRONGTYPE" in str(errors[0].exc_info[1])
    counted = registry.get_sample_value(
        "keystile_gateway_internal_errors_total", {"operation": "lookup"}
    )
    assert counted == 1.0
