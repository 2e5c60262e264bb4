"""``keystile policy`` and ``keystile tokens unused`` against a real Redis: what they store
and print, and how they refuse (one line, a non-zero exit, nothing changed)."""

from __future__ import annotations

import time

import pytest
import redis

from policies import Keyring, PolicyStore
from policies.lifetime import DAY, FIELD
from policies.storage import schema
from policies.storage.connections import sync_client
from tests.support.cli import cli, ok


@pytest.fixture
def ws(env: dict[str, str]) -> str:
    return ok(env, "workspace", "create", "Acme").split()[1]


def store_at(env: dict[str, str], days_ago: float) -> PolicyStore:
    """A store on the CLI's Redis whose clock is ``days_ago`` days behind."""
    keyring = Keyring([env["KEYSTILE_MASTER_KEYS"]], env["KEYSTILE_DIGEST_SECRET"])
    client = sync_client(env["KEYSTILE_REDIS_URL"])
    return PolicyStore(client, keyring, clock=lambda: time.time() - days_ago * DAY)


def test_set_and_show(env: dict[str, str], ws: str, redis_client: redis.Redis) -> None:
    assert ok(env, "policy", "show", ws).splitlines() == [
        f"token lifetime policy of {ws}: none (tokens may live forever)",
        "max token days: none",
        "require expiry: no",
    ]
    out = ok(env, "policy", "set", ws, "--max-token-days", "90")
    assert out == f"token lifetime policy of {ws}: tokens expire within 90 days of creation\n"
    assert ok(env, "policy", "set", ws, "--max-token-days", "90").endswith("(unchanged)\n")
    ok(env, "policy", "set", ws, "--require-expiry")
    assert ok(env, "policy", "show", ws).splitlines()[1:] == [
        "max token days: 90",
        "require expiry: yes",
    ]
    out = ok(env, "policy", "set", ws, "--no-max-token-days")
    assert out == f"token lifetime policy of {ws}: tokens must have an expiry\n"
    ok(env, "policy", "set", ws, "--no-require-expiry")
    assert redis_client.hget(schema.meta(ws), FIELD) is None
    actions = [e["action"] for _, e in redis_client.xrange(schema.audit(ws))]
    assert actions.count("policy.changed") == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say what to change"),
        (("--max-token-days", "0"), "0 is not in the range 1<=x<=3650"),
        (("--max-token-days", "-5"), "-5 is not in the range"),
        (("--max-token-days", "99999999999999999999"), "is not in the range"),
        (("--max-token-days", "ninety"), "'ninety' is not a valid integer"),
        (("--max-token-days", "9", "--no-max-token-days"), "not both"),
    ],
)
def test_set_refuses_bad_input(
    env: dict[str, str], ws: str, redis_client: redis.Redis, args: tuple[str, ...], message: str
) -> None:
    result = cli(env, "policy", "set", ws, *args)
    assert result.exit_code == 2 and message in result.output
    assert redis_client.hget(schema.meta(ws), FIELD) is None


def test_unknown_workspace(env: dict[str, str]) -> None:
    for args in (("show", "ws_nope"), ("set", "ws_nope", "--require-expiry")):
        result = cli(env, "policy", *args)
        assert result.exit_code == 1
        assert result.output == "Error: unknown workspace: 'ws_nope'\n"


def test_token_creation_is_held_to_the_policy(
    env: dict[str, str], ws: str, redis_client: redis.Redis
) -> None:
    forever = ok(env, "tokens", "create", ws, "forever").split()[1]
    ok(env, "policy", "set", ws, "--max-token-days", "30")
    result = cli(env, "tokens", "create", ws, "again")
    assert result.exit_code == 1
    assert result.output == (
        "Error: this workspace's policy requires tokens to expire within 30 days: "
        "give the token an expiry\n"
    )
    result = cli(env, "tokens", "create", ws, "long", "--expires-in", "31d")
    assert result.exit_code == 1
    assert "allows tokens of at most 30 days: this one would live 31 days" in result.output
    assert redis_client.hlen(schema.tokens(ws)) == 1
    ok(env, "tokens", "create", ws, "monthly", "--expires-in", "30d")
    lines = ok(env, "tokens", "list", ws).splitlines()
    marked = [line for line in lines if "out of policy" in line]
    assert len(marked) == 1 and marked[0].startswith(forever)
    assert marked[0].endswith("[out of policy: never expires (maximum 30 days)]")


def test_unused_lists_and_revokes_exactly_those_shown(
    env: dict[str, str], ws: str, redis_client: redis.Redis
) -> None:
    old = store_at(env, 100)
    idle = [old.create_token(ws, f"idle{n}", actor="t").info.key_id for n in range(3)]
    ok(env, "tokens", "create", ws, "new")
    out = ok(env, "tokens", "unused", ws, "--days", "90", "--limit", "2")
    lines = out.splitlines()
    assert len(lines) == 3 and lines[-1] == "(2 of 3 shown; 1 more)"
    assert all(" idle since " in line and "last used -" in line for line in lines[:2])
    shown = [line.split()[0] for line in lines[:2]]
    assert set(shown) < set(idle)
    # Not confirmed (no terminal to answer): nothing revoked, a non-zero exit.
    result = cli(env, "tokens", "unused", ws, "--days", "90", "--limit", "2", "--revoke")
    assert result.exit_code == 1 and "revoke these 2 tokens? [y/N]: Aborted!" in result.output
    assert ok(env, "tokens", "unused", ws, "--days", "90").count(" idle since ") == 3
    out = ok(env, "tokens", "unused", ws, "--days", "90", "--limit", "2", "--revoke", "--yes")
    assert sorted(line.split()[1] for line in out.splitlines() if line.startswith("revoked")) == (
        sorted(shown)
    )
    remaining = ok(env, "tokens", "unused", ws, "--days", "90").splitlines()
    assert [line.split()[0] for line in remaining] == sorted(set(idle) - set(shown))
    actions = [e["action"] for _, e in redis_client.xrange(schema.audit(ws))]
    assert actions.count("token.revoked") == 2 and actions[-1] == "tokens.unused_revoked"
    assert ok(env, "tokens", "unused", ws, "--days", "101") == (
        f"no token of {ws} is unused for 101 days\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--days", "0"), "0 is not in the range 1<=x<=3650"),
        (("--days", "3651"), "3651 is not in the range"),
        ((), "Missing option '--days'"),
        (("--days", "9", "--yes"), "--yes confirms --revoke"),
        (("--days", "9", "--limit", "0"), "0 is not in the range 1<=x<=1000"),
    ],
)
def test_unused_refuses_bad_input(
    env: dict[str, str], ws: str, args: tuple[str, ...], message: str
) -> None:
    result = cli(env, "tokens", "unused", ws, *args)
    assert result.exit_code == 2 and message in result.output
