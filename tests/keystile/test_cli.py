"""The command line against a real Redis: what it prints, and how it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keystile.redis_server import free_port
from tests.support.catalog import DEMO_CATALOG
from tests.support.cli import cli, ok


@pytest.fixture
def workspace(env: dict[str, str], tmp_path: Path) -> str:
    (tmp_path / "catalog.json").write_text(json.dumps(DEMO_CATALOG))
    assert "3 modules" in ok(env, "catalog", "load", str(tmp_path / "catalog.json"))
    out = ok(env, "workspace", "create", "Acme")
    return out.split()[1]


def test_workspace_keys_rules_tokens_audit(env: dict[str, str], workspace: str) -> None:
    assert workspace in ok(env, "workspace", "list")
    shown = ok(env, "keys", "show", workspace)
    assert "publishable key pk_" in shown and "sk_••••" in shown
    new_pk = ok(env, "keys", "rotate", workspace).strip()
    assert new_pk in ok(env, "keys", "show", workspace)
    assert "rolled" in ok(env, "keys", "roll-sdk", workspace, "--grace", "1h")
    assert "blocked billing:read" in ok(env, "rules", "add", workspace, "billing", "read")
    assert "already" in ok(env, "rules", "add", workspace, "billing", "read")
    assert ok(env, "rules", "list", workspace) == "billing:read\n"
    out = ok(
        env, "tokens", "create", workspace, "deploy", "--expires-in", "7d", "--block", "projects:*"
    )
    key_id, token = out.split()[1], out.splitlines()[1]
    assert token.startswith("tk_")
    listing = ok(env, "tokens", "list", workspace)
    assert key_id in listing and "active" in listing and token not in listing
    assert "revoked" in ok(env, "tokens", "revoke", workspace, key_id)
    assert "revoked" in ok(env, "tokens", "list", workspace)
    assert key_id in ok(env, "tokens", "list", workspace, "--status", "revoked", "--name", "DEP")
    assert f"{workspace}: 1 tokens indexed" in ok(env, "tokens", "index")
    tail = ok(env, "audit", "tail", workspace, "-n", "50")
    assert "rule.added" in tail and "token.revoked" in tail and token not in tail
    assert "unblocked billing:read" in ok(env, "rules", "remove", workspace, "billing", "read")


def test_workspace_origins(env: dict[str, str], workspace: str) -> None:
    assert ok(env, "workspace", "origins", workspace) == "any origin\n"
    pinned = ok(env, "workspace", "origins", workspace, "https://b.example", "https://a.example/")
    assert pinned == "https://a.example\nhttps://b.example\n"
    assert ok(env, "workspace", "origins", workspace) == pinned
    bad = cli(env, "workspace", "origins", workspace, "--any", "https://c.example")
    assert bad.exit_code == 2 and "not both" in bad.output
    refused = cli(env, "workspace", "origins", workspace, "javascript:alert(1)")
    assert refused.exit_code == 1 and "must look like" in refused.output
    assert ok(env, "workspace", "origins", workspace) == pinned  # nothing written on refusal
    assert ok(env, "workspace", "origins", workspace, "--any") == "any origin\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rules", "add", "{ws}", "payroll", "read"], "unknown module 'payroll'"),
        (["rules", "add", "{ws}", "billing", "write"], "no functionality 'write'"),
        (["rules", "add", "ws_AAAAAAAAAAAA", "billing", "read"], "unknown workspace"),
        (["rules", "remove", "{ws}", "billing", "read"], "no rule billing:read"),
        (["keys", "show", "not-a-workspace"], "unknown workspace"),
        (["tokens", "revoke", "{ws}", "abc"], "no token with id"),
        (["tokens", "create", "{ws}", "x", "--expires-in", "soon"], "not a duration"),
        (["catalog", "load", "/no/such/file.json"], "cannot read catalog"),
        (["catalog", "load", "{bad_convertor}"], "not registered"),
        (["catalog", "load", "{shadowed}"], "never runs"),
    ],
)
def test_errors_are_one_line_and_exit_1(
    env: dict[str, str], workspace: str, args: list[str], message: str, tmp_path: Path
) -> None:
    files = {
        "{bad_convertor}": {
            "modules": {"m": {"functionalities": {"f": {}}}},
            "convertors": ["slug"],
            "routes": [{"path": "/a/{x:slug}", "action": "m.f"}],
        },
        "{shadowed}": {
            "modules": {"p": {"functionalities": {"a": {}, "b": {}}}},
            "routes": [{"path": "/p/{id}", "action": "p.a"}, {"path": "/p/{pid}", "action": "p.b"}],
        },
    }
    for name, data in files.items():
        path = tmp_path / f"{name.strip('{}')}.json"
        path.write_text(json.dumps(data))
        args = [str(path) if a == name else a for a in args]
    result = cli(env, *[a.replace("{ws}", workspace) for a in args])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"KEYSTILE_REDIS_URL": "redis://127.0.0.1:1/0"}, "Redis is unavailable"),
        ({"KEYSTILE_REDIS_URL": "http://example.com"}, "Redis URL must start with"),
        ({"KEYSTILE_MASTER_KEYS": ""}, "no master key"),
        ({"KEYSTILE_DIGEST_SECRET": "short"}, "at least 32 bytes"),
    ],
)
def test_configuration_errors(env: dict[str, str], override: dict[str, str], message: str) -> None:
    result = cli({**env, **override}, "workspace", "list")
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_embedded_mode_persists_across_invocations(tmp_path: Path) -> None:
    """A real subprocess: starts redis-server from the data folder, twice."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTILE_", "REDIS_URL"))}
    command = [sys.executable, "-m", "keystile", "--embedded", "--data-dir", str(tmp_path / "home")]
    first = subprocess.run(
        [*command, "workspace", "create", "Acme"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    workspace = first.stdout.split()[1]
    second = subprocess.run(
        [*command, "workspace", "list"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert workspace in second.stdout
    assert oct((tmp_path / "home" / "secrets.toml").stat().st_mode)[-3:] == "600"


cli_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30) | (
    st.sampled_from(["billing", "read", "*", "billing:read", "7d", "-1s", "ws_AAAAAAAAAAAA"])
)


@pytest.mark.parametrize(
    "template",
    [
        ["rules", "add", "{ws}", "{a}", "{b}"],
        ["rules", "remove", "{a}", "{b}", "{c}"],
        ["tokens", "create", "{ws}", "{a}", "--expires-in", "{b}", "--block", "{c}"],
        ["tokens", "revoke", "{ws}", "{a}"],
        ["keys", "roll-sdk", "{ws}", "--grace", "{a}"],
        ["audit", "tail", "{a}", "-n", "{b}"],
    ],
)
def test_hostile_arguments(
    env: dict[str, str], workspace: str, template: list[str], redis_client: redis.Redis
) -> None:
    @settings(
        max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(cli_text, cli_text, cli_text)
    def attempt(a: str, b: str, c: str) -> None:
        before = policy_state(redis_client)
        args = [t.format(ws=workspace, a=a, b=b, c=c) for t in template]
        result = cli(env, *args)
        assert result.exit_code in (0, 1, 2), result.output
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        ), repr(result.exception)
        if result.exit_code != 0:
            assert policy_state(redis_client) == before

    attempt()


def policy_state(client: redis.Redis) -> dict[str, object]:
    state: dict[str, object] = {}
    for key in client.scan_iter("ks:*"):
        if not key.endswith((":audit", ":lastused")):
            kind = client.type(key)
            if kind == "hash":
                state[key] = client.hgetall(key)
            elif kind == "set":
                state[key] = sorted(client.smembers(key))
            elif kind == "zset":  # the notification index (ks:notify:pending)
                state[key] = client.zrange(key, 0, -1, withscores=True)
            else:
                state[key] = client.get(key)
    return state


def test_redis_unavailable_names_the_url_and_the_ways_out(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The trip: "Error: Redis is unavailable (ConnectionError)", which Redis and what now?"""
    port = free_port()  # nothing listens there
    url = f"redis://ops:hunter2@127.0.0.1:{port}/0?password=hunter3"
    result = cli({**env, "KEYSTILE_REDIS_URL": url}, "workspace", "list")
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert f"at redis://ops:***@127.0.0.1:{port}/0?password=***" in line
    assert "hunter2" not in line and "hunter3" not in line
    assert "start Redis at that URL" in line and "--embedded" in line
    # The second way out, taken as the message says: the same command with --embedded.
    home = ["--embedded", "--data-dir", str(tmp_path / "home")]
    embedded = subprocess.run(
        [sys.executable, "-m", "keystile", *home, "workspace", "list"],
        env={**os.environ, **env, "KEYSTILE_REDIS_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert embedded.returncode == 0, embedded.stderr


def test_tokens_list_status_and_limit(env: dict[str, str], workspace: str) -> None:
    ids = [ok(env, "tokens", "create", workspace, f"job-{n}").split()[1] for n in range(5)]
    ok(env, "tokens", "revoke", workspace, ids[1])
    revoked = ok(env, "tokens", "list", workspace, "--status", "revoked")
    assert revoked.count("\n") == 1 and ids[1] in revoked and "job-1" in revoked
    assert ids[1] not in ok(env, "tokens", "list", workspace, "--status", "active")
    limited = cli(env, "tokens", "list", workspace, "--limit", "2")
    assert limited.exit_code == 0
    assert limited.stdout.count("\n") == 2 and "job-4" in limited.stdout  # newest first
    assert "(2 of 5 shown: raise --limit)" in limited.stderr
    assert ok(env, "tokens", "list", workspace, "--name", "JOB-3").count("\n") == 1
    bad = cli(env, "tokens", "list", workspace, "--status", "deleted")
    assert bad.exit_code == 2 and "deleted" in bad.output


def test_audit_tail_filters_and_pages_back(env: dict[str, str], workspace: str) -> None:
    for n in range(4):
        ok(env, "rules", "add", workspace, "billing", "read")
        ok(env, "rules", "remove", workspace, "billing", "read")
        ok(env, "tokens", "create", workspace, f"job-{n}")
    added = cli(env, "audit", "tail", workspace, "--action", "rule.added", "-n", "3")
    lines = added.stdout.splitlines()
    assert len(lines) == 3 and all("rule.added" in line for line in lines)
    older = added.stderr.strip()
    assert older.startswith("(older entries: --before ")
    before = older.removeprefix("(older entries: --before ").rstrip(")")
    assert before == lines[0].split()[0]  # the oldest shown
    rest = cli(env, "audit", "tail", workspace, "--action", "rule.added", "--before", before)
    assert len(rest.stdout.splitlines()) == 1 and rest.stderr == ""
    family = ok(env, "audit", "tail", workspace, "--action", "rule.*", "--actor", "cli", "-n", "50")
    assert len(family.splitlines()) == 8
    assert ok(env, "audit", "tail", workspace, "--actor", "admin:*") == ""
    bad = cli(env, "audit", "tail", workspace, "--before", "yesterday")
    assert bad.exit_code == 1 and "audit entry id" in bad.output
