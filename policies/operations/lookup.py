"""What the gateway asks of the store: the one-round-trip lookup, versions, last use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from policies.errors import InvalidKey
from policies.keys import keyformat
from policies.keys.keyformat import KeyKind
from policies.limits.counters import FirstLeases, first_leases, owner_prefix
from policies.limits.rate_limits import owner
from policies.operations import token_activity
from policies.operations.base import Context
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.lookup_reply import decode_lookup
from policies.storage.lua import LOOKUP
from policies.storage.values import KeyPolicy


def lookup(ctx: Context, raw_key: str) -> Operation[KeyPolicy]:
    """The policy of a presented key, in one round trip; any failure is :class:`InvalidKey`.

    Format and checksum are checked before Redis is asked, so junk costs nothing.
    """
    policy, _ = yield from lookup_leased(ctx, raw_key)
    return policy


def lookup_leased(
    ctx: Context, raw_key: str, *, process: str = "", stale: float = 0.0
) -> Operation[tuple[KeyPolicy, FirstLeases]]:
    """:func:`lookup`, and for a gateway ``process`` its first sync of the owner's rate-limit
    counters in the same step (:data:`policies.storage.lua.LOOKUP`): a lease per window."""
    parsed = keyformat.parse(raw_key)
    ws = parsed.workspace_id
    digest = ctx.keyring.digest(raw_key)
    kid = ctx.keyring.key_id(digest) if parsed.kind is KeyKind.TOKEN else ""
    whose = owner(parsed.kind, kid)
    reply = yield LOOKUP.call(
        (schema.meta(ws), schema.credentials(ws), schema.rules(ws), schema.limits(ws)),
        digest=digest,
        owner=whose,
        proc=process,
        now=repr(ctx.clock()),
        stale=stale,
        counters=owner_prefix(ws, whose),
    )
    policy = decode_lookup(ws, reply)
    if policy is None or policy.kind is not parsed.kind:
        raise InvalidKey()
    return policy, first_leases(reply[5]) if process else {}


def versions(ctx: Context, workspace_ids: Iterable[str]) -> Operation[dict[str, int]]:
    """Current policy version of each workspace (0 for one that no longer exists)."""
    ids = list(workspace_ids)
    if not ids:
        return {}
    replies = yield Batch(tuple(Command(("HGET", schema.meta(ws), "version")) for ws in ids))
    return {
        ws: int(schema.text(v)) if v is not None else 0 for ws, v in zip(ids, replies, strict=True)
    }


def touch(ctx: Context, usage: Mapping[str, Mapping[str, float]]) -> Operation[None]:
    """Record last-use times, ``{workspace: {key_id: unix_time}}``, batched by the caller."""
    commands = tuple(
        command
        for ws, times in usage.items()
        if times
        for command in (
            Command(("HSET", schema.last_used(ws), *(x for kv in times.items() for x in kv))),
            token_activity.touch_command(ws, times),
        )
    )
    if commands:
        yield Batch(commands)
