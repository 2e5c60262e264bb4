"""``keystile export`` then ``keystile import`` into an empty Redis: the restored workspace's
keys work at a real gateway (uvicorn), with its rules and token restrictions intact."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import redis
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware
from keystile import sample_api
from keystile.cli import main
from policies import PolicyStore, Settings
from tests.support.catalog import DEMO_CATALOG
from tests.support.served import served


def ok(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_export_wipe_import_and_the_keys_work_at_the_gateway(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, master_key: str, digest_secret: str
) -> None:
    env = {
        "KEYSTILE_REDIS_URL": redis_url,
        "KEYSTILE_MASTER_KEYS": master_key,
        "KEYSTILE_DIGEST_SECRET": digest_secret,
    }
    (tmp_path / "catalog.json").write_text(json.dumps(DEMO_CATALOG))
    ok(env, "catalog", "load", str(tmp_path / "catalog.json"))
    ws = ok(env, "workspace", "create", "Acme").split()[1]
    ok(env, "keys", "rotate", ws)  # the backup must hold the current key, not the first
    publishable = ok(env, "keys", "show", ws).split()[2]
    ok(env, "rules", "add", ws, "billing", "read")
    token = ok(env, "tokens", "create", ws, "ci", "--block", "members:*").splitlines()[1]
    backup = tmp_path / "acme.json"
    ok(env, "export", ws, str(backup))
    assert publishable not in backup.read_text() and token not in backup.read_text()

    redis_client.flushall()  # an empty Redis, as after losing the server
    refused = CliRunner().invoke(main, ["import", str(backup)], env=env)
    assert refused.exit_code == 1 and "--apply-catalog" in refused.output  # no catalog here
    restored = ok(env, "import", str(backup), "--apply-catalog")
    assert f"restored {ws}" in restored and "applied" in restored
    assert "catalog.loaded" in ok(env, "audit", "tail", "deployment")
    assert "billing:read" in ok(env, "rules", "list", ws)

    settings = Settings.load(env)
    gate = KeyGateMiddleware(
        sample_api.app, settings=settings, registry=CollectorRegistry(), exempt_paths=["/health"]
    )
    with served(gate) as api:

        def status(key: str, method: str, path: str) -> int:
            headers = {"Authorization": f"Bearer {key}"}
            return httpx.request(method, api + path, headers=headers, timeout=10).status_code

        assert status(publishable, "GET", "/projects") == 200
        assert status(publishable, "GET", "/billing") == 403  # the rule came back too
        assert status(token, "GET", "/billing") == 200
        assert status(token, "POST", "/members") == 403  # and the token's own rules
        typo = publishable[:-1] + ("x" if publishable[-1] != "x" else "y")
        assert status(typo, "GET", "/projects") == 401
    assert PolicyStore(redis_client, settings.keyring()).publishable_key(ws) == publishable


def test_import_never_restores_an_edited_backup_and_says_so_consistently(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, master_key: str, digest_secret: str
) -> None:
    """Issue 26.1/26.2: an edited digest check is refused with --unverified too, and the
    refusal no longer points at --unverified; the help says what the flag accepts; a
    restore shows the backup's age and refuses an old one."""
    env = {
        "KEYSTILE_REDIS_URL": redis_url,
        "KEYSTILE_MASTER_KEYS": master_key,
        "KEYSTILE_DIGEST_SECRET": digest_secret,
    }
    ws = ok(env, "workspace", "create", "Acme").split()[1]
    backup = tmp_path / "acme.json"
    ok(env, "export", ws, str(backup))
    document = json.loads(backup.read_text())
    document["key_check"]["digest_secret"] = "0" * 16
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    redis_client.flushall()
    for flags in ([], ["--unverified"]):
        result = CliRunner().invoke(main, ["import", str(edited), *flags], env=env)
        assert result.exit_code == 1 and "backup refused" in result.output
        assert "--unverified" not in result.output and "Traceback" not in result.output
    assert not redis_client.exists(f"ks:{{{ws}}}:meta")
    help_text = ok(env, "import", "--help")
    assert "format-1" in help_text and "never restored" in help_text
    assert "--max-age" in help_text and "--backup-digest-secret-file" in help_text
    restored = ok(env, "import", str(backup))
    assert f"restored {ws}" in restored and "days ago)" in restored
