"""How a Lua script and its Python callers agree: named keys and arguments, named replies.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class Reply(IntEnum):
    """Every status a script answers with; ``> 0`` counts what it changed (or accepted)."""

    OK = 1
    UNCHANGED = 0
    UNKNOWN_WORKSPACE = -1
    FIELD_MISSING = -2  # a NEED guard failed: the field (token, secret...) is not there
    EXISTS = -3  # an ABSENT guard failed, or the workspace exists already
    STAGED_MISMATCH = -4  # a restore's staged section is not the size it was written with
    COOLDOWN = -5  # one-time password sent too recently (the reply's second item: wait)
    HOURLY_CAP = -6  # one-time passwords: the hourly cap is reached (second item: wait)
    NO_CHALLENGE = -7
    EXPIRED = -8
    VOID = -9  # a wrong code on the last try: the challenge is gone
    WRONG = -10  # a wrong code (second item: tries left)
    CONFLICT = -11  # a SAME guard failed: the value changed since it was read


_REPLIES = "local R = {" + ", ".join(f"{r.name} = {int(r)}" for r in Reply) + "}\n"


@dataclass(frozen=True, slots=True)
class Script:
    """One call of a script (:meth:`LuaScript.call`), as an operation yields it."""

    script: LuaScript
    keys: tuple[str, ...]
    args: tuple[Any, ...]

    def command(self, *, by_sha: bool) -> tuple[Any, ...]:
        """``EVALSHA`` (the script is loaded) or ``EVAL`` (send its text), with its keys."""
        head = ("EVALSHA", self.script.sha) if by_sha else ("EVAL", self.script.text)
        return (*head, len(self.keys), *self.keys, *self.args)


@dataclass(frozen=True, slots=True)
class LuaScript:
    name: str
    body: str
    keys: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    lists: frozenset[str] = frozenset()  # args passed as one JSON array each
    text: str = field(init=False)
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        rest = [k for k in self.keys if k.startswith("*")]
        if (rest and self.keys[-1] not in rest) or len(rest) > 1:
            raise ValueError(f"script {self.name}: only the last key may take the rest")
        if not self.lists <= set(self.args):
            raise ValueError(f"script {self.name}: lists must be arguments")
        prelude = _REPLIES + _table("K", "KEYS", self.keys) + _table("A", "ARGV", self.args)
        for name in sorted(self.lists):
            prelude += f"A.{name} = cjson.decode(A.{name})\n"
        object.__setattr__(self, "text", prelude + self.body)
        digest = hashlib.sha1(self.text.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
        object.__setattr__(self, "sha", digest)

    def call(self, keys: Sequence[str], /, **args: Any) -> Script:
        """A call of this script: ``keys`` in declared order, every argument by name."""
        if set(args) != set(self.args):
            missing, extra = set(self.args) - set(args), set(args) - set(self.args)
            raise TypeError(
                f"script {self.name}: missing {missing or '{}'}, unknown {extra or '{}'}"
            )
        fixed = [k for k in self.keys if not k.startswith("*")]
        rest = len(fixed) < len(self.keys)
        if len(keys) < len(fixed) or (len(keys) > len(fixed) and not rest):
            raise TypeError(f"script {self.name}: keys {self.keys}, given {len(keys)}")
        argv = tuple(
            json.dumps(args[name], separators=(",", ":")) if name in self.lists else args[name]
            for name in self.args
        )
        return Script(self, tuple(keys), argv)


def _table(name: str, source: str, names: Sequence[str]) -> str:
    items = []
    for index, item in enumerate(names, start=1):
        if item.startswith("*"):
            items.append(f"{item[1:]} = {{unpack({source}, {index})}}")
        else:
            items.append(f"{item} = {source}[{index}]")
    return f"local {name} = {{{', '.join(items)}}}\n"
