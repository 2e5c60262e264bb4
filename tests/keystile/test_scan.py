from __future__ import annotations

import io
import os
import socket
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keystile.scan import Report, Scanner
from policies.keys import keyformat
from policies.keys.keyformat import KeyKind
from tests.support.key_tree import KeyTree, Placed, build


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> KeyTree:
    base = tmp_path_factory.mktemp("scan")
    (base / "tree").mkdir()
    return build(base / "tree", base / "outside")


@pytest.fixture
def in_tree(tree: KeyTree, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyTree]:
    monkeypatch.chdir(tree.root)
    yield tree


def found(report: Report) -> set[Placed]:
    return {
        Placed(f.path, f.key.line, f.key.column, f.key.kind, f.key.workspace_id)
        for f in report.findings
    }


def test_exactly_the_real_keys_are_found(in_tree: KeyTree) -> None:
    report = Scanner().scan(["."])
    assert found(report) == set(in_tree.found)
    assert len(report.findings) == len(in_tree.found)  # each once
    assert report.secrets == sum(placed.secret for placed in in_tree.found)
    assert report.binary == ["img/logo.bin"]
    assert report.errors == []
    assert {kind for kind in KeyKind} == {placed.kind for placed in in_tree.found}


def test_binary_files_are_read_when_asked(in_tree: KeyTree) -> None:
    report = Scanner(binary=True).scan(["."])
    assert found(report) == {*in_tree.found, *in_tree.in_binary}
    assert report.binary == []


def test_links_out_of_the_tree_are_followed_only_when_asked(in_tree: KeyTree) -> None:
    report = Scanner(follow_symlinks=True).scan(["."])
    assert found(report) == {*in_tree.found, *in_tree.out_of_tree}


def test_following_links_reads_each_file_once_and_ends(tmp_path: Path) -> None:
    raw = keyformat.generate(KeyKind.SDK, "ws_AbCdEfGh1234")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "k.txt").write_text(raw)
    os.symlink(tmp_path, tmp_path / "a" / "loop")  # back to the top
    os.symlink(tmp_path / "a" / "k.txt", tmp_path / "same.txt")
    report = Scanner(follow_symlinks=True).scan([str(tmp_path)])
    assert len(report.findings) == 1
    assert report.findings[0].path in {f"{tmp_path}/a/k.txt", f"{tmp_path}/same.txt"}


@pytest.mark.parametrize(
    ("glob", "left_out"),
    [
        ("*.log", "logs/big.log"),  # a name
        ("logs", "logs/big.log"),  # a folder's name
        ("app/settings.py", "app/settings.py"),  # a path
        ("app/*", "app/settings.py"),
    ],
)
def test_excluded_files_and_folders_are_not_read(
    in_tree: KeyTree, glob: str, left_out: str
) -> None:
    report = Scanner(excludes=[glob]).scan(["."])
    assert found(report) == {p for p in in_tree.found if p.path != left_out}


def test_paths_are_shown_under_the_folder_named(tree: KeyTree) -> None:
    report = Scanner(excludes=["*.log"]).scan([str(tree.root / "app"), str(tree.root / "web")])
    paths = {finding.path for finding in report.findings}
    assert paths == {f"{tree.root}/app/settings.py", f"{tree.root}/web/index.html"}


def test_small_chunks_find_the_same(in_tree: KeyTree) -> None:
    small = Scanner(excludes=["*.log"], chunk_bytes=7).scan(["."])
    assert found(small) == {p for p in in_tree.found if p.path != "logs/big.log"}


def test_stdin_is_a_file_named_dash() -> None:
    raw = keyformat.generate(KeyKind.TOKEN, "ws_AbCdEfGh1234")
    report = Scanner().scan(["-"], stdin=io.BytesIO(f"x\n  {raw}\n".encode()))
    assert found(report) == {Placed("-", 2, 3, KeyKind.TOKEN, "ws_AbCdEfGh1234")}
    binary = Scanner().scan(["-"], stdin=io.BytesIO(b"\0" + raw.encode()))
    assert (binary.findings, binary.binary) == ([], ["-"])


def test_an_unreadable_file_is_an_error_and_the_rest_is_read(tmp_path: Path) -> None:
    raw = keyformat.generate(KeyKind.SDK, "ws_AbCdEfGh1234")
    (tmp_path / "k.txt").write_text(raw)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "s.sock"))  # exists, cannot be opened as a file
        report = Scanner().scan([str(tmp_path / "s.sock"), str(tmp_path)])
    assert [path for path, _ in report.errors] == [str(tmp_path / "s.sock")]  # walks skip it
    assert [finding.path for finding in report.findings] == [str(tmp_path / "k.txt")]


class Endless(io.RawIOBase):
    """``size`` bytes of one line, made as they are read, then a key: never all in memory."""

    def __init__(self, size: int, tail: bytes) -> None:
        self.left, self.tail = size, tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left:
            n = min(len(buffer), self.left)
            buffer[:n] = b"x" * n
            self.left -= n
            return n
        n = len(self.tail)  # shorter than any buffer BufferedReader passes
        buffer[:n] = self.tail
        self.tail = b""
        return n


def test_a_huge_line_is_read_in_bounded_memory() -> None:
    raw = keyformat.generate(KeyKind.SDK, "ws_AbCdEfGh1234")
    size = 48 * 1024 * 1024
    stream = io.BufferedReader(Endless(size, b" " + raw.encode()))
    tracemalloc.start()
    try:
        report = Scanner().scan(["-"], stdin=stream)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found(report) == {Placed("-", 1, size + 2, KeyKind.SDK, "ws_AbCdEfGh1234")}
    assert peak < 8 * 1024 * 1024  # a few 1 MiB chunks, not 48 MiB
