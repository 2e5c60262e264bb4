"""What ``keystile scan`` reads and what it found: files, folders (recursively) and stdin.

Offline: no Redis, no secrets. A folder's symbolic links are not followed (unless asked),
``.git`` folders are skipped, and only regular files are read there; a file with a NUL
byte in its first 8,000 bytes is binary and skipped (unless asked). Output: ``keystile.cli.scan``.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import BinaryIO

from policies.keys.finder import FoundKey, find_keys, is_binary

STDIN = "-"
CHUNK_BYTES = 1 << 20
SKIPPED_FOLDERS = frozenset({".git"})


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    key: FoundKey


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0  # files read
    binary: list[str] = field(default_factory=list)  # skipped as binary
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, why unreadable)

    @property
    def secrets(self) -> int:
        return sum(finding.key.secret for finding in self.findings)


@dataclass(frozen=True)
class Scanner:
    excludes: Sequence[str] = ()
    binary: bool = False  # read binary files too
    follow_symlinks: bool = False
    chunk_bytes: int = CHUNK_BYTES

    def scan(self, paths: Sequence[str], stdin: BinaryIO | None = None) -> Report:
        report = Report()
        seen: set[tuple[int, int]] = set()  # with follow_symlinks: each file, folder once
        for path in paths:
            if path == STDIN:
                self._read(report, STDIN, stdin or sys.stdin.buffer)
            elif not self._excluded(path, path):
                for file in self._files(report, path, seen):
                    self._open(report, file)
        return report

    def _excluded(self, shown: str, relative: str) -> bool:
        name = os.path.basename(relative)
        candidates = (name, relative, shown)
        return any(fnmatchcase(c, glob) for glob in self.excludes for c in candidates)

    def _files(self, report: Report, top: str, seen: set[tuple[int, int]]) -> Iterator[str]:
        """``top`` if a file (named on the command line: read whatever it is), else the
        regular files under it, in name order."""
        if not os.path.isdir(top):
            yield top
            return
        if self.follow_symlinks:
            stat = os.stat(top)
            seen.add((stat.st_dev, stat.st_ino))
        stack = [(top, "")]
        while stack:
            folder, relative = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda entry: entry.name)
            except OSError as exc:
                report.errors.append((_shown(top, relative), exc.strerror or str(exc)))
                continue
            folders = []
            for entry in entries:
                rel = f"{relative}/{entry.name}" if relative else entry.name
                shown = _shown(top, rel)
                if entry.name in SKIPPED_FOLDERS or self._excluded(shown, rel):
                    continue
                follow = self.follow_symlinks
                try:
                    if not follow and entry.is_symlink():
                        continue
                    if follow and not _first_visit(entry, seen):
                        continue  # a loop, or a file already read by another name
                    if entry.is_dir(follow_symlinks=follow):
                        folders.append((entry.path, rel))
                    elif entry.is_file(follow_symlinks=follow):
                        yield shown
                except FileNotFoundError:
                    continue  # a dangling link, a vanished file
                except OSError as exc:
                    report.errors.append((shown, exc.strerror or str(exc)))
            stack.extend(reversed(folders))

    def _open(self, report: Report, path: str) -> None:
        try:
            with open(path, "rb") as stream:
                self._read(report, path, stream)
        except OSError as exc:
            report.errors.append((path, exc.strerror or str(exc)))

    def _read(self, report: Report, path: str, stream: BinaryIO) -> None:
        chunks = iter(lambda: stream.read(self.chunk_bytes), b"")
        head = next(chunks, b"")
        if is_binary(head) and not self.binary:
            report.binary.append(path)
            return
        report.files += 1
        for key in find_keys(itertools.chain((head,), chunks)):
            report.findings.append(Finding(path, key))


def _shown(top: str, relative: str) -> str:
    """A path as printed: under the folder named on the command line (``.``: left out)."""
    if not relative:
        return top
    return relative if os.path.normpath(top) == "." else os.path.join(top, relative)


def _first_visit(entry: os.DirEntry[str], seen: set[tuple[int, int]]) -> bool:
    stat = entry.stat(follow_symlinks=True)
    identity = (stat.st_dev, stat.st_ino)
    if identity in seen:
        return False
    seen.add(identity)
    return True
