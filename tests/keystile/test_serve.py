"""``keystile serve`` in front of the sample API, two uvicorn workers, a real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from flask import Flask

from admin_plugin import AdminIdentity
from keystile.redis_server import free_port
from keystile.serving import create_admin_app, otp_policy
from policies import ConfigError, PolicyStore, Settings
from policies.otp.codes import OtpPolicy

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def wait_until_serving(url: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    """Readiness: poll the exempt health route, bounded (uvicorn has no ready signal)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("keystile serve did not come up")


def test_serve_two_workers(
    redis_url: str, master_key: str, digest_secret: str, store: PolicyStore, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "keystile.toml"
    config.write_text('[gateway]\nexempt_paths = ["/health"]\n')
    env = {
        **os.environ,
        "KEYSTILE_REDIS_URL": redis_url,
        "KEYSTILE_MASTER_KEYS": master_key,
        "KEYSTILE_DIGEST_SECRET": digest_secret,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keystile",
            "--config",
            str(config),
            "serve",
            "keystile.sample_api:app",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", process)
        catalog = store.load_catalog()
        assert catalog is not None and catalog.module_names() == ["projects", "members", "billing"]
        created = store.create_workspace("Acme", actor="t")
        bearer = {"Authorization": f"Bearer {created.publishable_key}"}
        for _ in range(6):  # both workers answer the same
            assert httpx.get(f"http://127.0.0.1:{port}/billing", headers=bearer).status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/billing").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_refuses_a_bad_target(redis_url: str, master_key: str, digest_secret: str) -> None:
    env = {
        **os.environ,
        "KEYSTILE_REDIS_URL": redis_url,
        "KEYSTILE_MASTER_KEYS": master_key,
        "KEYSTILE_DIGEST_SECRET": digest_secret,
    }
    result = subprocess.run(
        [sys.executable, "-m", "keystile", "serve", "no.such:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot load the app 'no.such:app'" in result.stderr
    assert "Traceback" not in result.stderr


def test_admin_app_factory(
    redis_url: str, master_key: str, digest_secret: str, store: PolicyStore
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    settings = Settings(
        redis_url,
        (master_key,),
        digest_secret,
        {
            "smtp": {"sender": "keys@acme.test"},
            "admin": {"secret_key": "s" * 32},
            "otp": {"ttl_seconds": 300},
        },
        environ={"KEYSTILE_OTP_MAX_ATTEMPTS": "3"},
    )
    app = create_admin_app(lambda: AdminIdentity("1", "ops@acme.test", (ws,)), settings=settings)
    assert isinstance(app, Flask)
    page = app.test_client().get("/admin/tokens/")
    assert page.status_code == 200
    assert b"Publishable Key" in page.data
    # The session cookie (it holds the CSRF secret): HTTPS only, no scripts, same site.
    cookie = page.headers["Set-Cookie"]
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    plain = create_admin_app(
        lambda: AdminIdentity("1", "ops@acme.test", (ws,)), settings=settings, plain_http=True
    )
    cookie = plain.test_client().get("/admin/tokens/").headers["Set-Cookie"]
    assert "; Secure" not in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    assert app.extensions["keystile"].flow.policy == OtpPolicy(ttl_seconds=300, max_attempts=3)
    with pytest.raises(ConfigError, match="KEYSTILE_ADMIN_SECRET_KEY"):
        create_admin_app(lambda: None, settings=Settings(redis_url, (master_key,), digest_secret))
    bad = Settings(
        redis_url, (master_key,), digest_secret, environ={"KEYSTILE_OTP_MAX_ATTEMPTS": "99"}
    )
    with pytest.raises(ConfigError, match="OTP attempts must be between 1 and 10"):
        otp_policy(bad)


MYAPP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def health(request):
    return JSONResponse({"ok": True})


async def items(request):
    return JSONResponse(["one"])


app = Starlette(routes=[Route("/health", health), Route("/items", items, name="items.list")])
"""


def serve_console(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """The ``keystile`` console script, as a newcomer types it (``python -m`` would put the
    current folder on ``sys.path`` by itself, hiding the trip)."""
    script = Path(sys.executable).parent / "keystile"
    return subprocess.Popen(
        [str(script), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_an_app_from_its_own_folder(
    redis_url: str,
    master_key: str,
    digest_secret: str,
    store: PolicyStore,
    tmp_path: Path,
    workers: str,
) -> None:
    (tmp_path / "myapp.py").write_text(MYAPP)
    port = free_port()
    env = {
        **os.environ,
        "KEYSTILE_REDIS_URL": redis_url,
        "KEYSTILE_MASTER_KEYS": master_key,
        "KEYSTILE_DIGEST_SECRET": digest_secret,
        "KEYSTILE_GATEWAY_EXEMPT_PATHS": "/health",
    }
    process = serve_console(
        ["serve", "myapp:app", "--port", str(port), "--workers", workers], tmp_path, env
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", process)
        created = store.create_workspace("Acme", actor="t")
        bearer = {"Authorization": f"Bearer {created.publishable_key}"}
        assert httpx.get(f"http://127.0.0.1:{port}/items", headers=bearer).json() == ["one"]
        assert httpx.get(f"http://127.0.0.1:{port}/items").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_app_dir_and_embedded(tmp_path: Path) -> None:
    """``--app-dir`` from elsewhere; ``keystile --embedded serve``, the way out the gateway's
    start-up log names when no Redis answers."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "myapp.py").write_text(MYAPP)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTILE_", "REDIS_URL"))}
    env["KEYSTILE_GATEWAY_EXEMPT_PATHS"] = "/health"
    home = ["--embedded", "--data-dir", str(tmp_path / "home")]
    missing = subprocess.run(
        [str(Path(sys.executable).parent / "keystile"), *home, "serve", "myapp:app"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "cannot load the app 'myapp:app'" in missing.stderr
    port = free_port()
    process = serve_console(
        [*home, "serve", "myapp:app", "--app-dir", "../src", "--port", str(port)], elsewhere, env
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", process)
        assert httpx.get(f"http://127.0.0.1:{port}/items").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_exempt_opens_paths_and_says_so(tmp_path: Path) -> None:
    """``--exempt PATH`` (repeatable) opens paths with no key, over every worker; the start
    says which paths are open, or how to open one; a bad path is one line and exit 1."""
    (tmp_path / "myapp.py").write_text(MYAPP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTILE_", "REDIS_URL"))}
    home = ["--embedded", "--data-dir", str(tmp_path / "home")]
    script = str(Path(sys.executable).parent / "keystile")
    bad = subprocess.run(
        [script, *home, "serve", "myapp:app", "--exempt", "health"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "must start with '/'" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
    port = free_port()
    args = [*home, "serve", "myapp:app", "--port", str(port), "--workers", "2"]
    process = serve_console([*args, "--exempt", "/health", "--exempt", "/docs*"], tmp_path, env)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", process)
        assert httpx.get(f"http://127.0.0.1:{port}/items").status_code == 401
        for _ in range(4):  # either worker
            assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "no key needed for: /health, /docs*" in output, output
