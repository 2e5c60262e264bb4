"""Rate limits of a workspace's publishable key, SDK key and tokens
(:mod:`policies.limits.rate_limits`).

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from typing import Any

from policies.catalog.rules import Rule
from policies.errors import KeystileError, NotFound, UnknownWorkspace
from policies.limits.rate_limits import KEY_SCOPE, LimitError, Limits, Window, check_action
from policies.operations.base import Context, Op, apply_call, checked, require_workspace
from policies.operations.rules import require_catalog
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.scripting import Reply

_ATTEMPTS = 5  # reads and guarded writes before giving up on a very busy owner


def _describe_owner(owner: str) -> str:
    return {"pk": "publishable key", "sk": "SDK key"}.get(owner, f"token {owner[3:]}")


def _owner_guard(ctx: Context, ws: str, owner: str) -> Operation[list[Op]]:
    """A token's limits need the token live: its credential must still be there."""
    if not owner.startswith("tk:"):
        return []
    raw = yield Command(("HGET", schema.tokens(ws), owner[3:]))
    if raw is None:
        raise NotFound(f"no token with id {owner[3:]!r} in this workspace")
    info, digest = schema.decode_token(raw)
    if info.revoked is not None:
        raise KeystileError(f"token {info.key_id} is revoked: it has no limits to set")
    return [("NEED", schema.credentials(ws), digest, "")]


def check_scope(ctx: Context, scope: str) -> Operation[str]:
    """``*`` for the whole key, else a catalogued ``module.functionality``."""
    if scope == KEY_SCOPE:
        return scope
    module, _, functionality = check_action(scope).partition(".")
    (yield from require_catalog(ctx)).check_rule(Rule(module, functionality))
    return scope


def get_limits(ctx: Context, ws: str, owner: str) -> Operation[Limits]:
    raw, exists = yield from _read(ws, owner)
    if not exists:
        raise UnknownWorkspace(ws)
    return Limits.decode(raw) if raw else Limits()


def list_limits(ctx: Context, ws: str) -> Operation[dict[str, Limits]]:
    """Every owner's limits: ``{"pk": ..., "sk": ..., "tk:<kid>": ...}`` (limited ones only)."""
    reply, exists = yield Batch(
        (
            Command(("HGETALL", schema.limits(require_workspace(ws)))),
            Command(("EXISTS", schema.meta(ws))),
        )
    )
    if not exists:
        raise UnknownWorkspace(ws)
    found = {}
    for owner, raw in schema.pairs(reply):
        try:
            found[owner] = Limits.decode(raw)
        except LimitError:
            continue  # written past the checks: shown nowhere rather than failing the list
    return dict(sorted(found.items()))


def set_limits(
    ctx: Context,
    ws: str,
    owner: str,
    windows: tuple[Window, ...] | None,
    *,
    scope: str = KEY_SCOPE,
    actor: str,
) -> Operation[Limits]:
    """Replace ``scope``'s windows of ``owner`` (``None``: remove them); the limits now."""
    require_workspace(ws)
    if windows is not None:
        scope = yield from check_scope(ctx, scope)
    elif scope != KEY_SCOPE:
        check_action(scope)  # a scope being removed need not be in today's catalog
    guard = yield from _owner_guard(ctx, ws, owner)
    for _ in range(_ATTEMPTS):
        raw, exists = yield from _read(ws, owner)
        if not exists:
            raise UnknownWorkspace(ws)
        current = Limits.decode(raw) if raw else Limits()
        if windows is None and scope not in current.as_dict():
            raise NotFound(f"the {_describe_owner(owner)} has no limit on {_scope_name(scope)}")
        new = current.replaced(scope, windows)
        key = schema.limits(ws)
        write: Op = ("HSET", key, owner, new.encode()) if new else ("HDEL", key, owner, "")
        detail: dict[str, Any] = {
            "key": _describe_owner(owner),
            "scope": _scope_name(scope),
            "limits": [str(w) for w in windows or ()],
        }
        reply = yield apply_call(
            ctx,
            ws,
            [*guard, ("SAME", key, owner, raw), write],
            actor=actor,
            action="limits.set" if windows is not None else "limits.removed",
            detail=detail,
        )
        if int(reply[0]) != Reply.CONFLICT:
            checked(reply, ws, missing="the token was revoked meanwhile")
            return new
    raise KeystileError("the limits kept changing while being saved: try again")


def _read(ws: str, owner: str) -> Operation[tuple[str, int]]:
    raw, exists = yield Batch(
        (Command(("HGET", schema.limits(ws), owner)), Command(("EXISTS", schema.meta(ws))))
    )
    return ("" if raw is None else schema.text(raw)), int(exists)


def _scope_name(scope: str) -> str:
    return "the whole key" if scope == KEY_SCOPE else scope
