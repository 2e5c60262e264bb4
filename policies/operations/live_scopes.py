"""The live allow-listed scopes a new catalog must still know (as rules and limits)."""

from __future__ import annotations

import json
from typing import Any

from policies.catalog.catalog import Catalog
from policies.errors import CatalogError, KeystileError
from policies.operations.base import Context
from policies.restrictions import scope_rule, stored
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation


def record(raw: Any) -> dict[str, Any]:
    """A stored credential record."""
    try:
        data = json.loads(schema.text(raw))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise KeystileError("a stored credential record is damaged")
    return data


def dead_scopes(ctx: Context, catalog: Catalog) -> Operation[list[str]]:
    """Live scopes ``catalog`` does not know, as ``"W SDK key: billing:read"`` or ``"W token
    KID: projects.list"``. Two pipelines."""
    members = yield Command(("SMEMBERS", schema.WORKSPACES))
    workspaces = sorted(schema.text(m) for m in members)
    replies = yield Batch(
        tuple(
            Command(command)
            for ws in workspaces
            for command in (("HGETALL", schema.tokens(ws)), ("HGET", schema.meta(ws), "sk_digest"))
        )
    )
    owned: list[tuple[str, tuple[str, ...]]] = []
    sdk: list[tuple[str, str]] = []
    for index, ws in enumerate(workspaces):
        tokens_reply, sk_digest = replies[2 * index : 2 * index + 2]
        for raw in (tokens_reply or {}).values():
            info, _ = schema.decode_token(raw)
            if info.revoked is None and info.scopes:
                owned.append((f"{ws} token {info.key_id}", info.scopes))
        if sk_digest is not None:
            sdk.append((ws, schema.text(sk_digest)))
    records = yield Batch(tuple(Command(("HGET", schema.credentials(ws), d)) for ws, d in sdk))
    for (ws, _), raw in zip(sdk, records, strict=True):
        scopes = stored(record(raw), "scopes") if raw is not None else None
        if scopes:
            owned.append((f"{ws} SDK key", scopes))
    dead = []
    for owner, scopes in owned:
        for scope in scopes:
            try:
                catalog.check_rule(scope_rule(scope))
            except CatalogError:
                dead.append(f"{owner}: {scope}")
    return dead
