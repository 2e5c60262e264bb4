"""Rate limits: how many requests a key may make per window, for the whole key or per action.

A :class:`Window` is ``quota/period`` (``100/min``, ``1000/10s``, ``100000/day``); a key's
:class:`Limits` hold one or more windows for the key as a whole (scope :data:`KEY_SCOPE`)
and, for the publishable key, per action (``"projects.create"``). Limits belong to an
*owner*, not to a key: the publishable role (``pk``), the SDK role (``sk``) or one token
(``tk:<key id>``), so they survive rotation and rolling as rules do. Plain values; whether an
action is catalogued is the catalog's question; counting is the gateway's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from policies.catalog.catalog import Catalog
from policies.catalog.rules import NAME_RE, Rule
from policies.errors import CatalogError, KeystileError
from policies.keys.crypto import KEY_ID_RE
from policies.keys.keyformat import KeyKind

KEY_SCOPE = "*"  # the scope of limits on the key as a whole
MAX_QUOTA = 1_000_000_000
MAX_SECONDS = 31 * 86_400
MAX_WINDOWS = 4  # per scope
MAX_SCOPES = 64  # per owner: the key itself and 63 actions
_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86_400,
    "day": 86_400,
}
_CANONICAL = ((86_400, "day"), (3600, "h"), (60, "min"), (1, "s"))
# [0-9], not \d: \d also matches other scripts' digits ("\uff15/min" would pass).
_WINDOW_RE = re.compile(r"\s*([0-9]{1,10})\s*/\s*([0-9]{0,7})\s*([a-z]+?)s?\s*")


class LimitError(KeystileError):
    """A limit that cannot be stored: the message says what is wrong and what is expected."""


@dataclass(frozen=True, order=True, slots=True)
class Window:
    """At most ``quota`` requests in any ``seconds`` (a sliding window)."""

    seconds: int
    quota: int

    def __post_init__(self) -> None:
        if not isinstance(self.quota, int) or not 1 <= self.quota <= MAX_QUOTA:
            raise LimitError(f"a limit's count must be 1-{MAX_QUOTA:,}")
        if not isinstance(self.seconds, int) or not 1 <= self.seconds <= MAX_SECONDS:
            raise LimitError("a limit's window must be 1 second to 31 days")

    @classmethod
    def parse(cls, text: str) -> Window:
        """``"100/min"``, ``"50/s"``, ``"1000/10s"``, ``"100000/day"``, ``"5/2h"``."""
        found = _WINDOW_RE.fullmatch(text.lower()) if isinstance(text, str) else None
        unit = _UNITS.get(found.group(3)) if found else None
        if found is None or unit is None:
            raise LimitError(
                f"limit {str(text)[:40]!r} is not COUNT/WINDOW: e.g. 100/min, 50/s, "
                "1000/10s, 100000/day (units s, min, h, day)"
            )
        count = int(found.group(2)) if found.group(2) else 1
        return cls(seconds=count * unit, quota=int(found.group(1)))

    def __str__(self) -> str:
        for size, unit in _CANONICAL:
            if self.seconds % size == 0:
                count = self.seconds // size
                return f"{self.quota}/{'' if count == 1 else count}{unit}"
        raise AssertionError("unreachable: every whole number of seconds has a unit")


def windows(texts: Iterable[str | Window]) -> tuple[Window, ...]:
    """Checked windows of one scope, shortest first; one per period."""
    found = sorted(w if isinstance(w, Window) else Window.parse(w) for w in texts)
    if not found:
        raise LimitError("give at least one limit, e.g. 100/min")
    if len(found) > MAX_WINDOWS:
        raise LimitError(f"at most {MAX_WINDOWS} limits per key or action")
    periods = [w.seconds for w in found]
    if len(set(periods)) != len(periods):
        raise LimitError("two limits over the same window: keep one")
    return tuple(found)


def check_action(action: str) -> str:
    module, dot, functionality = action.partition(".") if isinstance(action, str) else ("", "", "")
    if not dot or NAME_RE.fullmatch(module) is None or NAME_RE.fullmatch(functionality) is None:
        raise LimitError(f"action {str(action)[:80]!r} is not module.functionality")
    return action


@dataclass(frozen=True, slots=True)
class Limits:
    """An owner's limits: scope (:data:`KEY_SCOPE` or an action) -> its windows."""

    scopes: tuple[tuple[str, tuple[Window, ...]], ...] = ()

    @classmethod
    def of(cls, scopes: Mapping[str, Iterable[str | Window]]) -> Limits:
        checked = {
            scope if scope == KEY_SCOPE else check_action(scope): windows(texts)
            for scope, texts in scopes.items()
        }
        if len(checked) > MAX_SCOPES:
            raise LimitError(f"at most {MAX_SCOPES} limited actions per key")
        return cls(tuple(sorted(checked.items())))

    def __bool__(self) -> bool:
        return bool(self.scopes)

    def as_dict(self) -> dict[str, tuple[Window, ...]]:
        return dict(self.scopes)

    def replaced(self, scope: str, new: tuple[Window, ...] | None) -> Limits:
        """These limits with ``scope``'s windows replaced (``None``: removed)."""
        current = self.as_dict()
        if new is None:
            current.pop(scope, None)
        else:
            current[scope] = new
        return Limits.of(current)

    def encode(self) -> str:
        """Canonical JSON, ``{"*": ["100/min"], "projects.create": ["10/min"]}``."""
        return json.dumps(
            {scope: [str(w) for w in ws] for scope, ws in self.scopes},
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def decode(cls, text: str) -> Limits:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # deep nesting overflows the parser's stack
            raise LimitError("stored limits are not JSON") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise LimitError("stored limits must map scopes to lists of limits")
        return cls.of(data)

    def describe(self) -> str:
        return "; ".join(
            f"{'key' if scope == KEY_SCOPE else scope}: {', '.join(str(w) for w in ws)}"
            for scope, ws in self.scopes
        )


def dead_actions(limits: Limits, catalog: Catalog | None) -> tuple[str, ...]:
    """The actions of ``limits`` that ``catalog`` does not have: no request is ever counted
    against them (a forced catalog load left them), so they are shown as such, to remove."""
    if catalog is None:
        return ()
    dead = []
    for scope, _ in limits.scopes:
        if scope != KEY_SCOPE:
            module, _, functionality = scope.partition(".")
            try:
                catalog.check_rule(Rule(module, functionality))
            except CatalogError:
                dead.append(scope)
    return tuple(dead)


def owner(kind: KeyKind, key_id: str) -> str:
    """Whose limits a key obeys: its role's (``pk``, ``sk``), or a token's own."""
    return f"tk:{key_id}" if kind is KeyKind.TOKEN else kind.value


_ROLE_NAMES = {"publishable": "pk", "sdk": "sk"}
_ROLE_CODES = {"pk": "pk", "sk": "sk"}


def owner_named(target: str, *, codes: bool = True) -> str | None:
    """The owner a user means by ``publishable``, ``sdk`` (``pk``, ``sk`` too when
    ``codes``) or a token's key id; None for anything else."""
    named = _ROLE_NAMES.get(target) or (_ROLE_CODES.get(target) if codes else None)
    if named is not None:
        return named
    if isinstance(target, str) and KEY_ID_RE.fullmatch(target):
        return f"tk:{target}"
    return None


def owner_for(target: str) -> str:
    """An owner from what a user types on the command line (:func:`owner_named`)."""
    found = owner_named(target)
    if found is not None:
        return found
    raise LimitError(f"--key must be publishable, sdk or a token's key id, not {target[:40]!r}")
