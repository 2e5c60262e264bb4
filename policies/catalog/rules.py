"""Blacklist rules: (module, functionality) pairs a key may not use.

``functionality == "*"`` blocks every functionality of the module. Rules are plain values;
whether a rule names something real is the catalog's question (:meth:`Catalog.check_rule`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from policies.errors import CatalogError

WILDCARD = "*"
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_SEPARATOR = ":"


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or NAME_RE.fullmatch(value) is None:
        raise CatalogError(
            f"{what} name {value!r} is not valid: use 1-64 letters, digits, '_' or '-', "
            "starting with a letter"
        )
    return value


@dataclass(frozen=True, order=True, slots=True)
class Rule:
    module: str
    functionality: str

    def __post_init__(self) -> None:
        check_name(self.module, "module")
        if self.functionality != WILDCARD:
            check_name(self.functionality, "functionality")

    @property
    def whole_module(self) -> bool:
        return self.functionality == WILDCARD

    def encode(self) -> str:
        return f"{self.module}{_SEPARATOR}{self.functionality}"

    @classmethod
    def decode(cls, text: str) -> Rule:
        """Parse ``module:functionality`` (also accepts ``module.functionality``)."""
        for separator in (_SEPARATOR, "."):
            module, found, functionality = text.partition(separator)
            if found:
                return cls(module.strip(), functionality.strip())
        raise CatalogError(f"rule {text!r} is not of the form module:functionality")

    def __str__(self) -> str:
        return self.encode()


def decode_all(members: Iterable[str]) -> frozenset[Rule]:
    return frozenset(Rule.decode(member) for member in members)
