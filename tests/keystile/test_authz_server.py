"""``keystile authz`` under the server its extras give: Granian with ``keystile[fast]`` (this
suite's install), uvicorn without it (a real process in which granian, uvloop and httptools
cannot be imported). Both answer the same checks the same way."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bench.authz_services import WITHOUT_FAST  # `keystile` without the fast extra
from keystile.cli import main
from tests.support import proxies
from tests.support.authz import API_CATALOG

ROOT = Path(__file__).resolve().parents[2]
UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


@pytest.fixture
def workspace(env: dict[str, str], tmp_path: Path) -> tuple[str, str]:
    """A workspace of the API's catalog with ``billing.read`` blocked: (id, publishable key)."""
    catalog = tmp_path / "api-catalog.json"
    catalog.write_text(json.dumps(API_CATALOG))
    runner = CliRunner()
    assert runner.invoke(main, ["catalog", "load", str(catalog)], env=env).exit_code == 0
    workspace_id = runner.invoke(main, ["workspace", "create", "Acme"], env=env).output.split()[1]
    shown = runner.invoke(main, ["keys", "show", workspace_id], env=env).output
    pk = next(word for word in shown.split() if word.startswith("pk_"))
    added = runner.invoke(main, ["rules", "add", workspace_id, "billing", "read"], env=env)
    assert added.exit_code == 0
    return workspace_id, pk


@contextlib.contextmanager
def authz(
    env: dict[str, str], log: Path, *, fast: bool, trusted: str = "127.0.0.1/32"
) -> Iterator[httpx.Client]:
    """``keystile authz`` (dialect nginx) as a user starts it; a client of it once it listens."""
    (port,) = proxies.ports(1)
    script = ["-m", "keystile"] if fast else ["-c", WITHOUT_FAST]
    process = subprocess.Popen(
        [sys.executable, *script, "authz", "--port", str(port)],
        cwd=ROOT,
        env={
            **os.environ,
            **env,
            "KEYSTILE_AUTHZ_DIALECT": "nginx",
            "KEYSTILE_AUTHZ_TRUSTED_PROXIES": trusted,
        },
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        proxies.wait_listening(port, process, log)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        process.terminate()
        assert process.wait(20) in (0, -15), log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize(("fast", "server"), [(True, "granian"), (False, "uvicorn")])
def test_authz_answers_under_the_server_its_extras_give(
    env: dict[str, str], workspace: tuple[str, str], tmp_path: Path, fast: bool, server: str
) -> None:
    workspace_id, pk = workspace
    log = tmp_path / "authz.log"
    with authz(env, log, fast=fast) as client:

        def check(uri: str, **headers: str) -> httpx.Response:
            described = {"X-Original-Method": "GET", "X-Original-URI": uri, **headers}
            return client.get("/_keystile", headers=described)

        allowed = check("/projects?page=2", **{"X-Api-Key": pk})
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["x-keystile-workspace"] == workspace_id
        assert allowed.headers["x-keystile-key-kind"] == "publishable"
        assert allowed.headers["x-keystile-action"] == "projects.list"
        assert allowed.content == b""
        blocked = check("/billing", **{"X-Api-Key": pk})
        assert blocked.status_code == 403
        assert json.loads(blocked.headers["x-keystile-problem"])["code"] == "action_blocked"
        assert "x-keystile-action" not in blocked.headers
        missing = check("/projects")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        # A check that carries the client's upgrade is decided as the WebSocket route and
        # answered in HTTP, under either server.
        stream = check("/events", **{"X-Api-Key": pk, **UPGRADE})
        assert stream.status_code == 200, stream.text
        assert stream.headers["x-keystile-action"] == "events.stream"
        plain = check("/events", **{"X-Api-Key": pk})
        assert json.loads(plain.headers["x-keystile-problem"])["code"] == "route_not_in_catalog"
    assert f"keystile authz: {server} on http://127.0.0.1:" in log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("fast", [True, False])
def test_the_peer_address_decides_trust_under_either_server(
    env: dict[str, str], workspace: tuple[str, str], tmp_path: Path, fast: bool
) -> None:
    _, pk = workspace
    with authz(env, tmp_path / "authz.log", fast=fast, trusted="10.0.0.0/8") as client:
        # Each names a trusted address: none is believed (no server reads them here).
        spoof = {
            "X-Forwarded-For": "10.0.0.1",
            "Forwarded": "for=10.0.0.1",
            "X-Real-IP": "10.0.0.1",
        }
        described = {"X-Original-Method": "GET", "X-Original-URI": "/projects", "X-Api-Key": pk}
        answer = client.get("/_keystile", headers={**described, **spoof})
        assert answer.status_code == 403
        assert json.loads(answer.headers["x-keystile-problem"])["code"] == "untrusted_caller"


def test_a_server_that_is_not_installed_is_one_line_and_exit_1(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "granian", None)
    env = {
        **env,
        "KEYSTILE_AUTHZ_DIALECT": "nginx",
        "KEYSTILE_AUTHZ_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    result = CliRunner().invoke(main, ["authz", "--server", "granian"], env=env)
    assert result.exit_code == 1
    assert "granian is not installed: pip install 'keystile[fast]'" in result.output
    assert "Traceback" not in result.output
