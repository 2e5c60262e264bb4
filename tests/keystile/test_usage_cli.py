"""``keystile usage`` and ``keystile rules add --dry-run``, over counts a real gateway flushed."""

from __future__ import annotations

import json

import httpx
import pytest
import redis
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware, catalog_from_app
from policies import PolicyStore, Rule, Settings
from policies.keys.crypto import Keyring
from tests.support.apps import starlette_app
from tests.support.cli import cli

pytestmark = pytest.mark.anyio


async def traffic(settings: Settings, key: str, token: str) -> None:
    """Through a real gateway: 6 allowed and 2 refused for the publishable key, 3 for a
    token; then its flush on stop."""
    gate = KeyGateMiddleware(starlette_app(), settings=settings, registry=CollectorRegistry())
    await gate.start()
    try:
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            pk = {"Authorization": f"Bearer {key}"}
            for n in range(6):
                origin = {"Origin": "https://shop.example"} if n < 4 else {}
                assert (await http.get("/projects", headers={**pk, **origin})).status_code == 200
            for _ in range(2):
                assert (await http.get("/reports/export", headers=pk)).status_code == 403
            for _ in range(3):
                answer = await http.get("/billing", headers={"X-API-Key": token})
                assert answer.status_code == 200
    finally:
        await gate.stop()


async def test_usage_tables_json_and_dry_run(
    env: dict[str, str], redis_client: redis.Redis, master_key: str, digest_secret: str
) -> None:
    settings = Settings(env["KEYSTILE_REDIS_URL"], (master_key,), digest_secret)
    store = PolicyStore(redis_client, Keyring([master_key], digest_secret))
    store.save_catalog(catalog_from_app(starlette_app()))
    created = store.create_workspace("Acme", actor="test")
    ws = created.workspace_id
    store.add_rule(ws, Rule("reports", "export"), actor="test")
    token = store.create_token(ws, "ci", actor="test")
    await traffic(settings, created.publishable_key, token.token)

    by_outcome = cli(env, "usage", ws, "--key", "publishable", "--since", "1h")
    assert by_outcome.exit_code == 0, by_outcome.output
    total = by_outcome.output.splitlines()[-1].split()
    assert total == ["total", "6", "2"]
    assert by_outcome.output.splitlines()[0].split()[-2:] == ["allowed", "action_blocked"]
    by_action = cli(env, "usage", ws, "--by", "action").output.splitlines()
    assert by_action[1].split() == ["projects.list", "6", "6", "0"]
    assert by_action[2].split() == ["billing.read", "3", "3", "0"]
    assert by_action[3].split() == ["reports.export", "2", "0", "2"]
    by_origin = cli(env, "usage", ws, "--key", "publishable", "--by", "origin").output
    assert by_origin.splitlines()[1:] == ["https://shop.example  4", "(no origin)           2"]
    document = json.loads(cli(env, "usage", ws, "--key", token.info.key_id, "--json").output)
    assert document["totals"] == {"allowed": 3}
    assert document["actions"] == {"billing.read": {"allowed": 3}}

    dry = cli(env, "rules", "add", ws, "projects", "*", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "24h: it would have refused 6 request(s)" in dry.output
    assert "(origins: https://shop.example 4, (no origin) 2)" in dry.output
    assert "projects:*" not in {str(r) for r in store.list_rules(ws)}  # nothing saved

    for args, message in [
        (["usage", ws, "--key", "nope"], "no token with id 'nope'"),
        (["usage", ws, "--since", "500d"], "--since must be between"),
        (["usage", ws, "--since", "soon"], "is not a duration"),
        (["usage", "ws_AAAAAAAAAAAA"], "ws_AAAAAAAAAAAA"),
        (["rules", "add", ws, "nosuch", "x", "--dry-run"], "nosuch"),
    ]:
        result = cli(env, *args)
        assert result.exit_code == 1 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
