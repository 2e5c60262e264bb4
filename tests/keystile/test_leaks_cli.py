"""``keystile leaks policy|list`` against a real Redis: what they store and print, and how
they refuse (one line, exit 1, nothing stored)."""

from __future__ import annotations

import json

from policies import PolicyStore
from policies.leaks.policy import LeakPolicy, Sighting
from policies.operations import leaks
from policies.storage.values import CreatedWorkspace
from tests.support.cli import cli, ok


def test_policy_show_and_change(
    env: dict[str, str], store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    assert ok(env, "leaks", "policy", ws) == "sdk key: roll\ntokens: revoke\n"
    assert ok(env, "leaks", "policy", ws, "--tokens", "notify") == "sdk key: roll\ntokens: notify\n"
    assert store.run(leaks.get_policy(store.ctx, ws)) == LeakPolicy("roll", "notify")
    [entry] = [e for e in store.audit_tail(ws, 10) if e.action == "leak_policy.set"]
    assert entry.actor == "cli"
    bad = cli(env, "leaks", "policy", ws, "--sdk", "revoke")
    assert bad.exit_code == 2 and "'revoke' is not one of 'roll', 'notify'" in bad.output
    missing = cli(env, "leaks", "policy", "ws_000000000000", "--sdk", "notify")
    assert missing.exit_code == 1 and "unknown workspace" in missing.output
    assert "Traceback" not in missing.output
    assert store.run(leaks.get_policy(store.ctx, ws)) == LeakPolicy("roll", "notify")


def test_list(env: dict[str, str], store: PolicyStore, workspace: CreatedWorkspace) -> None:
    ws = workspace.workspace_id
    assert ok(env, "leaks", "list", ws) == "no leak reports\n"
    token = store.create_token(ws, "ci", actor="t")
    store.run(leaks.report(store.ctx, token.token, Sighting("github", "https://x/y", "commit")))
    line = ok(env, "leaks", "list", ws)
    assert f"tk {token.info.key_id}  revoked  github: https://x/y" in line
    [record] = json.loads(ok(env, "leaks", "list", ws, "--json"))
    assert record["outcome"] == "revoked" and record["source"] == "commit"
    assert token.token[3:] not in line + json.dumps(record)
