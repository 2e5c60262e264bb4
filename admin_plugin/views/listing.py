"""The Tokens page's long lists in its URL: which page of tokens and of the audit log, and
their filters, as query arguments, so that every page is a plain link (it works without
the script, and a reload keeps it) and the script only fetches the same panel in place.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from admin_plugin.problems import bad_request
from policies.errors import ConfigError, KeystileError
from policies.listing import MAX_PAGE, TOKEN_STATUSES, AuditQuery, TokenQuery

TOKEN_ARGS = ("tq", "tstatus", "tpage")
AUDIT_ARGS = ("aaction", "aactor", "abefore")
MAX_PAGE_NUMBER = 1_000_000


def check_page_size(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE:
        raise ConfigError(f"{what} must be a whole number from 1 to {MAX_PAGE}")
    return value


def _page_number(raw: str) -> int:
    if not raw:
        return 1
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_NUMBER:
        raise KeystileError(f"a page number is a whole number from 1 to {MAX_PAGE_NUMBER}")
    return int(raw)


@dataclass(frozen=True, slots=True)
class ListState:
    """Both lists' arguments as asked, and the queries they make."""

    base: str  # the page's URL
    ws: str
    args: dict[str, str]
    tokens: TokenQuery
    audit: AuditQuery

    @classmethod
    def parse(
        cls,
        base: str,
        ws: str,
        args: Mapping[str, str],
        *,
        tokens_per_page: int,
        audit_per_page: int,
        strict: bool,
    ) -> ListState:
        """From request arguments. A bad one is a 400 when ``strict`` (the panels the
        script fetches); the page itself shows the lists unfiltered instead."""
        own = {name: args.get(name, "").strip() for name in TOKEN_ARGS + AUDIT_ARGS}
        try:
            page = _page_number(own["tpage"])
            status = own["tstatus"] or None
            tokens = TokenQuery(own["tq"], status, (page - 1) * tokens_per_page, tokens_per_page)
            before = own["abefore"] or None
            audit = AuditQuery(own["aaction"], own["aactor"], before, audit_per_page)
        except KeystileError as exc:
            if strict:
                raise bad_request(f"{exc}.") from None
            own = dict.fromkeys(own, "")
            tokens, audit = TokenQuery(limit=tokens_per_page), AuditQuery(limit=audit_per_page)
        return cls(base, ws, {k: v for k, v in own.items() if v}, tokens, audit)

    statuses = TOKEN_STATUSES

    def link(self, anchor: str = "", **changes: str | int | None) -> str:
        """The page's URL with these arguments changed (None or "": dropped)."""
        merged: dict[str, str] = {"ws": self.ws, **self.args}
        for name, value in changes.items():
            if value in (None, ""):
                merged.pop(name, None)
            else:
                merged[name] = str(value)
        return f"{self.base}?{urlencode(merged)}{anchor}"

    def hidden(self, list_name: str) -> list[tuple[str, str]]:
        """The other list's arguments, for a filter form to carry (no script needed)."""
        other = AUDIT_ARGS if list_name == "tokens" else TOKEN_ARGS
        return [("ws", self.ws)] + [(n, self.args[n]) for n in other if n in self.args]

    def filtered(self, list_name: str) -> bool:
        names = ("tq", "tstatus") if list_name == "tokens" else ("aaction", "aactor")
        return any(n in self.args for n in names)
