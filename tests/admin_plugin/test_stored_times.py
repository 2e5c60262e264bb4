"""Issue 11.4: a far-future expiry is refused on input, and any stored time renders."""

from __future__ import annotations

import json

import redis

from policies import PolicyStore, schema
from policies.records import CreatedWorkspace
from tests.admin_plugin.support import Api


def test_a_far_future_expiry_is_refused_on_input(api: Api, store: PolicyStore) -> None:
    response = api.post("api/tokens", {"name": "ci", "expires_at": "9999-12-31T23:59:59-14:00"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "3650 days" in json.dumps(response.get_json())


def test_the_page_and_panels_render_any_stored_time(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    kid = store.create_token(ws, "ci", actor="t").info.key_id
    raw = json.loads(redis_client.hget(schema.tokens(ws), kid) or "{}")
    raw["expires"] = 253402300799 + 14 * 3600  # what an older version accepted
    redis_client.hset(schema.tokens(ws), kid, json.dumps(raw))
    redis_client.hset(schema.last_used(ws), kid, "1e300")
    assert api.page().status_code == 200
    panel = api.get("panel/tokens")
    assert panel.status_code == 200 and "after 9999" in panel.get_data(as_text=True)
    assert api.get("panel/audit").status_code == 200
    store.revoke_token(ws, kid, actor="t")  # and revoking it works too
    assert api.get("panel/tokens").status_code == 200
