"""``keystile tokens create --scope/--network``, ``tokens restrict``, ``keys restrict --sdk``
against a real Redis; the catalog refuses to drop an action a scope names unless forced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.catalog import DEMO_CATALOG
from tests.support.cli import cli, ok


@pytest.fixture
def workspace(env: dict[str, str], tmp_path: Path) -> str:
    (tmp_path / "catalog.json").write_text(json.dumps(DEMO_CATALOG))
    ok(env, "catalog", "load", str(tmp_path / "catalog.json"))
    return ok(env, "workspace", "create", "Acme").split()[1]


def test_tokens_and_the_sdk_key_restricted_and_lifted(env: dict[str, str], workspace: str) -> None:
    out = ok(
        env,
        "tokens",
        "create",
        workspace,
        "ci",
        "--scope",
        "projects:read",
        "--scope",
        "billing.read",
        "--network",
        "10.1.2.3/8",
    )
    key_id = out.split()[1]
    assert "allowed only billing.read, projects:read, 10.0.0.0/8" in out
    listed = ok(env, "tokens", "list", workspace)
    assert "scopes billing.read,projects:read  networks 10.0.0.0/8" in listed
    changed = ok(env, "tokens", "restrict", workspace, key_id, "--network", "2001:db8::/32")
    assert "scopes: billing.read, projects:read; networks: 2001:db8::/32" in changed
    lifted = ok(env, "tokens", "restrict", workspace, key_id, "--any-action")
    assert "scopes: any action; networks: 2001:db8::/32" in lifted
    assert ok(env, "keys", "restrict", workspace, "--sdk") == (
        "SDK access key scopes: any action; networks: any network\n"
    )
    sdk = ok(env, "keys", "restrict", workspace, "--sdk", "--scope", "projects:*")
    assert "scopes: projects:*; networks: any network" in sdk
    assert "scopes: projects:*" in ok(env, "keys", "restrict", workspace, "--sdk")
    tail = ok(env, "audit", "tail", workspace, "-n", "10")
    assert "token.restricted" in tail and "sdk_key.restricted" in tail
    cleared = ok(env, "keys", "restrict", workspace, "--sdk", "--any-action", "--any-network")
    assert "any action; networks: any network" in cleared


def test_a_catalog_that_drops_a_scoped_action_is_refused_unless_forced(
    env: dict[str, str], workspace: str, tmp_path: Path
) -> None:
    ok(env, "keys", "restrict", workspace, "--sdk", "--scope", "billing.read")
    smaller = {"modules": {k: v for k, v in DEMO_CATALOG["modules"].items() if k != "billing"}}
    path = tmp_path / "smaller.json"
    path.write_text(json.dumps(smaller))
    refused = cli(env, "catalog", "load", str(path))
    assert refused.exit_code == 1
    assert f"scopes: {workspace} SDK key: billing.read" in refused.output
    assert "2 modules" in ok(env, "catalog", "load", str(path), "--force")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tokens", "create", "{ws}", "x", "--scope", "projects"], "is not module.functionality"),
        (["tokens", "create", "{ws}", "x", "--scope", "nope.list"], "unknown module 'nope'"),
        (["tokens", "create", "{ws}", "x", "--scope", "projects:all"], "after ':' comes"),
        (["tokens", "create", "{ws}", "x", "--network", "10.0.0.300/8"], "is not a CIDR range"),
        (["tokens", "restrict", "{ws}", "nokey"], "nothing to change"),
        (["tokens", "restrict", "{ws}", "nokey", "--any-network"], "no token with id"),
        (["keys", "restrict", "{ws}", "--sdk", "--scope", "a.b", "--any-action"], "not both"),
        (["keys", "restrict", "{ws}", "--sdk", "--network", "fe80::/zz"], "is not a CIDR"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    env: dict[str, str], workspace: str, args: list[str], message: str
) -> None:
    result = cli(env, *[a.replace("{ws}", workspace) for a in args])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
