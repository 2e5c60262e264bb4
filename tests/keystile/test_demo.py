"""The README's first command, run as written, driven over HTTP like a newcomer would."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keystile import demo_traffic
from keystile.redis_server import free_port
from tests.support.demo import ROOT, Demo, readme_demo_command

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTILE_", "REDIS_URL"))}
    env.update(
        KEYSTILE_HOME=str(tmp_path / "home"),
        KEYSTILE_DEMO_API_PORT=str(free_port()),
        KEYSTILE_DEMO_ADMIN_PORT=str(free_port()),
        KEYSTILE_DEMO_SMTP_PORT=str(free_port()),
    )
    return env


@pytest.fixture
def demos() -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.stop()


def banner_values(text: str) -> tuple[str, str, str]:
    api = re.search(r"workspace API \(behind the gateway\): (\S+)", text)
    pk = re.search(r"publishable key: (pk_\S+)", text)
    ws = re.search(r"rules (?:add|remove) (ws_\S+) billing", text)
    assert api and pk and ws, text
    return api.group(1), pk.group(1), ws.group(1)


def status_within(url: str, headers: dict[str, str], expected: int, seconds: float) -> int:
    """Poll like a client would, bounded; returns the last status seen."""
    deadline = time.monotonic() + seconds
    while True:
        status = httpx.get(url, headers=headers, timeout=5).status_code
        if status == expected or time.monotonic() > deadline:
            return status


def test_readme_demo_end_to_end(demo_env: dict[str, str], demos: list[Demo]) -> None:
    command = readme_demo_command()
    first = Demo(["bash", "-c", command], demo_env)
    demos.append(first)
    text = first.wait_for("Ctrl-C stops the demo", timeout=300)  # includes pip install
    assert "new workspace seeded" in text
    api, pk, ws = banner_values(text)
    bearer = {"Authorization": f"Bearer {pk}"}
    cli = [sys.executable, "-m", "keystile", "--embedded", "--data-dir", demo_env["KEYSTILE_HOME"]]

    # The demo's first traffic, through its gateway, flushed and counted (keystile usage).
    expected = {"allowed": demo_traffic.total() - 20, "route_not_in_catalog": 20}
    deadline = time.monotonic() + 60
    while (totals := usage_totals(cli, ws, demo_env)) != expected:
        assert time.monotonic() < deadline, totals
        time.sleep(0.5)

    assert httpx.get(f"{api}/billing", headers=bearer).status_code == 200
    missing = httpx.get(f"{api}/billing")
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    metrics = httpx.get(f"{api}/metrics")  # exempt: no key, served where the banner says
    assert metrics.status_code == 200
    allowed = expected["allowed"] + 1  # the demo's traffic and the call above
    assert (
        f'keystile_gateway_decisions_total{{kind="publishable",outcome="allowed"}} {allowed}.0'
        in metrics.text
    ), metrics.text

    added = subprocess.run(
        [*cli, "rules", "add", ws, "billing", "read"],
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    assert status_within(f"{api}/billing", bearer, 403, seconds=1.0) == 403
    assert httpx.get(f"{api}/projects", headers=bearer).status_code == 200

    assert first.stop() == 0
    second = Demo(["bash", "-c", command], demo_env)
    demos.append(second)
    text = second.wait_for("Ctrl-C stops the demo", timeout=300)
    assert "data kept from last run" in text
    assert banner_values(text)[1] == pk
    assert httpx.get(f"{api}/billing", headers=bearer).status_code == 403
    assert second.stop() == 0


def usage_totals(cli: list[str], ws: str, env: dict[str, str]) -> dict[str, int]:
    """The publishable key's counts of the last hour, as ``keystile usage --json`` says."""
    args = [*cli, "usage", ws, "--key", "publishable", "--since", "1h", "--json"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    totals: dict[str, int] = json.loads(done.stdout)["totals"]
    return totals


def test_clear_failures(demo_env: dict[str, str], demos: list[Demo]) -> None:
    command = [sys.executable, "-m", "keystile", "demo"]
    running = Demo(command, demo_env)
    demos.append(running)
    running.wait_for("Ctrl-C stops the demo", timeout=60)

    # Same data folder, other ports: refused by the folder's lock.
    other_ports = {
        **demo_env,
        "KEYSTILE_DEMO_API_PORT": str(free_port()),
        "KEYSTILE_DEMO_ADMIN_PORT": str(free_port()),
        "KEYSTILE_DEMO_SMTP_PORT": str(free_port()),
    }
    second = subprocess.run(
        command, cwd=ROOT, env=other_ports, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 1
    assert "another keystile demo is already running" in second.stderr
    assert "Traceback" not in second.stderr

    # A port already taken.
    taken = subprocess.run(
        command,
        cwd=ROOT,
        env={**demo_env, "KEYSTILE_HOME": demo_env["KEYSTILE_HOME"] + "-other"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert taken.returncode == 1
    assert "already in use" in taken.stderr and "Traceback" not in taken.stderr


def test_unwritable_data_folder(demo_env: dict[str, str], tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    result = subprocess.run(
        [sys.executable, "-m", "keystile", "--data-dir", str(blocked / "home"), "demo"],
        cwd=ROOT,
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "not writable" in result.stderr and "Traceback" not in result.stderr


def run_banner(text: str, env: dict[str, str]) -> list[tuple[str, int]]:
    """Run the banner's "Try it" lines in order, as a reader would paste them, and check that
    each curl answers the status its comment states; returns (line, status) as seen."""
    section = text.split("Try it:\n", 1)[1].split("\n\n", 1)[0]
    seen: list[tuple[str, int]] = []
    for line in (raw.strip() for raw in section.splitlines()):
        if not line or line.startswith("#"):
            continue
        command, _, comment = line.partition("   # ")
        words = shlex.split(command)
        if words[0] != "curl":  # the CLI line: run it against the demo's data folder
            assert words[:2] == ["keystile", "--embedded"], line
            done = subprocess.run(
                [sys.executable, "-m", *words],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            continue
        stated = int(comment.split(":")[0])
        headers = dict(
            tuple(h.split(": ", 1))
            for h in (words[i + 1] for i, w in enumerate(words) if w == "-H")
        )
        # A rule change reaches the gateway within its documented 1 s worst case.
        status = status_within(words[-1], headers, stated, seconds=1.0)
        seen.append((line, status))
        assert status == stated, f"the banner says {comment!r}, the API answered {status}: {line}"
    return seen


def test_banner_tells_the_truth_on_first_start_and_restarts(
    demo_env: dict[str, str], demos: list[Demo]
) -> None:
    """The trip: after a restart that kept a rule blocking billing.read, the banner still
    printed "# 200: allowed" for /billing. Every stated outcome is now checked by running it."""
    command = [sys.executable, "-m", "keystile", "demo"]
    statuses = []
    for run in range(3):
        demo = Demo(command, demo_env)
        demos.append(demo)
        text = demo.wait_for("Ctrl-C stops the demo", timeout=120)
        assert ("new workspace seeded" in text) == (run == 0)
        statuses.append([status for _, status in run_banner(text, demo_env)])
        assert demo.stop() == 0
    # First start: allowed, then blocked by the rule it adds; the restart finds the rule and
    # says so, then lifts it; the next restart is back to the first story.
    assert statuses == [[200, 401, 403], [403, 401, 200], [200, 401, 403]]


def test_banner_with_a_whole_module_rule_and_pinned_origins(
    demo_env: dict[str, str], demos: list[Demo]
) -> None:
    """Rules the banner did not write itself (billing:* and billing:read together) and a
    publishable key pinned to origins: still true."""
    command = [sys.executable, "-m", "keystile", "demo"]
    first = Demo(command, demo_env)
    demos.append(first)
    ws = banner_values(first.wait_for("Ctrl-C stops the demo", timeout=120))[2]
    assert first.stop() == 0
    cli = [sys.executable, "-m", "keystile", "--embedded", "--data-dir", demo_env["KEYSTILE_HOME"]]
    for args in (
        ["rules", "add", ws, "billing", "*"],
        ["rules", "add", ws, "billing", "read"],
        ["workspace", "origins", ws, "https://app.example"],
    ):
        done = subprocess.run([*cli, *args], env=demo_env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    second = Demo(command, demo_env)
    demos.append(second)
    text = second.wait_for("Ctrl-C stops the demo", timeout=120)
    assert "billing:*, billing:read" in text and "Origin: https://app.example" in text
    assert [status for _, status in run_banner(text, demo_env)] == [403, 401, 200]


def test_demo_with_an_unreachable_redis_url(demo_env: dict[str, str]) -> None:
    port = free_port()  # nothing listens there
    env = {**demo_env, "REDIS_URL": f"redis://:hunter2@127.0.0.1:{port}/0"}
    result = subprocess.run(
        [sys.executable, "-m", "keystile", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "hunter2" not in line
    assert f"Redis is unavailable at redis://:***@127.0.0.1:{port}/0" in line
    assert "start Redis at that URL" in line and "keystile --embedded demo" in line
    # The way out it names: the demo's own Redis, whatever REDIS_URL says.
    demo = Demo([sys.executable, "-m", "keystile", "--embedded", "demo"], env)
    try:
        assert "new workspace seeded" in demo.wait_for("Ctrl-C stops the demo", timeout=120)
    finally:
        assert demo.stop() == 0


def test_data_dir_is_accepted_after_demo_too(demo_env: dict[str, str], tmp_path: Path) -> None:
    """``keystile demo --data-dir DIR`` is the same as ``keystile --data-dir DIR demo``."""
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the folder should go: not writable as one
    for args in (["demo", "--data-dir", str(blocked)], ["--data-dir", str(blocked), "demo"]):
        done = subprocess.run(
            [sys.executable, "-m", "keystile", *args],
            env=demo_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert f"data folder {blocked} is not writable" in done.stderr, done.stderr
