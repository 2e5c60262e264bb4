"""Leak reports: classify a reported key, act on the workspace's leak policy, record it.

A report of one key: its format and checksum first (no store call for junk or a
publishable key), then what the store holds of its digest (the current SDK key, the one in
its grace period, a token, or one revoked before), then the claim
(:data:`policies.storage.lua_leaks.LEAK_CLAIM`: the same key is acted on once), the action
through the ordinary operations (roll, revoke: each audited and published to the gateways
like any admin's), and last the record: the Tokens page's list and the ``key.leaked`` audit
entry. A repeat is answered as before but neither acted on nor audited again; a key
claimed by a report still being handled (or by one that died, until its claim is stale) is
``PENDING``, which the endpoint answers "try again", never "done".

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from policies.errors import InvalidKey, KeystileError, StoreUnavailable, UnknownWorkspace
from policies.keys import keyformat
from policies.keys.keyformat import KeyKind
from policies.leaks.policy import LeakPolicy, LeakRecord, Outcome, Sighting
from policies.operations.base import (
    Context,
    apply_call,
    audit_call,
    checked,
    require_workspace,
    wake,
)
from policies.operations.tokens import revoke_token
from policies.operations.workspaces import roll_sdk_key
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.lua_leaks import LEAK_CLAIM
from policies.storage.scripting import Reply

LEAKED = "key.leaked"  # the audit action (notifications key on it)
CLAIM_STALE = 60.0  # seconds after which a claim left pending (a crash) is taken over
MAX_REPORTS = 100  # leak reports kept per workspace, newest first


@dataclass(frozen=True, slots=True)
class Found:
    """A reported key the store knows: its kind, id, name and state."""

    ws: str
    kind: KeyKind
    digest: str
    key_id: str
    name: str
    state: str  # live | grace | revoked


def get_policy(ctx: Context, ws: str) -> Operation[LeakPolicy]:
    """The workspace's policy; KeystileError if the stored one is damaged."""
    raw = yield Command(("HMGET", schema.meta(require_workspace(ws)), "id", "leak_policy"))
    if raw[0] is None:
        raise UnknownWorkspace(ws)
    return LeakPolicy.decode(None if raw[1] is None else schema.text(raw[1]))


def policy_in_force(ctx: Context, ws: str) -> Operation[tuple[LeakPolicy, bool]]:
    """The policy reports follow, and whether the stored one is damaged (then the default,
    the key treated as compromised, is in force until a valid one is set)."""
    try:
        return (yield from get_policy(ctx, ws)), False
    except UnknownWorkspace:
        raise
    except KeystileError:
        return LeakPolicy(), True


def set_policy(ctx: Context, ws: str, policy: LeakPolicy, *, actor: str) -> Operation[bool]:
    """Store ``policy`` (audited as ``leak_policy.set``); False if it was already so."""
    op = ("HSET", schema.meta(require_workspace(ws)), "leak_policy", policy.encode())
    reply = yield apply_call(
        ctx, ws, [op], actor=actor, action="leak_policy.set", detail=policy.as_dict()
    )
    return checked(reply, ws) != Reply.UNCHANGED


def recent(ctx: Context, ws: str, count: int = MAX_REPORTS) -> Operation[list[LeakRecord]]:
    """The workspace's leak reports, newest first."""
    count = max(1, min(int(count), MAX_REPORTS))
    rows = yield Command(("LRANGE", schema.leak_reports(require_workspace(ws)), 0, count - 1))
    records = (LeakRecord.decode(schema.text(row)) for row in rows)
    return [r for r in records if r is not None]


def report(ctx: Context, key: str, sighting: Sighting) -> Operation[Outcome]:
    """Handle one reported key (see the module doc); what it came to."""
    try:
        parsed = keyformat.parse(key)
    except InvalidKey:
        return Outcome.UNKNOWN
    if parsed.kind is KeyKind.PUBLISHABLE:
        return Outcome.PUBLISHABLE
    digest = ctx.keyring.digest(key)
    found = yield from _find(ctx, parsed.workspace_id, parsed.kind, digest)
    if found is None:
        return Outcome.UNKNOWN
    ws = found.ws
    claimed = yield LEAK_CLAIM.call(
        (schema.leaks(ws),), digest=digest, now=repr(ctx.clock()), stale=CLAIM_STALE
    )
    if int(claimed) < 0:
        return Outcome.PENDING
    if not int(claimed):
        return Outcome.REPEAT
    actor = f"leak-report:{sighting.reporter}"
    try:
        outcome = yield from _act(ctx, found, actor)
    except Exception:
        # Let the reporter's retry act again (Redis away: the claim goes stale instead).
        with contextlib.suppress(StoreUnavailable):
            yield Command(("HDEL", schema.leaks(ws), digest))
        raise
    seen = sighting.scrubbed(key)
    now = ctx.clock()
    record = LeakRecord(
        now, found.kind.value, found.key_id, found.name, seen.reporter, seen.where,
        seen.source, outcome.value,
    )  # fmt: skip
    detail = {
        "kind": found.kind.value,
        "key_id": found.key_id,
        "location": seen.where,
        "source": seen.source,
        "reporter": seen.reporter,
        "action": outcome.value,
    }
    yield Batch(
        (
            Command(("HSET", schema.leaks(ws), digest, f"{now!r} done")),
            Command(("LPUSH", schema.leak_reports(ws), record.encode())),
            Command(("LTRIM", schema.leak_reports(ws), 0, MAX_REPORTS - 1)),
            audit_call(ctx, ws, actor, LEAKED, detail),
        )
    )
    yield wake(ws)  # the notification worker's index (policies.operations.base.wake)
    return outcome


def _find(ctx: Context, ws: str, kind: KeyKind, digest: str) -> Operation[Found | None]:
    """What the store holds of ``digest`` (None: not a key of this deployment)."""
    kid = ctx.keyring.key_id(digest)
    if kind is KeyKind.TOKEN:
        raw = yield Command(("HGET", schema.tokens(ws), kid))
        if raw is None:
            return None
        info, stored = schema.decode_token(raw)
        if stored != digest:
            return None
        state = "revoked" if info.revoked is not None else "live"
        return Found(ws, kind, digest, kid, info.name, state)
    current, previous = yield Command(("HMGET", schema.meta(ws), "sk_digest", "sk_prev_digest"))
    if current is not None and schema.text(current) == digest:
        return Found(ws, kind, digest, kid, "SDK key", "live")
    if previous is not None and schema.text(previous) == digest:
        return Found(ws, kind, digest, kid, "SDK key", "grace")
    if (yield Command(("HEXISTS", schema.revoked(ws), digest))):
        return Found(ws, kind, digest, kid, "SDK key", "revoked")
    return None


def _act(ctx: Context, found: Found, actor: str) -> Operation[Outcome]:
    if found.state == "revoked":
        return Outcome.ALREADY_REVOKED
    policy, _ = yield from policy_in_force(ctx, found.ws)
    if found.kind is KeyKind.TOKEN:
        if policy.tokens == "notify":
            return Outcome.NOTIFIED
        yield from revoke_token(ctx, found.ws, found.key_id, actor=actor)
        return Outcome.REVOKED
    if policy.sdk == "notify":
        return Outcome.NOTIFIED
    if found.state == "grace":
        return (yield from _end_grace(ctx, found, actor))
    # The new key is not kept: an admin reveals it with a one-time password.
    yield from roll_sdk_key(ctx, found.ws, actor=actor, grace_seconds=0)
    return Outcome.ROLLED


def _end_grace(ctx: Context, found: Found, actor: str) -> Operation[Outcome]:
    """Refuse the SDK key in its grace period now (the current key stays)."""
    ws, digest = found.ws, found.digest
    yield Command(("HSET", schema.revoked(ws), digest, repr(ctx.clock())))
    ops = [
        ("SAME", schema.meta(ws), "sk_prev_digest", digest),
        ("HDEL", schema.credentials(ws), digest, ""),
        ("HDEL", schema.meta(ws), "sk_prev_digest", ""),
    ]
    reply = yield apply_call(
        ctx, ws, ops, actor=actor, action="sdk_key.grace_ended", detail={"key_id": found.key_id}
    )
    if int(reply[0]) == Reply.CONFLICT:  # rolled again meanwhile: that ended it
        return Outcome.ALREADY_REVOKED
    checked(reply, ws)
    return Outcome.GRACE_ENDED
