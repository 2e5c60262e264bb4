"""nginx for the bench and the tests: a foreground process with its own config, prefix, pid
file, logs and temp folders in a given folder, on the ports the config names.

Nothing here touches a system nginx. :func:`snippet` reads a fenced block of
``docs/proxies.md``, so the bench and the tests run the documented configuration.
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

DOCS = Path(__file__).resolve().parents[1] / "docs" / "proxies.md"
# The example addresses in the docs, replaced by free ports.
DOC_AUTHZ = "127.0.0.1:9000"
DOC_UPSTREAM = "127.0.0.1:8080"


def snippet(language: str, docs: Path = DOCS) -> str:
    """The first fenced block of ``language`` in the docs."""
    found = re.search(rf"```{language}\n(.*?)```", docs.read_text("utf-8"), re.S)
    assert found is not None, f"no {language} block in {docs}"
    return found.group(1)


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
def run_nginx(
    folder: Path, servers: str, ports: list[int], *, workers: int = 1, cpus: set[int] | None = None
) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(nginx_config(folder, servers, workers=workers))
    log = folder / "error.log"
    log.touch()
    argv = ["nginx", "-p", str(folder), "-c", str(conf), "-e", str(log)]
    if cpus and shutil.which("taskset"):
        argv = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *argv]
    process = subprocess.Popen(  # our own argv, no shell
        argv,
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
