"""The refusals a gateway renders ahead: its :class:`Problems`, and the memoised 403s
that name an action.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import functools

from gateway.refusals.problems import (
    ACTION_BLOCKED,
    ACTION_NOT_ALLOWED,
    EXPIRED_KEY,
    INTERNAL_ERROR,
    INVALID_KEY,
    INVALID_ORIGIN,
    INVALID_PATH,
    METHOD_OVERRIDE,
    MISSING_KEY,
    NETWORK_NOT_ALLOWED,
    ORIGIN_NOT_ALLOWED,
    PATH_TOO_LONG,
    ROUTE_NOT_IN_CATALOG,
    STORE_UNAVAILABLE,
    Rendered,
    render,
)


@functools.lru_cache(maxsize=4096)
def blocked(module: str, functionality: str) -> Rendered:
    """The 403 for one action, naming it (memoised: the catalog bounds the set)."""
    return render(
        ACTION_BLOCKED,
        detail=f"This key may not use {module}.{functionality}.",
        module=module,
        functionality=functionality,
    )


@functools.lru_cache(maxsize=4096)
def not_allowed(module: str, functionality: str) -> Rendered:
    """The 403 for an action outside a key's scopes, naming it (memoised like ``blocked``)."""
    return render(
        ACTION_NOT_ALLOWED,
        detail=f"This key's scopes do not include {module}.{functionality}.",
        module=module,
        functionality=functionality,
    )


class Problems:
    """One gateway's rendered answers (the missing-key hint names its configured headers)."""

    def __init__(
        self,
        *,
        bearer_header: str | None,
        key_header: str | None,
        retry_after: int,
        max_path_length: int = 4096,
    ) -> None:
        ways = []
        if bearer_header is not None:
            ways.append(f"'{_title(bearer_header)}: Bearer <key>'")
        if key_header is not None:
            ways.append(f"'{_title(key_header)}: <key>'")
        self.missing_key = render(
            MISSING_KEY, detail=f"This API needs a key: send {' or '.join(ways)}."
        )
        self.invalid_key = render(INVALID_KEY)
        self.expired_key = render(EXPIRED_KEY)
        self.origin_not_allowed = render(ORIGIN_NOT_ALLOWED)
        self.route_not_in_catalog = render(ROUTE_NOT_IN_CATALOG)
        self.network_not_allowed = render(NETWORK_NOT_ALLOWED)
        self.store_unavailable = render(STORE_UNAVAILABLE, retry_after=retry_after)
        self.invalid_path = render(INVALID_PATH)
        self.path_too_long = render(
            PATH_TOO_LONG,
            detail=f"The request path is longer than this API accepts ({max_path_length} "
            "characters at most).",
        )
        self.method_override = render(METHOD_OVERRIDE)
        self.invalid_origin = render(INVALID_ORIGIN)
        self.internal_error = render(INTERNAL_ERROR)


def _title(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))
