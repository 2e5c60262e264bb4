"""Workspace tokens: many per workspace, named, shown once, optional expiry and rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from policies.catalog.rules import Rule
from policies.errors import KeystileError, NotFound, UnknownWorkspace
from policies.keys import keyformat
from policies.keys.keyformat import KeyKind
from policies.limits.rate_limits import Limits, owner
from policies.operations import lifetime, token_activity
from policies.operations.base import (
    Context,
    apply_call,
    check_label,
    checked,
    require_workspace,
    wake,
)
from policies.operations.limits import check_scope
from policies.operations.rules import require_catalog
from policies.operations.token_filters import create_ops, revoke_ops
from policies.operations.token_index import index_op
from policies.restrictions import check_networks, check_scopes, describe
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.scripting import Reply
from policies.storage.values import CreatedToken, TokenInfo
from policies.times import check_expiry, is_time


def create_token(
    ctx: Context,
    ws: str,
    name: str,
    *,
    actor: str,
    expires: float | None = None,
    rules: Iterable[Rule] = (),
    limits: Limits | None = None,
    scopes: Iterable[str] | None = None,
    networks: Iterable[str] | None = None,
) -> Operation[CreatedToken]:
    """A new token; its ``limits`` (if any) are stored with it, in the same step, and so
    are its allow-lists (``scopes``, ``networks``: :mod:`policies.restrictions`)."""
    require_workspace(ws)
    name = check_label(name, "token name")
    now = ctx.clock()
    expires = check_expiry(expires, now)
    policy_guard = yield from lifetime.guard(ctx, ws, expires, now)  # the workspace's policy
    rule_list = tuple(sorted(set(rules)))
    for scope in limits.as_dict() if limits else ():
        yield from check_scope(ctx, scope)
    if rule_list:
        catalog = yield from require_catalog(ctx)
        for rule in rule_list:
            catalog.check_rule(rule)
    allowed = None
    if scopes is not None:
        allowed = check_scopes(scopes, (yield from require_catalog(ctx)))
    network_list = None if networks is None else check_networks(networks)
    token = keyformat.generate(KeyKind.TOKEN, ws)
    digest = ctx.keyring.digest(token)
    kid = ctx.keyring.key_id(digest)
    info = TokenInfo(kid, name, now, expires, None, rule_list, None, allowed, network_list)
    record = schema.credential_record(
        KeyKind.TOKEN,
        kid,
        now,
        expires=expires,
        name=name,
        rule_list=rule_list,
        scopes=allowed,
        networks=network_list,
    )
    ops = [
        policy_guard,
        ("HSET", schema.credentials(ws), digest, record),
        ("HSET", schema.tokens(ws), kid, schema.token_metadata(info, digest)),
        index_op(ws, kid, now),
        token_activity.created_op(ws, kid, now),
        *create_ops(ws, info),
    ]
    detail: dict[str, Any] = {"key_id": kid, "name": name}
    if allowed is not None or network_list is not None:
        detail.update(describe(allowed, network_list))
    if limits:
        ops.append(("HSET", schema.limits(ws), owner(KeyKind.TOKEN, kid), limits.encode()))
        detail["limits"] = limits.describe()
    reply = yield apply_call(ctx, ws, ops, actor=actor, action="token.created", detail=detail)
    if lifetime.refused_meanwhile(reply):
        raise KeystileError(lifetime.POLICY_CHANGED)
    checked(reply, ws)
    yield wake(ws)
    return CreatedToken(token, info)


def list_tokens(ctx: Context, ws: str) -> Operation[list[TokenInfo]]:
    tokens, used, exists = yield Batch(
        (
            Command(("HGETALL", schema.tokens(require_workspace(ws)))),
            Command(("HGETALL", schema.last_used(ws))),
            Command(("EXISTS", schema.meta(ws))),
        )
    )
    if not exists:
        raise UnknownWorkspace(ws)
    used = {schema.text(k): v for k, v in used.items()}
    infos = [schema.decode_token(raw, used.get(schema.text(kid)))[0] for kid, raw in tokens.items()]
    # Newest first; a damaged stored time sorts last rather than failing the whole list.
    return sorted(infos, key=lambda i: (-i.created if is_time(i.created) else 0, i.key_id))


def has_token(ctx: Context, ws: str, key_id: str) -> Operation[bool]:
    """Whether ``key_id`` is a token of the workspace (revoked ones too): one O(1) read."""
    found = yield Command(("HEXISTS", schema.tokens(require_workspace(ws)), key_id))
    return bool(found)


def revoke_token(ctx: Context, ws: str, key_id: str, *, actor: str) -> Operation[TokenInfo]:
    """Revoke a token now. Revoking twice is harmless (one audit entry, even when two
    revokes race: the credential must still be there); an unknown id is :class:`NotFound`."""
    raw = yield Command(("HGET", schema.tokens(require_workspace(ws)), key_id))
    if raw is None:
        raise NotFound(f"no token with id {key_id!r} in this workspace")
    info, digest = schema.decode_token(raw)
    if info.revoked is not None:
        return info
    revoked = dataclasses.replace(info, revoked=ctx.clock())
    # Recorded first (outside the workspace's slot): a restore honours it (see backups).
    yield Command(("HSET", schema.revoked(ws), digest, repr(revoked.revoked)))
    ops = [
        ("NEED", schema.credentials(ws), digest, ""),
        ("HDEL", schema.credentials(ws), digest, ""),
        ("HSET", schema.tokens(ws), key_id, schema.token_metadata(revoked, digest)),
        ("HDEL", schema.limits(ws), owner(KeyKind.TOKEN, key_id), ""),  # its limits go too
        token_activity.revoked_op(ws, key_id),
        *revoke_ops(ws, info),
    ]
    reply = yield apply_call(
        ctx,
        ws,
        ops,
        actor=actor,
        action="token.revoked",
        detail={"key_id": key_id, "name": info.name},
    )
    if (
        int(reply[0]) == Reply.FIELD_MISSING
    ):  # revoked meanwhile by another caller, who wrote the entry
        raw = yield Command(("HGET", schema.tokens(ws), key_id))
        return schema.decode_token(raw)[0]
    checked(reply, ws)
    yield wake(ws)
    return revoked
