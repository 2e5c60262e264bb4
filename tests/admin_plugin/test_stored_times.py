"""Issue 11.4: a far-future expiry is refused on input, and any stored time renders; and
the admin's start-up check of the digest secret (issue 17.5)."""

from __future__ import annotations

import json

import pytest
import redis
from flask import Flask

from admin_plugin import SmtpMailer
from policies import ConfigError, Keyring, PolicyStore
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from tests.support.admin import Api, Inbox, Who, make_host_app


def test_a_far_future_expiry_is_refused_on_input(api: Api, inbox: Inbox) -> None:
    """Refused by the form check, with the store's own bound, before a code is mailed."""
    response = api.post("api/tokens", {"name": "ci", "expires_at": "9999-12-31T23:59:59-14:00"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "3650 days" in json.dumps(response.get_json())
    assert inbox.is_empty()


def test_the_page_and_panels_render_any_stored_time(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    kid = store.create_token(ws, "ci", actor="t").info.key_id
    raw = json.loads(redis_client.hget(schema.tokens(ws), kid) or "{}")
    raw["expires"] = 253402300799 + 14 * 3600  # what an older version accepted
    redis_client.hset(schema.tokens(ws), kid, json.dumps(raw))
    redis_client.hset(schema.last_used(ws), kid, "junk")
    redis_client.xadd(schema.audit(ws), {"ts": "junk", "actor": "x", "action": "y"})
    assert api.page().status_code == 200
    panel = api.get("panel/tokens")
    assert panel.status_code == 200 and "after 9999" in panel.get_data(as_text=True)
    audit = api.get("panel/audit")
    assert audit.status_code == 200 and "invalid time" in audit.get_data(as_text=True)
    store.revoke_token(ws, kid, actor="t")  # and revoking it works too
    assert api.get("panel/tokens").status_code == 200


def test_the_admin_refuses_to_start_with_another_digest_secret(
    app: Flask, store: PolicyStore, redis_client: redis.Redis, who: Who, mailer: SmtpMailer
) -> None:
    """Issue 17.5: the admin's start-up (init_app) compares the stored check value."""
    assert redis_client.get(schema.DIGEST_CHECK) == store.ctx.keyring.digest_check
    changed = PolicyStore(redis_client, Keyring([Keyring.generate_master_key()], "e" * 48))
    with pytest.raises(ConfigError, match="not the secret this Redis was set up with"):
        make_host_app(changed, who, mailer)
