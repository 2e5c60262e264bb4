"""``keystile export`` / ``import`` carry the notification settings: a restored workspace's
webhooks reach the same receiver, signed with the secret it was given before the loss."""

from __future__ import annotations

from pathlib import Path

import redis

from tests.support.cli import cli, ok
from tests.support.webhooks import Receiver


def test_a_restored_workspace_still_sends_signed_webhooks(
    env: dict[str, str], redis_client: redis.Redis, receiver: Receiver, tmp_path: Path
) -> None:
    allowed = {**env, "KEYSTILE_NOTIFY_ALLOW_HOSTS": "127.0.0.1"}
    ws = ok(env, "workspace", "create", "Acme").split()[1]
    set_to = ok(allowed, "notify", "endpoint", ws, receiver.url)
    receiver.secret = set_to.split("(shown once): ")[1].strip()
    ok(env, "notify", "emails", ws, "ops@acme.test")
    backup = tmp_path / "acme.json"
    ok(env, "export", ws, str(backup))
    assert receiver.secret not in backup.read_text()

    redis_client.flushall()
    refused = cli(env, "import", str(backup))  # this deployment does not allow the receiver
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "backup refused: its webhook endpoint" in refused.output
    assert not list(redis_client.scan_iter(f"ks:{{{ws}}}:*"))  # nothing written
    restored = ok(allowed, "import", str(backup))
    assert "notifications: webhook and mail" in restored
    tested = ok(allowed, "notify", "test", ws)
    assert "delivered (HTTP 200)" in tested
    assert receiver.types(receiver.take(1)) == ["webhook.test"] and receiver.forged == 0
    assert "ops@acme.test" in ok(env, "notify", "status", ws)
