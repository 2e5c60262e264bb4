"""Debian's nginx and caddy, run by the tests with the configs of ``docs/proxies.md``.

Each runs in the foreground (``daemon off``, ``caddy run``) on free loopback ports with its
own config, prefix, pid file, logs and temp folders in a temp directory, and is stopped by
the ``with`` block: nothing touches a system nginx or caddy. The docs' snippets are used as
written; only their ports change. A test-only nginx server is the non-Python upstream: it
answers with fixed text naming the identity headers it received.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from keystile.redis_server import free_port

DOCS = Path(__file__).resolve().parents[2] / "docs" / "proxies.md"
# The example ports in the docs, replaced by free ones.
DOC_AUTHZ = "127.0.0.1:9000"
DOC_UPSTREAM = "127.0.0.1:8080"

IDENTITY = " ".join(
    f"{field}=$http_x_keystile_{header}"
    for field, header in (
        ("workspace", "workspace"),
        ("kind", "key_kind"),
        ("key_id", "key_id"),
        ("action", "action"),
    )
)
UPSTREAM_SERVER = (
    """
server {
    listen 127.0.0.1:%(port)d;
    default_type text/plain;
    location / {
        return 200 "upstream $request_method $request_uri """
    + IDENTITY
    + """\\n";
    }
}
"""
)


def snippet(language: str, docs: Path = DOCS) -> str:
    """The first fenced block of ``language`` in the docs."""
    found = re.search(rf"```{language}\n(.*?)```", docs.read_text("utf-8"), re.S)
    assert found is not None, f"no {language} block in {docs}"
    return found.group(1)


def available(binary: str) -> bool:
    return shutil.which(binary) is not None


def wait_listening(
    port: int, process: subprocess.Popen[bytes], log: Path, seconds: float = 20
) -> None:
    """Readiness: the port accepts (neither proxy has a ready signal), bounded."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}: {log.read_text(errors='replace')}")


def nginx_config(folder: Path, servers: str, *, workers: int = 1) -> str:
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root root;" if os.geteuid() == 0 else ""
    return f"""{user}
daemon off;
worker_processes {workers};
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp}
{servers}
}}
"""


@contextlib.contextmanager
def run_nginx(folder: Path, servers: str, ports: list[int], *, workers: int = 1) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(nginx_config(folder, servers, workers=workers))
    log = folder / "error.log"
    log.touch()
    process = subprocess.Popen(
        ["nginx", "-p", str(folder), "-c", str(conf), "-e", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    try:
        for port in ports:
            wait_listening(port, process, log)
        yield
    finally:
        process.terminate()  # SIGTERM: fast shutdown of the master and its workers
        process.wait(10)


def upstream_server(port: int) -> str:
    return UPSTREAM_SERVER % {"port": port}


def nginx_front(authz: str, upstream: int, port: int, docs_block: str | None = None) -> str:
    """The docs' nginx block with these ports (``authz``: ``host:port``)."""
    block = snippet("nginx") if docs_block is None else docs_block
    block = block.replace(DOC_AUTHZ, authz).replace(DOC_UPSTREAM, f"127.0.0.1:{upstream}")
    return block.replace("listen 8000;", f"listen 127.0.0.1:{port};")


@contextlib.contextmanager
def run_caddy(folder: Path, authz: str, upstream: int, port: int) -> Iterator[None]:
    """The docs' Caddyfile with these ports, no admin endpoint, no HTTPS, state in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    site = snippet("caddyfile").replace(DOC_AUTHZ, authz)
    site = site.replace(DOC_UPSTREAM, f"127.0.0.1:{upstream}")
    site = site.replace(":8000 {", f":{port} {{\n\tbind 127.0.0.1")
    caddyfile = folder / "Caddyfile"
    caddyfile.write_text("{\n\tadmin off\n\tauto_https off\n}\n\n" + site)
    log = folder / "caddy.log"
    env = {
        **os.environ,
        "HOME": str(folder),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "config"),
    }
    process = subprocess.Popen(
        ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        env=env,
    )
    try:
        wait_listening(port, process, log)
        yield
    finally:
        process.terminate()
        process.wait(10)


def ports(count: int) -> list[int]:
    return [free_port() for _ in range(count)]
