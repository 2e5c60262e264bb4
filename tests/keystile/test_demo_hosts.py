"""The demo answers only the Host names it binds to (no DNS rebinding from another site's
page), warns when it binds beyond loopback, and keeps its session cookie out of scripts'
and other sites' reach."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from keystile.demo import DemoOptions, admin_app, api_app, exposure_warning, trusted_hosts
from keystile.redis_server import free_port
from policies import Catalog, PolicyStore, Settings
from tests.support.served import served

ROOT = Path(__file__).resolve().parents[2]
REBOUND = "attacker.example"  # a name the attacker's DNS points at 127.0.0.1


@pytest.fixture
def settings(redis_url: str, master_key: str, digest_secret: str) -> Settings:
    return Settings(redis_url, (master_key,), digest_secret)


def test_loopback_binding_answers_loopback_names_only() -> None:
    hosts = trusted_hosts(DemoOptions())
    assert {"127.0.0.1", "localhost"} <= set(hosts) and REBOUND not in hosts
    assert exposure_warning(DemoOptions()) is None
    assert exposure_warning(DemoOptions(host="localhost")) is None


def test_binding_beyond_loopback_warns_and_names_the_hosts() -> None:
    options = DemoOptions(host="0.0.0.0", trusted_hosts=("demo.lan",))
    warning = exposure_warning(options)
    assert warning is not None and "beyond this machine" in warning and "demo.lan" in warning
    assert trusted_hosts(options)[-1] == "demo.lan"
    lan = DemoOptions(host="192.168.1.20")
    assert trusted_hosts(lan) == ["192.168.1.20"]


def test_the_admin_refuses_another_host(store: PolicyStore, settings: Settings) -> None:
    ws = store.create_workspace("Demo", actor="t").workspace_id
    app = admin_app(store, settings, ws, free_port(), trusted_hosts(DemoOptions()))
    client = app.test_client()
    page = client.get("/admin/tokens/", headers={"Host": "127.0.0.1:8001"})
    assert page.status_code == 200
    assert client.get("/admin/tokens/", headers={"Host": "localhost:8001"}).status_code == 200
    rebound = client.get("/admin/tokens/", headers={"Host": f"{REBOUND}:8001"})
    assert rebound.status_code == 400 and b"Publishable Key" not in rebound.data
    # Plain HTTP on loopback: not Secure, but HttpOnly and same-site.
    cookie = page.headers["Set-Cookie"]
    assert "; HttpOnly" in cookie and "; SameSite=Lax" in cookie and "; Secure" not in cookie


def test_the_api_refuses_another_host(settings: Settings, catalog: Catalog) -> None:
    with served(api_app(settings, catalog, trusted_hosts(DemoOptions()))) as url:
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.get(f"{url}/health", headers={"Host": REBOUND}).status_code == 400


def test_the_cli_prints_the_warning(tmp_path: Path) -> None:
    with socket.socket() as taken:  # the API port is taken: the demo stops right after
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "keystile", "--data-dir", str(tmp_path), "demo"]
        result = subprocess.run(
            [*command, "--host", "0.0.0.0", "--api-port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert "warning: --host 0.0.0.0 serves the demo beyond this machine" in result.stderr
    assert result.returncode == 1 and "already in use" in result.stderr
