"""A backup's allow-lists (:mod:`policies.restrictions`), checked as the live operations
check them: scopes against the catalog, networks parsed, both in their stored form."""

from __future__ import annotations

from typing import Any

from policies.catalog.catalog import Catalog
from policies.errors import KeystileError
from policies.restrictions import RestrictionError, check_networks, check_scopes

Allowed = tuple[str, ...] | None


def fail(why: str) -> KeystileError:
    return KeystileError(f"backup refused: {why}")


def allow_lists(
    data: dict[str, Any], catalog: Catalog | None, what: str
) -> tuple[Allowed, Allowed]:
    """``(scopes, networks)`` of a record (None where it has none), or a refusal."""
    scopes, networks = data.get("scopes"), data.get("networks")
    try:
        if scopes is not None:
            if catalog is None:
                raise fail(f"{what} scopes need a catalog: load one, or pass --apply-catalog")
            if not isinstance(scopes, list) or check_scopes(scopes, catalog) != tuple(scopes):
                raise fail(f"{what} scopes are not a list in canonical form")
        if networks is not None and (
            not isinstance(networks, list) or check_networks(networks) != tuple(networks)
        ):
            raise fail(f"{what} networks are not a list in canonical form")
    except RestrictionError as exc:
        raise fail(f"{what} allow-lists: {exc}") from None
    return (
        None if scopes is None else tuple(scopes),
        None if networks is None else tuple(networks),
    )
