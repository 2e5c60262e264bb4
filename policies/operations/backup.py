"""Backups: one workspace's policies to an authenticated JSON document and back.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from policies.backup import document as document_checks
from policies.backup import notify_section
from policies.errors import KeystileError, StoreUnavailable, UnknownWorkspace
from policies.keys.keyformat import is_workspace_id
from policies.lifetime import FIELD as LIFETIME_FIELD
from policies.lifetime import LifetimePolicy
from policies.notify.endpoints import EndpointPolicy
from policies.operations.base import Context, audit_call, require_workspace, write_call
from policies.operations.rules import load_catalog, save_catalog
from policies.operations.token_index import stored_score
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.lua_deployment import RESTORE
from policies.storage.scripting import Reply
from policies.storage.values import Restored
from policies.times import is_time, stored_time

CHUNK = 1000
_SCAN = 1000
_EXPORT_ATTEMPTS = 3


def _scan_hash(key: str) -> Operation[dict[str, str]]:
    """Every field of a hash, in short steps (HSCAN), never one long HGETALL."""
    cursor, items = "0", dict[str, str]()
    while True:
        cursor, batch = yield Command(("HSCAN", key, cursor, "COUNT", _SCAN))
        items.update(schema.pairs(batch))
        if schema.text(cursor) == "0":
            return items


def _scan_set(key: str) -> Operation[list[str]]:
    cursor, members = "0", []
    while True:
        cursor, batch = yield Command(("SSCAN", key, cursor, "COUNT", _SCAN))
        members += [schema.text(m) for m in batch]
        if schema.text(cursor) == "0":
            return members


def export_workspace(ctx: Context, ws: str, *, actor: str) -> Operation[dict[str, Any]]:
    """The workspace as a signed backup; read in short steps, retried if it changed meanwhile."""
    require_workspace(ws)
    for _ in range(_EXPORT_ATTEMPTS):
        raw_meta = yield Command(("HGETALL", schema.meta(ws)))
        if not raw_meta:
            raise UnknownWorkspace(ws)
        meta = dict(schema.pairs(raw_meta))
        sections = {
            "keys": (yield from _scan_hash(schema.credentials(ws))),
            "tokens": (yield from _scan_hash(schema.tokens(ws))),
            "lastused": (yield from _scan_hash(schema.last_used(ws))),
            "secrets": (yield from _scan_hash(schema.secrets(ws))),
            "limits": (yield from _scan_hash(schema.limits(ws))),
        }
        members = yield from _scan_set(schema.rules(ws))
        notify_fields = yield Command(("HMGET", schema.notify(ws), *notify_section.FIELDS))
        version = yield Command(("HGET", schema.meta(ws), "version"))
        if schema.text(version) == meta.get("version"):
            break
    else:
        raise KeystileError(f"workspace {ws} kept changing during the export; try again")
    policy = LifetimePolicy.decode(meta.pop(LIFETIME_FIELD, None))  # its own section
    if policy.damaged:
        raise KeystileError(f"workspace {ws}'s token lifetime policy is damaged: set it again")
    notify = notify_section.exported(ws, notify_fields)  # settings only: no runtime state
    catalog = yield from load_catalog(ctx)
    ciphertexts = [meta["pk_enc"], meta["sk_enc"], *sections["secrets"].values()]
    if notify is not None and notify["secret"] is not None:
        ciphertexts.append(notify["secret"])
    positions = {ctx.keyring.key_position(c) for c in ciphertexts}
    checks = ctx.keyring.master_key_checks
    document = {
        "format": document_checks.FORMAT,
        "workspace_id": ws,
        "exported_at": ctx.clock(),
        "key_check": {
            "digest_secret": ctx.keyring.digest_check,
            "master_keys": sorted(checks[p] for p in positions if p is not None),
        },
        "meta": meta,
        **sections,
        "rules": sorted(members),
        "lifetime_policy": None if policy.empty else policy.as_dict(),
        "notify": notify,
        "catalog": catalog.to_dict() if catalog is not None else None,
    }
    detail = {"entries": sum(len(s) for s in sections.values()) + len(members)}
    yield audit_call(ctx, ws, actor, "workspace.exported", detail)
    return document_checks.sign(ctx.keyring, document)


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stage(key: str, verb: str, items: Iterable[str], per_entry: int) -> Operation[None]:
    for chunk in _chunks(items, CHUNK * per_entry):
        yield Batch(
            (
                Command((verb, key, *chunk)),
                Command(("EXPIRE", key, schema.STAGING_TTL_SECONDS)),
            )
        )


def import_workspace(
    ctx: Context,
    backup: Any,
    *,
    actor: str,
    apply_catalog: bool = False,
    unverified: bool = False,
    digest_secret: str | bytes | None = None,
    max_age: float = document_checks.MAX_AGE,
    endpoints: EndpointPolicy | None = None,
) -> Operation[Restored]:
    """Restore a backup made by :func:`export_workspace` (see the module doc).
    ``digest_secret``: the one it was made under, when not this deployment's; ``endpoints``:
    where this deployment lets webhooks go (its ``[notify]`` policy; default: public https)."""
    live = yield from load_catalog(ctx)
    other = None if digest_secret is None else ctx.keyring.with_digest_secret(digest_secret)
    ws = backup.get("workspace_id") if isinstance(backup, dict) else None
    revoked: dict[str, float] = {}
    if isinstance(ws, str) and is_workspace_id(ws):
        found = yield Command(("HGETALL", schema.revoked(ws)))
        times = {d: stored_time(t) for d, t in schema.pairs(found)}
        revoked = {d: t if is_time(t) else ctx.clock() for d, t in times.items()}
    checked = document_checks.check(
        ctx,
        backup,
        live,
        apply_catalog=apply_catalog,
        unverified=unverified,
        other=other,
        max_age=max_age,
        revoked=revoked,
        endpoints=endpoints,
    )
    ws = checked.workspace_id
    if (yield Command(("EXISTS", schema.meta(ws)))):
        yield Command(("SADD", schema.WORKSPACES, ws))  # a restore cut short after its step
        raise KeystileError(f"workspace {ws} already exists here; restore into an empty Redis")
    own = checked.catalog
    if own is None:
        catalog_status = "the backup holds no catalog"
    elif live is not None and own.fingerprint() == live.fingerprint():
        catalog_status = "the backup's catalog is the live one"
    else:
        live_print = live.fingerprint() if live is not None else "none"
        catalog_status = (
            f"the backup's catalog ({own.fingerprint()}) differs from the live one "
            f"({live_print})" + ("; applied" if apply_catalog else "; left as it is")
        )
    run = secrets.token_hex(8)
    # In the order of RESTORE's sections (policies.storage.lua_deployment.SECTIONS).
    parts = ("keys", "rules", "tokens", "lastused", "secrets", "limits", "tokenindex")
    live_keys = (
        schema.credentials(ws),
        schema.rules(ws),
        schema.tokens(ws),
        schema.last_used(ws),
        schema.secrets(ws),
        schema.limits(ws),
        schema.token_index(ws),
    )
    staged = tuple(schema.staging(ws, run, part) for part in parts)
    hashes = (
        checked.credentials,
        None,
        checked.tokens,
        checked.last_used,
        checked.secrets,
        checked.limits,
    )
    sizes = [len(m) if m is not None else len(checked.rules) for m in hashes]
    sizes.append(len(checked.tokens))  # the index: one member a token
    meta_items = [x for kv in checked.meta.items() for x in kv]
    detail = {
        "entries": sum(sizes[:-1]),
        "verified": checked.verified,
        "catalog": "applied" if apply_catalog else "kept",
        "exported_at": checked.exported_at,
        "kept_revoked": checked.kept_revoked,
    }
    # Rebuilt from the restored tokens on first read (a leftover would be another's).
    yield Command(("UNLINK", schema.token_activity(ws)))
    try:
        for key, mapping in zip(staged[: len(hashes)], hashes, strict=True):
            if mapping is not None:
                yield from _stage(key, "HSET", (x for kv in mapping.items() for x in kv), 2)
        yield from _stage(staged[1], "SADD", checked.rules, 1)
        index = ((stored_score(v), k) for k, v in checked.tokens.items())
        yield from _stage(staged[6], "ZADD", (x for pair in index for x in pair), 2)
        reply = yield write_call(
            ctx,
            ws,
            RESTORE,
            (*live_keys, *staged),
            actor=actor,
            action="workspace.restored",
            detail=detail,
            sizes=sizes,
            meta_fields=meta_items,
            notify_fields=[x for kv in checked.notify.items() for x in kv],
        )
    except StoreUnavailable:
        # Nothing is live; the staged part goes now (or, if Redis is gone, with its TTL).
        yield Command(("UNLINK", *staged))
        raise
    status = int(reply[0])
    if status < 0:
        yield Command(("UNLINK", *staged))
    if status == Reply.EXISTS:
        raise KeystileError(f"workspace {ws} already exists here; restore into an empty Redis")
    if status == Reply.STAGED_MISMATCH:
        raise KeystileError("the restore's staged data changed or expired; nothing restored")
    yield Command(("SADD", schema.WORKSPACES, ws))
    if apply_catalog and own is not None:
        yield from save_catalog(ctx, own, actor=actor)
    return Restored(
        ws,
        catalog_status,
        apply_catalog and own is not None,
        checked.verified,
        checked.exported_at,
        checked.kept_revoked,
        checked.out_of_policy,
        tuple(c for c, f in (("webhook", "url"), ("mail", "emails")) if f in checked.notify),
    )
