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
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from bench.nginx import DOC_AUTHZ, DOC_UPSTREAM, DOCS, run_nginx, snippet, wait_listening
from keystile.redis_server import free_port

__all__ = ["DOCS", "run_nginx", "snippet", "wait_listening"]

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


def available(binary: str) -> bool:
    return shutil.which(binary) is not None


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
