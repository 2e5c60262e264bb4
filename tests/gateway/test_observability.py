"""Metrics and denial logs: what happened, by whom (workspace, key id), never the key."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gateway import LOGGER_NAME, KeyGateMiddleware
from policies import PolicyStore, Rule
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import call, http_scope
from tests.support.gateway import Factory

pytestmark = pytest.mark.anyio


def request(key: str | None, path: str = "/projects", method: str = "GET") -> dict[str, object]:
    headers = [] if key is None else [(b"authorization", f"Bearer {key}".encode())]
    return http_scope(path, method, headers)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_metrics(
    gate: KeyGateMiddleware,
    registry: CollectorRegistry,
    store: PolicyStore,
    workspace: CreatedWorkspace,
) -> None:
    ws = workspace.workspace_id
    store.add_rule(ws, Rule("projects", "create"), actor="test")
    assert await gate.invalidation.wait_version(ws, store.workspace(ws).version)
    pk = workspace.publishable_key
    for _ in range(3):
        assert (await call(gate, request(pk))).status == 200  # 1 miss, then 2 hits
    assert (await call(gate, request(pk, method="POST"))).status == 403  # a hit, denied
    assert (await call(gate, request(None))).status == 401
    assert (await call(gate, request("sk_nope"))).status == 401
    assert (await call(gate, request(None, "/health"))).status == 200

    decisions = "keystile_gateway_decisions_total"
    assert sample(registry, decisions, outcome="allowed", kind="publishable") == 3
    assert sample(registry, decisions, outcome="action_blocked", kind="publishable") == 1
    assert sample(registry, decisions, outcome="missing_key", kind="none") == 1
    assert sample(registry, decisions, outcome="invalid_key", kind="none") == 1
    assert sample(registry, decisions, outcome="exempt", kind="none") == 1
    assert sample(registry, "keystile_gateway_cache_total", result="hit") == 3
    assert sample(registry, "keystile_gateway_cache_total", result="miss") == 1
    assert sample(registry, "keystile_gateway_cache_entries") == 1
    assert sample(registry, "keystile_gateway_store_seconds_count", operation="lookup") == 1
    assert sample(registry, "keystile_gateway_invalidations_total", source="event") >= 1
    assert sample(registry, "keystile_gateway_subscribed") == 1

    # Hits survive their entry's eviction (folded into the totals).
    gate.cache.clear()
    assert sample(registry, decisions, outcome="allowed", kind="publishable") == 3
    assert sample(registry, "keystile_gateway_cache_total", result="hit") == 3
    assert sample(registry, "keystile_gateway_cache_entries") == 0

    exposition = generate_latest(registry).decode()
    assert pk[3:] not in exposition and ws not in exposition  # fixed, key-free labels


async def test_gateways_sharing_a_registry_add_up(
    make_gate: Factory, registry: CollectorRegistry, store: PolicyStore
) -> None:
    first, second = make_gate(), make_gate()  # no duplicate-metric error
    for gate in (first, second):
        assert (await call(gate, request(None))).status == 401
    assert (
        sample(registry, "keystile_gateway_decisions_total", outcome="missing_key", kind="none")
        == 2
    )
    await first.stop()
    await second.stop()


async def test_one_log_line_per_denial_without_key_material(
    gate: KeyGateMiddleware,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ws = workspace.workspace_id
    store.add_rule(ws, Rule("billing", "read"), actor="test")
    assert await gate.invalidation.wait_version(ws, store.workspace(ws).version)
    pk = workspace.publishable_key
    assert (await call(gate, request(pk))).status == 200  # cache it; allowed: no log line
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        assert (await call(gate, request(pk, "/billing"))).status == 403
        assert (
            await call(gate, request(pk[:-2] + ("zz" if pk[-2:] != "zz" else "yy")))
        ).status == 401
        assert (await call(gate, request(None))).status == 401
    denials = [r for r in caplog.records if getattr(r, "event", None) == "gateway.denied"]
    assert [r.reason for r in denials] == [  # type: ignore[attr-defined]
        "action_blocked",
        "invalid_key",
        "missing_key",
    ]
    blocked = denials[0]
    [entry] = gate.cache.entries()
    assert (blocked.workspace_id, blocked.key_id, blocked.action) == (  # type: ignore[attr-defined]
        ws,
        entry.key_id,
        "billing.read",
    )
    assert f"workspace={ws}" in blocked.getMessage()
    assert f"key_id={entry.key_id}" in blocked.getMessage()
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert pk[3:] not in text and pk[3:-2] not in text
