"""``keystile scan`` as a user runs it: a real process, its stdout, stderr and exit status."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keystile.cli import main
from policies.keys import keyformat
from policies.keys.keyformat import KeyKind
from tests.support.key_tree import KeyTree, Placed, build

WS = "ws_AbCdEfGh1234"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> KeyTree:
    base = tmp_path_factory.mktemp("scan_cli")
    (base / "tree").mkdir()
    return build(base / "tree", base / "outside")


def keystile(
    *args: str, cwd: Path | None = None, stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    # No Redis, no secrets: the scan is offline.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTILE_", "REDIS_"))}
    done = subprocess.run(
        [sys.executable, "-m", "keystile", "scan", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def assert_no_key_material(tree: KeyTree, *outputs: str) -> None:
    """Neither a key nor any 8 characters of its secret part and checksum."""
    text = "\n".join(outputs)
    for raw in tree.material:
        secret = raw[15:]
        assert not any(secret[i : i + 8] in text for i in range(len(secret) - 7)), raw[:3]


def test_json_lists_exactly_the_real_keys_and_exits_1(tree: KeyTree) -> None:
    done = keystile("--json", ".", cwd=tree.root)
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert set(document) == {
        "version",
        "findings",
        "secrets",
        "files_read",
        "skipped_binary",
        "errors",
    }
    assert document["version"] == 1
    found = {
        Placed(f["path"], f["line"], f["column"], KeyKind(f["kind"]), f["workspace_id"])
        for f in document["findings"]
    }
    assert found == set(tree.found)
    assert len(document["findings"]) == len(tree.found)
    for finding in document["findings"]:
        kind = KeyKind(finding["kind"])
        assert (finding["label"], finding["secret"]) == (kind.label, kind != KeyKind.PUBLISHABLE)
    assert document["secrets"] == sum(placed.secret for placed in tree.found) > 0
    assert document["skipped_binary"] == ["img/logo.bin"]
    assert document["errors"] == []
    assert_no_key_material(tree, done.stdout, done.stderr)


def test_text_names_file_line_column_kind_and_workspace_never_the_key(tree: KeyTree) -> None:
    done = keystile("app", "web", "--binary", cwd=tree.root)
    assert done.returncode == 1
    sk, tk, pk = (
        next(p for p in tree.found if p.path == path and p.kind is kind)
        for path, kind in [
            ("app/settings.py", KeyKind.SDK),
            ("app/settings.py", KeyKind.TOKEN),
            ("web/index.html", KeyKind.PUBLISHABLE),
        ]
    )
    assert done.stdout.splitlines() == [
        f"app/settings.py:{sk.line}:{sk.column}: SDK access key (sk_) of workspace "
        f"{sk.workspace_id}",
        f"app/settings.py:{tk.line}:{tk.column}: workspace token (tk_) of workspace "
        f"{tk.workspace_id}",
        f"web/index.html:{pk.line}:{pk.column}: publishable key (pk_) of workspace "
        f"{pk.workspace_id} (public by design)",
    ]
    assert "2 files read, 2 secret keys and 1 publishable key found" in done.stderr
    assert "keystile keys roll-sdk" in done.stderr
    assert_no_key_material(tree, done.stdout, done.stderr)


def test_the_binary_file_skipped_is_said(tree: KeyTree) -> None:
    done = keystile("img", cwd=tree.root)
    assert (done.returncode, done.stdout) == (0, "")
    assert "0 files read" in done.stderr and "1 binary file skipped" in done.stderr


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (f"const key = '{keyformat.generate(KeyKind.PUBLISHABLE, WS)}';\n", 0),
        (f"TOKEN={keyformat.generate(KeyKind.TOKEN, WS)}\n", 1),
        (f"{keyformat.generate(KeyKind.SDK, WS)[:-1]}0 nothing real\n", 0),
        ("", 0),
    ],
)
def test_stdin_and_the_exit_status(content: str, status: int) -> None:
    done = CliRunner().invoke(main, ["scan", "--json", "-"], input=content.encode())
    assert done.exit_code == status, done.output
    document = json.loads(done.stdout)
    assert document["secrets"] == status
    assert all(finding["path"] == "-" for finding in document["findings"])
    if content:
        assert content[20:40] not in done.output


def test_an_unreadable_path_is_a_message_and_exit_2(tmp_path: Path) -> None:
    raw = keyformat.generate(KeyKind.SDK, WS)
    (tmp_path / "k.txt").write_text(raw)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "s.sock"))
        done = keystile("s.sock", "k.txt", cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot read s.sock: " in done.stderr
    assert done.stdout.startswith("k.txt:1:1: SDK access key")  # the rest is still read


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a PATH"),
        (("no/such/file",), "does not exist"),
        (("--serve-verifier", "8740"), "HOST:PORT"),
        (("--serve-verifier", "127.0.0.1:0", "."), "give no PATH"),
    ],
)
def test_usage_errors_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(main, ["scan", *args])
    assert done.exit_code == 2
    assert message in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)


def test_hostile_file_names_print_one_line_each_and_no_control_characters(
    tmp_path: Path,
) -> None:
    """A name with a newline cannot forge a finding's line, nor one with an escape sequence
    reach the terminal (a scan of someone else's tree); --json keeps the names exact."""
    raw = keyformat.generate(KeyKind.TOKEN, WS)
    names = ["a\nfake.txt:9:9: nothing", "b\x1b]0;pwned\x07.env", "c\x1b[2J.env"]
    for name in names:
        (tmp_path / name).write_text(f"TOKEN={raw}\n")
    done = keystile(".", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and all(": workspace token (tk_)" in line for line in lines)
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert lines[0].startswith("a\\nfake.txt:9:9: nothing:1:7: ")
    assert_no_key_material_in(raw, done.stdout + done.stderr)
    document = json.loads(keystile("--json", ".", cwd=tmp_path).stdout)
    assert sorted(f["path"] for f in document["findings"]) == sorted(names)


def assert_no_key_material_in(raw: str, text: str) -> None:
    secret = raw[15:]
    assert not any(secret[i : i + 8] in text for i in range(len(secret) - 7))
