"""Allow-lists of the SDK key and of tokens (:mod:`policies.restrictions`): read, change, and
what a new catalog would leave them naming.

They live in the key's credential record (the lookup's one read brings them) and, for a
token, in its metadata too (listings). Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable

from policies.errors import KeystileError, NotFound, UnknownWorkspace
from policies.operations.base import Context, Op, apply_call, checked, require_workspace
from policies.operations.live_scopes import record as _record
from policies.operations.rules import require_catalog
from policies.restrictions import (
    check_networks,
    check_scopes,
    describe,
    stored,
)
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.scripting import Reply
from policies.storage.values import TokenInfo

_ATTEMPTS = 5
Allowed = tuple[str, ...] | None  # None: unrestricted


class Keep(enum.Enum):
    """A change that leaves one of the two lists as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP
Change = Iterable[str] | None | Keep


@dataclasses.dataclass(frozen=True, slots=True)
class Restriction:
    scopes: Allowed = None
    networks: Allowed = None


def _checked(
    ctx: Context, scopes: Change, networks: Change
) -> Operation[tuple[Allowed | Keep, Allowed | Keep]]:
    """Both changes parsed (scopes against the catalog) before anything is read."""
    new_scopes: Allowed | Keep = None if scopes is None else KEEP
    if scopes is not None and not isinstance(scopes, Keep):
        new_scopes = check_scopes(scopes, (yield from require_catalog(ctx)))
    new_networks: Allowed | Keep = None if networks is None else KEEP
    if networks is not None and not isinstance(networks, Keep):
        new_networks = check_networks(networks)
    return new_scopes, new_networks


def restrict_token(
    ctx: Context,
    ws: str,
    key_id: str,
    *,
    scopes: Change = KEEP,
    networks: Change = KEEP,
    actor: str,
) -> Operation[TokenInfo]:
    """Replace a live token's scopes and/or networks (None: lift); the token now."""
    require_workspace(ws)
    new_scopes, new_networks = yield from _checked(ctx, scopes, networks)
    for _ in range(_ATTEMPTS):
        raw = yield Command(("HGET", schema.tokens(ws), key_id))
        if raw is None:
            raise NotFound(f"no token with id {key_id!r} in this workspace")
        info, digest = schema.decode_token(raw)
        if info.revoked is not None:
            raise KeystileError(f"token {key_id} is revoked: there is nothing to restrict")
        credential = yield Command(("HGET", schema.credentials(ws), digest))
        if credential is None:
            raise NotFound(f"token {key_id} has no live credential")
        new = dataclasses.replace(
            info,
            scopes=info.scopes if isinstance(new_scopes, Keep) else new_scopes,
            networks=info.networks if isinstance(new_networks, Keep) else new_networks,
        )
        record = schema.restrict(_record(credential), new.scopes, new.networks)
        ops: list[Op] = [
            ("SAME", schema.credentials(ws), digest, schema.text(credential)),
            ("SAME", schema.tokens(ws), key_id, schema.text(raw)),
            ("HSET", schema.credentials(ws), digest, schema.dump(record)),
            ("HSET", schema.tokens(ws), key_id, schema.token_metadata(new, digest)),
        ]
        detail = {"key_id": key_id, "name": info.name, **describe(new.scopes, new.networks)}
        reply = yield apply_call(
            ctx, ws, ops, actor=actor, action="token.restricted", detail=detail
        )
        if int(reply[0]) != Reply.CONFLICT:
            checked(reply, ws)
            return new
    raise KeystileError("the token kept changing while being restricted: try again")


def sdk_restriction(ctx: Context, ws: str) -> Operation[Restriction]:
    """The SDK key's allow-lists."""
    digest = yield Command(("HGET", schema.meta(require_workspace(ws)), "sk_digest"))
    if digest is None:
        raise UnknownWorkspace(ws)
    raw = yield Command(("HGET", schema.credentials(ws), schema.text(digest)))
    if raw is None:
        return Restriction()
    data = _record(raw)
    return Restriction(stored(data, "scopes"), stored(data, "networks"))


def restrict_sdk_key(
    ctx: Context, ws: str, *, scopes: Change = KEEP, networks: Change = KEEP, actor: str
) -> Operation[Restriction]:
    """Replace the SDK key's scopes and/or networks (None: lift), for the key in its roll's
    grace period too; the allow-lists now."""
    require_workspace(ws)
    new_scopes, new_networks = yield from _checked(ctx, scopes, networks)
    for _ in range(_ATTEMPTS):
        found = yield Command(("HMGET", schema.meta(ws), "sk_digest", "sk_prev_digest"))
        if found[0] is None:
            raise UnknownWorkspace(ws)
        digests = [schema.text(d) for d in found if d is not None]
        records = yield Batch(tuple(Command(("HGET", schema.credentials(ws), d)) for d in digests))
        ops: list[Op] = [("SAME", schema.meta(ws), "sk_digest", digests[0])]
        new = Restriction()
        for index, (digest, raw) in enumerate(zip(digests, records, strict=True)):
            if raw is None:
                continue
            data = _record(raw)
            if index == 0:
                new = Restriction(
                    stored(data, "scopes") if isinstance(new_scopes, Keep) else new_scopes,
                    stored(data, "networks") if isinstance(new_networks, Keep) else new_networks,
                )
            record = schema.dump(schema.restrict(data, new.scopes, new.networks))
            ops.append(("SAME", schema.credentials(ws), digest, schema.text(raw)))
            ops.append(("HSET", schema.credentials(ws), digest, record))
        reply = yield apply_call(
            ctx,
            ws,
            ops,
            actor=actor,
            action="sdk_key.restricted",
            detail=describe(new.scopes, new.networks),
        )
        if int(reply[0]) != Reply.CONFLICT:
            checked(reply, ws)
            return new
    raise KeystileError("the SDK key kept changing while being restricted: try again")
