"""``keystile secrets rewrap|status``, the digest secret's start-up check, and the edges of
expiries and stored times at the command line (issues 17.5, 17.6 and 11.4)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import redis

from policies import Keyring, PolicyStore
from policies.storage import schema
from tests.support.catalog import DEMO_CATALOG
from tests.support.cli import cli, ok


@pytest.fixture
def workspace(env: dict[str, str], tmp_path: Path) -> str:
    (tmp_path / "catalog.json").write_text(json.dumps(DEMO_CATALOG))
    ok(env, "catalog", "load", str(tmp_path / "catalog.json"))
    return ok(env, "workspace", "create", "Acme").split()[1]


def test_rotation_as_an_operator_runs_it(env: dict[str, str], workspace: str) -> None:
    old = env["KEYSTILE_MASTER_KEYS"]
    publishable = ok(env, "keys", "show", workspace).split()[2]
    new = Keyring.generate_master_key()
    rotated = {**env, "KEYSTILE_MASTER_KEYS": f"{new},{old}"}
    status = ok(rotated, "secrets", "status")
    assert "master key #1" in status and ": 0 value(s)" in status and ": 2 value(s)" in status
    out = ok(rotated, "secrets", "rewrap")
    assert f"{workspace}  rewrapped 2" in out and "done: 2 rewrapped" in out
    assert "master key #2 (check" in (s := ok(rotated, "secrets", "status"))
    assert s.splitlines()[1].endswith(": 0 value(s)")
    retired = {**env, "KEYSTILE_MASTER_KEYS": new}
    assert publishable in ok(retired, "keys", "show", workspace)
    assert "secrets.rewrapped" in ok(retired, "audit", "tail", "deployment")


def test_a_changed_digest_secret_stops_every_command(
    env: dict[str, str], workspace: str, redis_client: redis.Redis
) -> None:
    assert redis_client.get(schema.DIGEST_CHECK) is not None  # stamped by the first command
    changed = {**env, "KEYSTILE_DIGEST_SECRET": "q" * 48}
    result = cli(changed, "workspace", "list")
    assert result.exit_code == 1
    assert "not the secret this Redis was set up with" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("expires_in", "message"),
    [("", "not a duration"), ("2932896d", "at most 3650 days"), ("0s", "in the future")],
)
def test_bad_expiries_are_refused(
    env: dict[str, str], workspace: str, expires_in: str, message: str
) -> None:
    result = cli(env, "tokens", "create", workspace, "t", "--expires-in", expires_in)
    assert result.exit_code == 1 and message in result.output
    assert ok(env, "tokens", "list", workspace) == ""


def test_tokens_list_shows_any_stored_time(
    env: dict[str, str], workspace: str, redis_client: redis.Redis
) -> None:
    """Issue 11.4: a far-future expiry left by an older version must not crash the list."""
    kid = ok(env, "tokens", "create", workspace, "t").splitlines()[0].split()[1]
    raw = json.loads(redis_client.hget(schema.tokens(workspace), kid) or "{}")
    raw["expires"] = 253402300799 + 14 * 3600  # 9999-12-31T23:59:59-14:00
    raw["created"] = "junk"
    redis_client.hset(schema.tokens(workspace), kid, json.dumps(raw))
    listed = ok(env, "tokens", "list", workspace)
    assert "expires after 9999" in listed and "invalid time" in listed
    assert "revoked" in ok(env, "tokens", "revoke", workspace, kid)


def test_rewrap_fails_while_a_process_writes_with_the_old_key_list(
    env: dict[str, str], workspace: str, redis_client: redis.Redis
) -> None:
    """Issue 26.3: values written under the old key behind the rewrap make it exit 1,
    naming the cause, instead of reporting success."""
    old = Keyring([env["KEYSTILE_MASTER_KEYS"]], env["KEYSTILE_DIGEST_SECRET"])
    other = ok(env, "workspace", "create", "Busy").split()[1]
    first, second = sorted((workspace, other))
    # Rewrapping the second workspace takes a while: the window, wide even on a busy machine.
    values = {f"S{n}": old.encrypt("v", f"{second}/secret/S{n}") for n in range(1000)}
    redis_client.hset(schema.secrets(second), mapping=values)

    # The first workspace's audit stream as it stands: the writer waits for the entry after
    # it (reading from "$" instead missed an entry written before its XREAD reached Redis).
    newest = redis_client.xrevrange(schema.audit(first), count=1)
    last = newest[0][0] if newest else b"0-0"

    def old_admin() -> None:
        # Awaits the rewrap's audit entry for the first workspace, then writes behind it.
        reader = redis.Redis.from_url(env["KEYSTILE_REDIS_URL"])
        assert reader.xread({schema.audit(first): last}, block=30_000)
        PolicyStore(reader, old).secrets.put(first, "LATE", "old key list", actor="old admin")

    writer = threading.Thread(target=old_admin)
    writer.start()
    keys = f"{Keyring.generate_master_key()},{env['KEYSTILE_MASTER_KEYS']}"
    rotated = {**env, "KEYSTILE_MASTER_KEYS": keys}
    result = cli(rotated, "secrets", "rewrap")
    writer.join()
    assert result.exit_code == 1, result.output
    assert "1 value(s) remain under a master key being retired" in result.output
    assert "a process still writes with the old key list: restart it with the new list first" in (
        result.output
    )
    assert "Traceback" not in result.output
