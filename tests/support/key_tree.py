"""A folder tree for ``keystile scan`` and the scanner rules: real keys of every kind (made by
the project's own generator), near-misses, a binary file, a big file whose keys straddle the
scanner's 1 MiB chunks, a ``.git`` folder and a link out of the tree.

Where each key stands (line, column) is computed here from the whole text, independently of
the scanner's chunked reading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from policies.keys import keyformat
from policies.keys.keyformat import KeyKind

MIB = 1 << 20


@dataclass(frozen=True)
class Placed:
    path: str  # as the scanner prints it, relative to the tree's root
    line: int
    column: int
    kind: KeyKind
    workspace_id: str

    @property
    def secret(self) -> bool:
        return self.kind is not KeyKind.PUBLISHABLE


@dataclass
class KeyTree:
    root: Path
    found: list[Placed] = field(default_factory=list)  # what a default scan must report
    checksum_only: list[Placed] = field(default_factory=list)  # the format's shape, bad CRC
    in_binary: list[Placed] = field(default_factory=list)  # found with --binary
    out_of_tree: list[Placed] = field(default_factory=list)  # behind a link (--follow-symlinks)
    material: list[str] = field(default_factory=list)  # every key string written anywhere

    def key(self, kind: KeyKind, workspace_id: str | None = None) -> str:
        raw = keyformat.generate(kind, workspace_id or keyformat.new_workspace_id())
        self.material.append(raw)
        return raw

    def write(self, relative: str, data: bytes, into: list[Placed], *keys: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        into.extend(locate(relative, data, raw) for raw in keys)


def locate(relative: str, data: bytes, raw: str) -> Placed:
    text = data.decode("utf-8", errors="replace")
    index = text.index(raw)
    assert text.count(raw) == 1
    line_start = text.rfind("\n", 0, index) + 1
    line = text.count("\n", 0, index) + 1
    workspace = keyformat.WORKSPACE_PREFIX + raw[3:15]
    return Placed(relative, line, index - line_start + 1, KeyKind(raw[:2]), workspace)


def bad_checksum(raw: str) -> str:
    last = raw[-1]
    return raw[:-1] + ("1" if last == "0" else "0")


def build(root: Path, outside: Path) -> KeyTree:
    tree = KeyTree(root)
    sk, pk, tk = (tree.key(kind) for kind in (KeyKind.SDK, KeyKind.PUBLISHABLE, KeyKind.TOKEN))
    tk2 = tree.key(KeyKind.TOKEN, keyformat.WORKSPACE_PREFIX + sk[3:15])
    settings = f"# settings\nDEBUG = False\nSDK_KEY = \"{sk}\"\nTOKENS = ['{tk2}'] # x\n"
    tree.write("app/settings.py", settings.encode(), tree.found, sk, tk2)
    tree.write("web/index.html", f"<script>\n  k=({pk});\n</script>\n".encode(), tree.found, pk)
    tree.write("config/.env", f"A=1\r\nKEYSTILE_TOKEN={tk}\r\n".encode(), tree.found, tk)
    # Bytes that are not UTF-8 and a non-ASCII letter: a boundary (ASCII rules, as RE2's \b).
    odd = tree.key(KeyKind.SDK)
    latin = tree.key(KeyKind.TOKEN)
    data = b"\xff\xfe caf\xe9 " + odd.encode() + b"\xe9\nno\xc3\xa9" + latin.encode() + b"\n"
    tree.write("data/mixed.txt", data, tree.found, odd, latin)

    misses = [tree.key(kind) for kind in [*KeyKind] * 4]
    wrong_crc = [bad_checksum(misses[0]), bad_checksum(misses[1]), bad_checksum(misses[2])]
    edited = misses[3][:20] + ("A" if misses[3][20] != "A" else "B") + misses[3][21:]
    wrong_prefix_body = "ak_" + misses[4][3:-6]
    lines = [
        *wrong_crc,
        edited,
        wrong_prefix_body + keyformat._checksum(wrong_prefix_body),  # a valid CRC, no kind
        "SK_" + misses[5][3:],
        misses[6][:-1],  # truncated
        "x" + misses[7],  # glued to a letter before
        misses[8] + "0",  # and after
        "_" + misses[9] + "_",
        misses[10][:30] + " " + misses[10][30:],
        misses[11].replace("_", "-"),
    ]
    near = "\n".join(f"miss {line} end" for line in lines) + "\n"
    tree.write("notes/near_misses.md", near.encode(), tree.checksum_only, *wrong_crc, edited)

    blob = tree.key(KeyKind.SDK)
    tree.write("img/logo.bin", b"\x89PNG\0\0" + blob.encode() + b"\n", tree.in_binary, blob)
    tree.write(".git/config", f"token = {tree.key(KeyKind.TOKEN)}\n".encode(), [])
    (outside / "linked").mkdir(parents=True)
    far = tree.key(KeyKind.SDK)
    (outside / "linked" / "far.txt").write_text(f"{far}\n")
    os.symlink(outside / "linked", root / "linked")
    tree.out_of_tree.append(Placed("linked/far.txt", 1, 1, KeyKind.SDK, "ws_" + far[3:15]))
    _big(tree)
    return tree


def _big(tree: KeyTree) -> None:
    """6 MiB, keys at the scanner's 1 MiB chunk boundaries: across one, ending at one, glued
    to the last character of one (a miss), starting at one, after an "é" split by one, and
    glued to a character just before it (a miss: its start is in the carried tail)."""
    straddles, ends, glued, starts, after, glued_end = (tree.key(KeyKind.TOKEN) for _ in range(6))
    data = bytearray()

    def put(at: int, before: bytes, raw: str) -> None:
        """A new line of filler, ``before``, and ``raw`` starting at byte ``at``."""
        if data:
            data.extend(b"\n")
        data.extend(b"f" * (at - len(before) - len(data)))
        data.extend(before + raw.encode())
        assert data.index(raw.encode()) == at

    put(MIB - 20, b" ", straddles)
    put(2 * MIB - len(ends), b" ", ends)
    put(3 * MIB, b"x", glued)
    put(4 * MIB, b" ", starts)
    put(5 * MIB + 2, "é ".encode(), after)
    put(6 * MIB - 1 - len(glued_end), b"x", glued_end)
    data.extend(b" tail")  # no newline at the end
    tree.write("logs/big.log", bytes(data), tree.found, straddles, ends, starts, after)
