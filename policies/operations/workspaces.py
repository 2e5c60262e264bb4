"""Workspaces and their two role keys: create, show, reveal, rotate, roll."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from policies.errors import InvalidKey, KeystileError, UnknownWorkspace
from policies.keys import keyformat
from policies.keys.crypto import role_context
from policies.keys.keyformat import KeyKind
from policies.operations.base import (
    Context,
    apply_call,
    audit_call,
    check_label,
    checked,
    require_workspace,
    wake,
    write_call,
)
from policies.origins import normalize_origin
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.lua import CREATE, ROTATE
from policies.storage.values import CreatedWorkspace, WorkspaceInfo

_INFO_FIELDS = ("id", "name", "created", "version", "origins")
MAX_GRACE_SECONDS = 7 * 24 * 3600
MAX_ORIGINS = 100


def _new_key(ctx: Context, kind: KeyKind, ws: str, now: float) -> tuple[str, str, str, str]:
    """(key, digest, credential record, ciphertext) for a fresh role key."""
    key = keyformat.generate(kind, ws)
    digest = ctx.keyring.digest(key)
    record = schema.credential_record(kind, ctx.keyring.key_id(digest), now)
    return key, digest, record, ctx.keyring.encrypt(key, role_context(ws, kind.value))


def create_workspace(ctx: Context, name: str, *, actor: str) -> Operation[CreatedWorkspace]:
    name = check_label(name, "workspace name")
    ws, now = keyformat.new_workspace_id(), ctx.clock()
    pk, pk_digest, pk_record, pk_enc = _new_key(ctx, KeyKind.PUBLISHABLE, ws, now)
    sk, sk_digest, sk_record, sk_enc = _new_key(ctx, KeyKind.SDK, ws, now)
    reply = yield write_call(
        ctx,
        ws,
        CREATE,
        (schema.credentials(ws),),
        actor=actor,
        action="workspace.created",
        detail={"name": name},
        name=name,
        created=now,
        pk_digest=pk_digest,
        pk_record=pk_record,
        pk_enc=pk_enc,
        sk_digest=sk_digest,
        sk_record=sk_record,
        sk_enc=sk_enc,
    )
    checked(reply, ws)
    yield Command(("SADD", schema.WORKSPACES, ws))
    return CreatedWorkspace(ws, name, pk, sk)


def _info(ws: str, values: list[object]) -> WorkspaceInfo:
    if values[0] is None:
        raise UnknownWorkspace(ws)
    _, name, created, version, origins = (schema.text(v) if v is not None else "" for v in values)
    # Restores check every field; a hand-edited one still must not break every listing.
    try:
        when = float(created)
    except ValueError:
        when = math.nan
    try:
        pinned = json.loads(origins) if origins else []
    except ValueError:
        pinned = []
    return WorkspaceInfo(
        ws,
        name,
        when,
        int(version) if version.isascii() and version.isdigit() else 0,
        tuple(str(o) for o in pinned) if isinstance(pinned, list) else (),
    )


def workspace_info(ctx: Context, ws: str) -> Operation[WorkspaceInfo]:
    values = yield Command(("HMGET", schema.meta(require_workspace(ws)), *_INFO_FIELDS))
    return _info(ws, values)


def list_workspaces(ctx: Context) -> Operation[list[WorkspaceInfo]]:
    ids = sorted(schema.text(m) for m in (yield Command(("SMEMBERS", schema.WORKSPACES))))
    if not ids:
        return []
    rows = yield Batch(tuple(Command(("HMGET", schema.meta(ws), *_INFO_FIELDS)) for ws in ids))
    # A crash between CREATE and SADD can only leave a workspace unlisted, never a ghost.
    return [_info(ws, row) for ws, row in zip(ids, rows, strict=True) if row[0] is not None]


def role_key(ctx: Context, ws: str, role: str, enc: str) -> str:
    """Decrypt a role key's ciphertext and check that the key is one of ``ws``'s ``role``:
    an unbound (pre-context) ciphertext copied from elsewhere is refused here."""
    key = ctx.keyring.decrypt(enc, role_context(ws, role))
    try:
        parsed = keyformat.parse(key)
    except InvalidKey:
        parsed = None
    if parsed is None or parsed.workspace_id != ws or parsed.kind.value != role:
        raise KeystileError(f"the stored {role} key does not belong to workspace {ws}")
    return key


def _decrypted(ctx: Context, ws: str, role: str) -> Operation[str]:
    enc = yield Command(("HGET", schema.meta(require_workspace(ws)), f"{role}_enc"))
    if enc is None:
        raise UnknownWorkspace(ws)
    return role_key(ctx, ws, role, schema.text(enc))


def publishable_key(ctx: Context, ws: str) -> Operation[str]:
    return (yield from _decrypted(ctx, ws, KeyKind.PUBLISHABLE.value))


def masked_sdk_key(ctx: Context, ws: str) -> Operation[str]:
    return keyformat.mask((yield from _decrypted(ctx, ws, KeyKind.SDK.value)))


def reveal_sdk_key(ctx: Context, ws: str, *, actor: str) -> Operation[str]:
    key = yield from _decrypted(ctx, ws, KeyKind.SDK.value)
    kid = ctx.keyring.key_id(ctx.keyring.digest(key))
    yield audit_call(ctx, ws, actor, "sdk_key.revealed", {"key_id": kid})
    yield wake(ws)
    return key


def _rotate(
    ctx: Context, ws: str, kind: KeyKind, grace_until: float | None, *, actor: str, action: str
) -> Operation[str]:
    require_workspace(ws)
    key, digest, record, enc = _new_key(ctx, kind, ws, ctx.clock())
    old = yield Command(("HGET", schema.meta(ws), f"{kind.value}_digest"))
    if old is not None:  # recorded first, outside the workspace's slot: restores honour it
        yield Command(("HSET", schema.revoked(ws), schema.text(old), repr(ctx.clock())))
    detail: dict[str, object] = {"key_id": ctx.keyring.key_id(digest)}
    if grace_until is not None:
        detail["old_key_valid_until"] = grace_until
    reply = yield write_call(
        ctx,
        ws,
        ROTATE,
        (schema.credentials(ws),),
        actor=actor,
        action=action,
        detail=detail,
        role=kind.value,
        digest=digest,
        record=record,
        enc=enc,
        grace_until="" if grace_until is None else repr(grace_until),
    )
    checked(reply, ws)
    yield wake(ws)
    return key


def rotate_publishable(ctx: Context, ws: str, *, actor: str) -> Operation[str]:
    """Revoke the publishable key and issue a new one, in one atomic step."""
    return (
        yield from _rotate(
            ctx, ws, KeyKind.PUBLISHABLE, None, actor=actor, action="publishable_key.rotated"
        )
    )


def roll_sdk_key(ctx: Context, ws: str, *, actor: str, grace_seconds: float = 0) -> Operation[str]:
    """Issue a new SDK key; the old one keeps working for ``grace_seconds`` (Stripe's roll)."""
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise KeystileError(f"grace period must be between 0 and {MAX_GRACE_SECONDS} seconds")
    grace_until = ctx.clock() + grace_seconds if grace_seconds else None
    return (
        yield from _rotate(ctx, ws, KeyKind.SDK, grace_until, actor=actor, action="sdk_key.rolled")
    )


def clean_origins(origins: Iterable[str]) -> list[str]:
    """Browser origins, checked and in canonical form (shared with restores)."""
    if isinstance(origins, str) or not all(isinstance(o, str) for o in origins):
        raise KeystileError("origins must be a list of strings")
    cleaned = sorted({normalize_origin(o) for o in origins if o.strip()})
    for origin in cleaned:
        scheme, sep, host = origin.partition("://")
        if (
            scheme not in ("http", "https")
            or not sep
            or not host
            or "/" in host
            or len(origin) > 255
            or not origin.isprintable()
            or " " in origin
        ):
            raise KeystileError(f"origin {origin!r} must look like https://app.example.com")
    if len(cleaned) > MAX_ORIGINS:
        raise KeystileError(f"at most {MAX_ORIGINS} origins")
    return cleaned


def set_origins(ctx: Context, ws: str, origins: Iterable[str], *, actor: str) -> Operation[None]:
    """Pin the publishable key to browser origins (``https://app.example.com``); [] = any."""
    cleaned = clean_origins(list(origins))
    op = ("HSET", schema.meta(require_workspace(ws)), "origins", json.dumps(cleaned))
    reply = yield apply_call(
        ctx, ws, [op], actor=actor, action="origins.set", detail={"origins": cleaned}
    )
    checked(reply, ws)
