"""``keystile limits`` and ``tokens create --limit`` against a real Redis: what they store,
what they print, and how they refuse (one line, exit 1, nothing stored)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from policies import PolicyStore, Settings
from policies.limits.rate_limits import Limits
from policies.storage import schema
from tests.support.catalog import DEMO_CATALOG
from tests.support.cli import cli, ok
from tests.support.store import lookup


@pytest.fixture
def workspace(env: dict[str, str], tmp_path: Path) -> str:
    (tmp_path / "catalog.json").write_text(json.dumps(DEMO_CATALOG))
    ok(env, "catalog", "load", str(tmp_path / "catalog.json"))
    return ok(env, "workspace", "create", "Acme").split()[1]


def stored(client: redis.Redis, ws: str) -> dict[str, Any]:
    """The workspace's limits as stored (decoded), its tokens and its policy version."""
    return {
        "limits": {k: json.loads(v) for k, v in client.hgetall(schema.limits(ws)).items()},
        "tokens": sorted(client.hkeys(schema.tokens(ws))),
        "version": client.hget(schema.meta(ws), "version"),
    }


def token(env: dict[str, str], ws: str, name: str, *limits: str) -> str:
    flags = [x for limit in limits for x in ("--limit", limit)]
    return ok(env, "tokens", "create", ws, name, *flags).split()[1]


def test_set_list_and_remove_for_each_kind_of_key(
    env: dict[str, str], workspace: str, redis_client: redis.Redis
) -> None:
    ws = workspace
    out = ok(env, "limits", "set", ws, "--key", "publishable", "10000/day", "100/min")
    assert out == "the publishable key is now limited to:\n  whole key: 100/min, 10000/day\n"
    out = ok(env, "limits", "set", ws, "--key", "pk", "--action", "projects.create", "10/m")
    assert out.splitlines()[1:] == ["  whole key: 100/min, 10000/day", "  projects.create: 10/min"]
    assert "the SDK key is now limited to" in ok(env, "limits", "set", ws, "--key", "sdk", "50/s")
    out = ok(env, "tokens", "create", ws, "ci", "--limit", "5/s", "--limit", "1000/DAY")
    kid = out.split()[1]
    assert out.splitlines()[2] == "limited to 5/s, 1000/day"
    out = ok(env, "limits", "set", ws, "--key", kid, "--action", "billing.read", "1/10s")
    assert out.startswith(f"token {kid} is now limited to:") and "billing.read: 1/10s" in out
    assert stored(redis_client, ws)["limits"] == {
        "pk": {"*": ["100/min", "10000/day"], "projects.create": ["10/min"]},
        "sk": {"*": ["50/s"]},
        f"tk:{kid}": {"*": ["5/s", "1000/day"], "billing.read": ["1/10s"]},
    }

    # set replaces that scope's windows and no other's
    ok(env, "limits", "set", ws, "--key", "pk", "200/min")
    assert stored(redis_client, ws)["limits"]["pk"] == {
        "*": ["200/min"],
        "projects.create": ["10/min"],
    }
    out = ok(env, "limits", "remove", ws, "--key", "publishable", "--action", "projects.create")
    assert out == "the publishable key is now limited to:\n  whole key: 200/min\n"
    assert ok(env, "limits", "remove", ws, "--key", "publishable") == (
        "the publishable key now has no limits\n"
    )
    assert "pk" not in stored(redis_client, ws)["limits"]
    again = cli(env, "limits", "remove", ws, "--key", "publishable")
    assert again.exit_code == 1
    assert "the publishable key has no limit on the whole key" in again.output

    tail = ok(env, "audit", "tail", ws, "-n", "50", "--action", "limits.*")
    assert tail.count("limits.set") == 5 and tail.count("limits.removed") == 2
    assert all(" cli " in line for line in tail.splitlines())


def test_list_shows_every_key_whole_and_per_action(
    env: dict[str, str], workspace: str, redis_client: redis.Redis
) -> None:
    ws = workspace
    ok(env, "limits", "set", ws, "--key", "publishable", "100/min", "10000/day")
    ok(env, "limits", "set", ws, "--key", "publishable", "--action", "projects.create", "10/min")
    limited = token(env, ws, "ci", "5/s")
    free = token(env, ws, "deploy")
    gone = token(env, ws, "old", "1/s")
    ok(env, "tokens", "revoke", ws, gone)
    lines = ok(env, "limits", "list", ws).splitlines()
    assert [" ".join(line.split()) for line in lines] == [
        "key name scope limits",
        "publishable whole key 100/min, 10000/day",
        "publishable projects.create 10/min",
        "sdk - none",
        f"{limited} ci whole key 5/s",  # tokens with limits, newest first
        "(1 other tokens not revoked: no limits of their own)",  # counted, not read
    ]
    assert free not in "\n".join(lines)
    assert gone not in "\n".join(lines)
    assert f"tk:{gone}" not in redis_client.hkeys(schema.limits(ws))  # revoking dropped them


def test_list_json(env: dict[str, str], workspace: str) -> None:
    ws = workspace
    ok(env, "limits", "set", ws, "--key", "publishable", "100/min", "10000/day")
    ok(env, "limits", "set", ws, "--key", "publishable", "--action", "projects.create", "10/min")
    kid = token(env, ws, "ci", "1000/10s")
    ok(env, "limits", "set", ws, "--key", kid, "--action", "billing.read", "2/120min")
    document = json.loads(ok(env, "limits", "list", ws, "--json"))
    minute = {"limit": "100/min", "quota": 100, "seconds": 60}
    day = {"limit": "10000/day", "quota": 10000, "seconds": 86400}
    assert document == {
        "workspace": ws,
        "keys": [
            {
                "key": "publishable",
                "name": None,
                "whole_key": [minute, day],
                "actions": {"projects.create": [{"limit": "10/min", "quota": 10, "seconds": 60}]},
                "dead_actions": [],
            },
            {"key": "sdk", "name": None, "whole_key": [], "actions": {}, "dead_actions": []},
            {
                "key": kid,
                "name": "ci",
                "whole_key": [{"limit": "1000/10s", "quota": 1000, "seconds": 10}],
                "actions": {"billing.read": [{"limit": "2/2h", "quota": 2, "seconds": 7200}]},
                "dead_actions": [],
            },
        ],
        "tokens_without_limits": 0,
    }


def test_a_catalog_load_that_disarms_limits_is_refused_unless_forced(
    env: dict[str, str], workspace: str, tmp_path: Path, redis_client: redis.Redis
) -> None:
    """Issue 24: renaming ``projects.create`` silently switched its limit off. The load now
    lists the limits it would disarm and stores nothing; forced, it stores the catalog and
    ``limits list`` marks the dead limits, which ``limits remove`` lifts."""
    ws = workspace
    ok(env, "limits", "set", ws, "--key", "publishable", "--action", "projects.create", "10/min")
    kid = token(env, ws, "ci")
    ok(env, "limits", "set", ws, "--key", kid, "--action", "projects.create", "5/s")
    renamed = json.loads(json.dumps(DEMO_CATALOG))
    projects = renamed["modules"]["projects"]["functionalities"]
    projects["make"] = projects.pop("create")
    (tmp_path / "renamed.json").write_text(json.dumps(renamed))
    refused = cli(env, "catalog", "load", str(tmp_path / "renamed.json"))
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
    assert "it would disarm live rate limits:" in refused.output
    assert f"{ws} publishable key: projects.create 10/min" in refused.output
    assert f"{ws} token {kid}: projects.create 5/s" in refused.output
    assert "projects.create" in ok(env, "catalog", "show")  # the live catalog is untouched

    assert "3 modules" in ok(env, "catalog", "load", str(tmp_path / "renamed.json"), "--force")
    listed = ok(env, "limits", "list", ws).splitlines()
    assert [line.split()[:3] for line in listed[1:3]] == [
        ["publishable", "projects.create", "(dead)"],
        ["sdk", "-", "none"],
    ]
    assert listed[-1].startswith("(dead): the catalog has no such action")
    document = json.loads(ok(env, "limits", "list", ws, "--json"))
    assert [k["dead_actions"] for k in document["keys"]] == [
        ["projects.create"],
        [],
        ["projects.create"],
    ]
    ok(env, "limits", "remove", ws, "--key", "publishable", "--action", "projects.create")
    ok(env, "limits", "remove", ws, "--key", kid, "--action", "projects.create")
    assert stored(redis_client, ws)["limits"] == {}
    assert "(dead)" not in ok(env, "limits", "list", ws)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "{ws}", "--key", "publishable", "abc"], "limit 'abc' is not COUNT/WINDOW"),
        (["set", "{ws}", "--key", "publishable", "0/min"], "count must be 1-1,000,000,000"),
        (["set", "{ws}", "--key", "sdk", "1/32day"], "1 second to 31 days"),
        (["set", "{ws}", "--key", "sdk", "1/min", "2/60s"], "two limits over the same window"),
        (["set", "{ws}", "--key", "sdk", *["1/s", "1/min", "1/h", "1/day", "1/2day"]], "at most 4"),
        (["set", "{ws}", "--key", "publishable", "--action", "payroll.run", "1/s"], "'payroll'"),
        (["set", "{ws}", "--key", "publishable", "--action", "projects.fly", "1/s"], "'fly'"),
        (["set", "{ws}", "--key", "publishable", "--action", "projects", "1/s"], "not module.func"),
        (["set", "{ws}", "--key", "publishable", "--action", "", "1/s"], "not module.func"),
        (["set", "{ws}", "--key", "0123456789ab", "1/s"], "no token with id '0123456789ab'"),
        (["set", "{ws}", "--key", "{revoked}", "1/s"], "is revoked"),
        (["set", "{ws}", "--key", "everyone", "1/s"], "--key must be publishable, sdk or a"),
        (["set", "ws_AAAAAAAAAAAA", "--key", "publishable", "1/s"], "unknown workspace"),
        (["set", "ws_AAAAAAAAAAAA", "--key", "0123456789ab", "1/s"], "unknown workspace"),
        (["set", "nonsense", "--key", "sdk", "1/s"], "unknown workspace"),
        (["remove", "{ws}", "--key", "sdk"], "the SDK key has no limit on the whole key"),
        (["remove", "{ws}", "--key", "publishable", "--action", "billing.read"], "no limit on"),
        (["remove", "{ws}", "--key", "0123456789ab"], "no token with id"),
        (["remove", "ws_AAAAAAAAAAAA", "--key", "sdk"], "unknown workspace"),
        (["list", "ws_AAAAAAAAAAAA"], "unknown workspace"),
        (["list", "ws_AAAAAAAAAAAA", "--json"], "unknown workspace"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_stores_nothing(
    env: dict[str, str],
    workspace: str,
    redis_client: redis.Redis,
    args: list[str],
    message: str,
) -> None:
    revoked = token(env, workspace, "old", "1/s")
    ok(env, "tokens", "revoke", workspace, revoked)
    ok(env, "limits", "set", workspace, "--key", "publishable", "100/min")
    before = stored(redis_client, workspace)
    named = {"{ws}": workspace, "{revoked}": revoked}
    result = cli(env, "limits", *[named.get(a, a) for a in args])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a refusal, not an escaped exception
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert stored(redis_client, workspace) == before


@pytest.mark.parametrize(
    ("limits", "message"),
    [(["abc"], "is not COUNT/WINDOW"), (["0/min"], "count must be"), (["1/s", "2/1s"], "same")],
)
def test_tokens_create_with_a_bad_limit_creates_nothing(
    env: dict[str, str],
    workspace: str,
    redis_client: redis.Redis,
    limits: list[str],
    message: str,
) -> None:
    before = stored(redis_client, workspace)
    flags = [x for limit in limits for x in ("--limit", limit)]
    result = cli(env, "tokens", "create", workspace, "ci", *flags)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert message in result.output and "tk_" not in result.output
    assert stored(redis_client, workspace) == before


def test_missing_limits_or_key_are_usage_errors(env: dict[str, str], workspace: str) -> None:
    for args in (["--key", "sdk"], ["1/s"]):
        result = cli(env, "limits", "set", workspace, *args)
        assert result.exit_code == 2 and "Missing" in result.output


def test_role_limits_survive_rotation_and_rolling(
    env: dict[str, str], workspace: str, redis_client: redis.Redis
) -> None:
    """What the gateway's lookup gets for the new keys, not what the CLI printed."""
    ok(env, "limits", "set", workspace, "--key", "publishable", "100/min")
    ok(env, "limits", "set", workspace, "--key", "sdk", "--action", "billing.read", "5/s")
    new_pk = ok(env, "keys", "rotate", workspace).strip()
    ok(env, "keys", "roll-sdk", workspace)
    store = PolicyStore(redis_client, Settings.load(env).keyring())
    policy = lookup(store, new_pk)
    assert policy is not None and policy.limits == Limits.of({"*": ["100/min"]})
    policy = lookup(store, store.reveal_sdk_key(workspace, actor="test"))
    assert policy is not None and policy.limits == Limits.of({"billing.read": ["5/s"]})


def test_export_and_import_carry_the_limits(
    env: dict[str, str], workspace: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    ok(env, "limits", "set", workspace, "--key", "publishable", "100/min", "10000/day")
    ok(env, "limits", "set", workspace, "--key", "pk", "--action", "projects.create", "10/min")
    token(env, workspace, "ci", "5/s")
    before = ok(env, "limits", "list", workspace, "--json")
    ok(env, "export", workspace, str(tmp_path / "acme.json"))
    redis_client.flushall()  # an empty Redis, as after losing the server
    ok(env, "import", str(tmp_path / "acme.json"), "--apply-catalog")
    assert ok(env, "limits", "list", workspace, "--json") == before
