"""``keystile authz`` behind a real nginx: the catalog from ``keystile catalog load``, the
options from a config file and the environment, uvicorn as the command runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from keystile.cli import main
from tests.support import proxies
from tests.support.authz import API_CATALOG

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("", "[authz] dialect is required"),
        ('dialect = "nginx"', "needs trusted_proxies or shared_secret"),
        ('dialect = "nginx"\ntrusted_proxies = ["::1/129"]', "trusted_proxies"),
        ('dialect = "nginx"\ntrusted_proxy = ["::1/128"]', "unknown option(s) in [authz]"),
    ],
)
def test_a_bad_authz_table_is_one_line_and_exit_1(
    env: dict[str, str], tmp_path: Path, table: str, message: str
) -> None:
    config = tmp_path / "keystile.toml"
    config.write_text(f"[authz]\n{table}\n")
    result = CliRunner().invoke(main, ["--config", str(config), "authz"], env=env)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.skipif(not proxies.available("nginx"), reason="no nginx")
def test_keystile_authz_behind_nginx(env: dict[str, str], tmp_path: Path) -> None:
    catalog = tmp_path / "api-catalog.json"
    catalog.write_text(json.dumps(API_CATALOG))
    runner = CliRunner()
    assert runner.invoke(main, ["catalog", "load", str(catalog)], env=env).exit_code == 0
    created = runner.invoke(main, ["workspace", "create", "Acme"], env=env)
    workspace = created.output.split()[1]
    shown = runner.invoke(main, ["keys", "show", workspace], env=env).output
    pk = next(word for word in shown.split() if word.startswith("pk_"))
    assert (
        runner.invoke(main, ["rules", "add", workspace, "billing", "read"], env=env).exit_code == 0
    )

    config = tmp_path / "keystile.toml"
    config.write_text('[authz]\ndialect = "nginx"\n\n[gateway]\nretry_after = 3\n')
    authz, upstream, port = proxies.ports(3)
    process = subprocess.Popen(
        [sys.executable, "-m", "keystile", "--config", str(config), "authz", "--port", str(authz)],
        cwd=ROOT,
        env={**os.environ, **env, "KEYSTILE_AUTHZ_TRUSTED_PROXIES": "127.0.0.1/32"},
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "authz.log").open("wb"),
    )
    try:
        proxies.wait_listening(authz, process, tmp_path / "authz.log")
        servers = proxies.upstream_server(upstream) + proxies.nginx_front(
            f"127.0.0.1:{authz}", upstream, port
        )
        with (
            proxies.run_nginx(tmp_path / "nginx", servers, [upstream, port]),
            httpx.Client(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            allowed = client.get("/projects", headers={"X-Api-Key": pk})
            assert allowed.status_code == 200
            assert f"workspace={workspace} kind=publishable" in allowed.text
            assert allowed.text.rstrip().endswith("action=projects.list")
            blocked = client.get("/billing", headers={"X-Api-Key": pk})
            assert blocked.status_code == 403
            assert json.loads(blocked.content)["code"] == "action_blocked"
            assert client.get("/projects").status_code == 401
    finally:
        process.terminate()
        process.wait(20)


@pytest.mark.slow
def test_keystile_embedded_authz_uses_the_data_folder(tmp_path: Path) -> None:
    """``keystile --embedded authz`` runs on the data folder's own Redis and secrets, like
    ``serve``: no REDIS_URL, no master key in the environment."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTILE_", "REDIS_URL"))}
    embedded = [sys.executable, "-m", "keystile", "--embedded", "--data-dir", str(home)]
    catalog = tmp_path / "api-catalog.json"
    catalog.write_text(json.dumps(API_CATALOG))

    def run(*args: str) -> str:
        done = subprocess.run([*embedded, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("catalog", "load", str(catalog))
    workspace = run("workspace", "create", "Acme").split()[1]
    pk = next(w for w in run("keys", "show", workspace).split() if w.startswith("pk_"))
    run("rules", "add", workspace, "billing", "read")
    (port,) = proxies.ports(1)
    log = tmp_path / "authz.log"
    process = subprocess.Popen(
        [*embedded, "authz", "--port", str(port)],
        cwd=ROOT,
        env={
            **env,
            "KEYSTILE_AUTHZ_DIALECT": "nginx",
            "KEYSTILE_AUTHZ_TRUSTED_PROXIES": "127.0.0.1/32",
        },
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        proxies.wait_listening(port, process, log)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:

            def check(uri: str) -> httpx.Response:
                headers = {"X-Original-Method": "GET", "X-Original-URI": uri, "X-Api-Key": pk}
                return client.get("/", headers=headers)

            allowed = check("/projects")
            assert allowed.status_code == 200, allowed.text
            assert allowed.headers["x-keystile-action"] == "projects.list"
            assert json.loads(check("/billing").content)["code"] == "action_blocked"
    finally:
        process.terminate()
        process.wait(20)


def test_no_master_key_names_the_data_folder_way_out(tmp_path: Path) -> None:
    """Run where a demo keeps its data, without --embedded: the error says how to use it."""
    home = tmp_path / ".keystile"
    home.mkdir()
    (home / "secrets.toml").write_text("# the demo's\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTILE_", "REDIS_URL"))}
    result = CliRunner().invoke(main, ["--data-dir", str(home), "workspace", "list"], env=env)
    assert result.exit_code == 1
    assert "no master key" in result.output
    assert f"add --embedded (keystile --embedded --data-dir {home}" in result.output
    elsewhere = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path / "none"), "workspace", "list"], env=env
    )
    assert elsewhere.exit_code == 1
    assert "keystile --embedded [--data-dir DIR]" in elsewhere.output
    assert "Traceback" not in result.output + elsewhere.output
