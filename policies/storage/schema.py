"""The Redis key schema and the encoding of everything stored under it.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import json
from typing import Any

from policies import restrictions
from policies.catalog.rules import Rule, decode_all
from policies.keys.keyformat import KeyKind
from policies.storage.values import TokenInfo
from policies.times import stored_time

PREFIX = "ks"
WORKSPACES = f"{PREFIX}:workspaces"
CATALOG = f"{PREFIX}:catalog"
EVENTS_CHANNEL = f"{PREFIX}:events"
AUDIT_MAXLEN = 10_000
# The hash tag puts the deployment's audit stream in the catalog's slot (the tag's text is
# the catalog key's whole name), so a catalog change and its entry are one Lua step.
DEPLOYMENT_AUDIT = f"{{{CATALOG}}}:audit"
DIGEST_CHECK = f"{PREFIX}:digest_check"
STAGING_TTL_SECONDS = 3600


def meta(ws: str) -> str:
    return f"{PREFIX}:{{{ws}}}:meta"


def credentials(ws: str) -> str:
    return f"{PREFIX}:{{{ws}}}:keys"


def rules(ws: str) -> str:
    return f"{PREFIX}:{{{ws}}}:rules"


def tokens(ws: str) -> str:
    return f"{PREFIX}:{{{ws}}}:tokens"


def token_index(ws: str) -> str:
    """Key ids by creation, newest first (score: minus the creation time): a sorted set."""
    return f"{PREFIX}:{{{ws}}}:token_index"


def token_activity(ws: str) -> str:
    """Live tokens by last activity (last use, else creation): a sorted set, with a marker
    member once complete (see :mod:`policies.operations.token_activity`)."""
    return f"{PREFIX}:{{{ws}}}:token_activity"


def token_status(ws: str, status: str) -> str:
    """Key ids of one status (active, expired, revoked), scored as in the token index."""
    return f"{PREFIX}:{{{ws}}}:tokens_{status}"


def token_expiry(ws: str) -> str:
    """Active tokens that expire, scored by their expiry: a sorted set."""
    return f"{PREFIX}:{{{ws}}}:tokens_expiry"


def token_terms(ws: str) -> str:
    """The tokens' search terms (name words, key ids), one score: a sorted set read by lex."""
    return f"{PREFIX}:{{{ws}}}:tokens_terms"


def last_used(ws: str) -> str:
    return f"{PREFIX}:{{{ws}}}:lastused"


def secrets(ws: str) -> str:
    return f"{PREFIX}:{{{ws}}}:secrets"


def limits(ws: str) -> str:
    return f"{PREFIX}:{{{ws}}}:limits"


def usage(ws: str, grain: str, start: int) -> str:
    """A usage bucket: ``grain`` is ``m``, ``h`` or ``d``, ``start`` its unix time."""
    return f"{PREFIX}:{{{ws}}}:usage:{grain}:{start}"


def audit(ws: str) -> str:
    return f"{PREFIX}:{{{ws}}}:audit"


def leaks(ws: str) -> str:
    """Reported keys (hash: digest -> "<time> pending|done"): a report's claim, so the same
    key reported twice is acted on once."""
    return f"{PREFIX}:{{{ws}}}:leaks"


def leak_reports(ws: str) -> str:
    """The workspace's leak reports, newest first (a list, bounded): the Tokens page's."""
    return f"{PREFIX}:{{{ws}}}:leak_reports"


def staging(ws: str, run: str, part: str) -> str:
    """A restore's section before it goes live: same slot as the workspace's own keys."""
    return f"{PREFIX}:{{{ws}}}:staging:{run}:{part}"


def revoked(ws: str) -> str:
    """Digests of a workspace's revoked credentials (hash: digest -> time). Outside the
    workspace's slot, so losing the workspace (its keys, its node) does not lose it."""
    return f"{PREFIX}:revoked:{ws}"


def otp(ws: str, *parts: str) -> str:
    return ":".join((f"{PREFIX}:{{{ws}}}:otp", *parts))


def otp_admin_sends(admin_key: str) -> str:
    """An admin's one-time-password sends across workspaces (``admin_key``: an HMAC name)."""
    return f"{PREFIX}:otp:{{{admin_key}}}:sends"


def notify(ws: str, part: str = "") -> str:
    """Security notifications (:mod:`policies.notify`): ``""`` the settings and counters
    (hash), ``outbox`` (stream), ``due`` (sorted set), ``tries`` (hash), ``dead`` (list),
    ``marks`` (hash): all in the workspace's slot."""
    return f"{PREFIX}:{{{ws}}}:notify" + (f":{part}" if part else "")


# Workspaces with deliveries due (score: when), one deployment-wide sorted set: the
# notification worker's index, written after the workspace's own step (another slot).
NOTIFY_PENDING = f"{PREFIX}:notify:pending"


def text(value: Any) -> str:
    """Replies as ``str`` whether the client decodes responses or not."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def pairs(reply: Any) -> list[tuple[str, str]]:
    """A hash reply (HGETALL, HSCAN's items) as text pairs, whether redis-py's callback
    already made it a dict (the client's default) or left the flat list."""
    if isinstance(reply, dict):
        return [(text(k), text(v)) for k, v in reply.items()]
    texts = [text(i) for i in reply]
    return list(zip(texts[::2], texts[1::2], strict=True))


def dump(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# -- credential records (ks:{W}:keys) --------------------------------------------------
def credential_record(
    kind: KeyKind,
    key_id: str,
    created: float,
    *,
    expires: float | None = None,
    name: str | None = None,
    rule_list: tuple[Rule, ...] = (),
    scopes: tuple[str, ...] | None = None,
    networks: tuple[str, ...] | None = None,
) -> str:
    record: dict[str, Any] = {"kind": kind.value, "kid": key_id, "created": created}
    restrict(record, scopes, networks)
    if expires is not None:
        record["expires"] = expires
    if name is not None:
        record["name"] = name
    if rule_list:  # omitted when empty: Lua's cjson would re-encode [] as {}
        record["rules"] = [r.encode() for r in rule_list]
    return dump(record)


def restrict(
    record: dict[str, Any], scopes: tuple[str, ...] | None, networks: tuple[str, ...] | None
) -> dict[str, Any]:
    """Set (or drop, for None) a record's allow-lists (:mod:`policies.restrictions`)."""
    for field, value in (("scopes", scopes), ("networks", networks)):
        if value is None:
            record.pop(field, None)
        else:
            record[field] = list(value)
    return record


# -- token metadata (ks:{W}:tokens) ----------------------------------------------------
def token_metadata(info: TokenInfo, digest: str) -> str:
    record = {
        "kid": info.key_id,
        "name": info.name,
        "created": info.created,
        "expires": info.expires,
        "revoked": info.revoked,
        "rules": [r.encode() for r in info.rules],
        "digest": digest,
    }
    return dump(restrict(record, info.scopes, info.networks))


def decode_token(raw: Any, last_used_at: Any = None) -> tuple[TokenInfo, str]:
    data = json.loads(text(raw))
    info = TokenInfo(
        key_id=data["kid"],
        name=data["name"],
        created=data["created"],
        expires=data.get("expires"),
        revoked=data.get("revoked"),
        rules=tuple(sorted(decode_all(data.get("rules", ())))),
        last_used=stored_time(text(last_used_at)) if last_used_at is not None else None,
        scopes=restrictions.stored(data, "scopes"),
        networks=restrictions.stored(data, "networks"),
    )
    return info, data["digest"]
