"""The README's command 1 where a new user stands: a fresh copy of the tree, a new venv with
exactly the extras the README installs (never ``test``), what the registry serves today.

The command is read from the README (one source) and run as written; every line of the
banner's "Try it" is then run as printed and its answer checked against what the banner
says; Ctrl-C must stop everything it started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from keystile.redis_server import free_port
from tests.support.demo import ROOT, Demo, readme_demo_command

pytestmark = pytest.mark.slow
EXPECTED = re.compile(r"^(?P<line>.*?)\s+#\s+(?P<status>\d{3}): (?P<what>.+)$")


def fresh_tree(target: Path) -> Path:
    """The files a clone has (tracked, and new ones git does not ignore), nothing else."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def newcomer_env() -> dict[str, str]:
    """This machine's environment less anything a test run or a venv put there."""
    drop = ("KEYSTILE_", "REDIS_URL", "VIRTUAL_ENV", "PYTHONPATH", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        KEYSTILE_DEMO_API_PORT=str(free_port()),
        KEYSTILE_DEMO_ADMIN_PORT=str(free_port()),
        KEYSTILE_DEMO_SMTP_PORT=str(free_port()),
    )
    return env


def try_lines(banner: str) -> list[str]:
    block = banner.split("Try it:", 1)[1].split("Ctrl-C stops the demo", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


def answer_of(curl_output: str) -> tuple[int, str]:
    """The status of ``curl -i``'s last response and what the banner would call it."""
    head, _, body = curl_output.replace("\r\n", "\n").rpartition("\n\n")
    status = int(re.findall(r"^HTTP/\S+ (\d{3})", head or curl_output, re.M)[-1])
    if "application/problem+json" in head.lower():
        return status, json.loads(body)["code"].replace("_", " ")
    return status, "allowed"


def run_line(line: str, cwd: Path, env: dict[str, str], retry_for: float) -> None:
    """One banner line, run as printed; a curl line's answer must be the one stated (retried
    for ``retry_for`` s after a CLI change, which reaches the gateway over pub/sub)."""
    expected = EXPECTED.match(line)
    command = expected.group("line") if expected else line
    deadline = time.monotonic() + retry_for
    while True:
        done = subprocess.run(
            ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        if expected is None:
            return
        got = answer_of(done.stdout)
        want = (int(expected.group("status")), expected.group("what"))
        if got == want:
            return
        assert time.monotonic() < deadline, (line, got, done.stdout)


def left_running(folder: Path) -> list[str]:
    """Processes whose command line or working folder is inside ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(folder) in cmdline or cwd.startswith(str(folder)):
            found.append(f"{proc.name}: {cmdline}")
    return found


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_readme_command_one_on_a_fresh_tree(tmp_path: Path) -> None:
    tree = fresh_tree(tmp_path / "keystile")
    env = newcomer_env()
    demo = Demo(["bash", "-c", readme_demo_command()], env, cwd=tree)
    try:
        banner = demo.wait_for("Ctrl-C stops the demo", timeout=600)  # pip install included
        installed = subprocess.run(
            [str(tree / ".venv/bin/python"), "-m", "pip", "list", "--format=json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        names = {p["name"].lower() for p in json.loads(installed)}
        assert "pytest" not in names and "httpx" not in names  # the test extra stayed out

        lines = try_lines(banner)
        assert any(line.startswith("curl") for line in lines), banner
        after_change = 0.0
        for line in lines:
            if line.startswith("#"):
                continue
            run_line(line, tree, env, retry_for=after_change)
            after_change = 0.0 if line.startswith("curl") else 2.0

        for label in (r"gateway metrics \(Prometheus\):", r"admin, Tokens page:"):
            url = re.search(label + r"\s+(\S+)", banner)
            assert url, (label, banner)
            status = subprocess.run(  # the address as printed answers, with no redirect
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url.group(1)],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
            assert status == "200", (url.group(1), status)
    finally:
        code = demo.stop()  # Ctrl-C, to the demo's process group
    assert code == 0, "".join(demo.output)
    assert "Traceback" not in "".join(demo.output)
    assert left_running(tree) == []
    ports = [int(env[f"KEYSTILE_DEMO_{p}_PORT"]) for p in ("API", "ADMIN", "SMTP")]
    assert [p for p in ports if listening(p)] == []
