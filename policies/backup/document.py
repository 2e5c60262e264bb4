"""The backup document: its authentication, and the checks a restore passes before any write.

A backup (``keystile-backup/2``) is one workspace as stored (digests and ciphertexts, never a
plain key), the catalog it was made with, the check values of the secrets it was made under
and an HMAC-SHA256 over everything else (canonical JSON), under a key derived from the digest
secret. :func:`check` refuses a modified backup (whatever the flags: nothing in the file
decides whether its MAC is checked), one older than a bound, and any section the live
operations would not have written, using their validators; credentials this deployment
revoked since stay revoked. It returns every section in the canonical encoding the store
writes. Only a format-1 file (no MAC) is accepted unverified, on the operator's word.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from policies.backup import notify_section, sections
from policies.backup.sections import fail
from policies.catalog.catalog import Catalog
from policies.errors import KeystileError
from policies.keys.crypto import Keyring
from policies.keys.keyformat import is_workspace_id
from policies.lifetime import FIELD as LIFETIME_FIELD
from policies.lifetime import LifetimePolicy
from policies.notify.endpoints import EndpointPolicy
from policies.operations.base import Context
from policies.storage import schema

FORMAT = "keystile-backup/2"
LEGACY_FORMAT = "keystile-backup/1"  # no MAC: accepted only unverified
SECTIONS = ("keys", "tokens", "lastused", "secrets", "limits")
# Sections added after format 2 was first written: a backup without one restores without it
# (an older Keystile restoring a newer backup ignores them, as it ignores any unknown field).
ADDED_SECTIONS = frozenset({"limits"})
DAY = 86400.0
MAX_AGE = 7 * DAY  # a restore refuses an older backup unless told otherwise
FUTURE_SLACK = 300.0  # clocks disagree a little


def canonical(document: dict[str, Any]) -> bytes:
    """What the MAC covers: every field but ``mac``, as sorted, ASCII-only JSON."""
    body = {k: v for k, v in document.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(keyring: Keyring, document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "mac": keyring.mac(canonical(document))}


@dataclass(frozen=True, slots=True)
class Restoration:
    """A checked backup, in the encoding the store writes."""

    workspace_id: str
    meta: dict[str, str]
    credentials: dict[str, str]
    rules: list[str]
    tokens: dict[str, str]
    last_used: dict[str, str]
    secrets: dict[str, str]
    limits: dict[str, str]
    catalog: Catalog | None
    verified: bool  # authenticated under this deployment's digest secret
    exported_at: float | None
    kept_revoked: int
    out_of_policy: int = 0  # live tokens beyond the lifetime policy: kept, shown out of it
    notify: dict[str, str] = field(default_factory=dict)  # the notify hash's settings


def _authenticate(
    keyring: Keyring, doc: dict[str, Any], unverified: bool, other: Keyring | None
) -> Keyring | None:
    """The keyring whose MAC authenticates ``doc``: this deployment's, or ``other`` (the
    digest secret the operator says it was made under); None for a format-1 file accepted
    unverified. No field of the file chooses whether its MAC is checked."""
    if doc.get("format") == LEGACY_FORMAT:
        if not unverified:
            raise fail(
                "it is unauthenticated (format 1: no MAC); pass --unverified to restore it "
                "anyway, only if you know nobody edited the file"
            )
        return None
    checks = doc.get("key_check")
    mac = doc.get("mac")
    if not isinstance(checks, dict) or not isinstance(mac, str):
        raise fail("it carries no MAC or key-check values")
    if checks.get("digest_secret") == keyring.digest_check:
        signer = keyring
    elif other is not None:
        signer = other
    else:
        raise fail(
            f"it says it was made under another digest secret (check value "
            f"{str(checks.get('digest_secret'))[:16]!r}, this deployment's is "
            f"{keyring.digest_check!r}), or it was modified: give the secret it was made "
            "under with --backup-digest-secret-file FILE to check its MAC"
        )
    if not signer.verify_mac(canonical(doc), mac):
        under = "this deployment's" if signer is keyring else "the given"
        raise fail(f"it was modified after export (its MAC does not match under {under} secret)")
    masters = checks.get("master_keys")
    if not isinstance(masters, list) or not all(isinstance(m, str) for m in masters):
        raise fail("its key-check values are damaged")
    unknown = sorted(set(masters) - set(keyring.master_key_checks))
    if unknown:
        raise fail(
            f"it was made under master key(s) {', '.join(unknown)} (check values), which "
            "are not in KEYSTILE_MASTER_KEYS: its ciphertexts cannot be decrypted here"
        )
    return signer


def _exported_at(ctx: Context, doc: dict[str, Any], max_age: float) -> float | None:
    """When it was made (under the MAC from format 2), within ``max_age`` of now."""
    if doc.get("format") == LEGACY_FORMAT and "exported_at" not in doc:
        return None
    made = sections.time_of(doc.get("exported_at"), "its export time")
    age = ctx.clock() - made
    if age < -FUTURE_SLACK:
        raise fail("its export time is in the future (is this clock or the exporter's wrong?)")
    if age > max_age:
        raise fail(
            f"it is {age / DAY:.1f} days old, older than {max_age / DAY:g} days: it may bring "
            "back what was changed since; pass --max-age DAYS to restore it anyway"
        )
    return made


def _honour_revocations(
    parts: dict[str, dict[str, str]], revoked: dict[str, float]
) -> tuple[dict[str, dict[str, str]], dict[str, float]]:
    """The sections without the credentials revoked here since, and which (digest: when)."""
    kept = {d: revoked[d] for d in parts["keys"] if d in revoked}
    out = dict(parts)
    out["keys"] = {d: r for d, r in parts["keys"].items() if d not in kept}
    return out, kept


def _lifetime(value: Any) -> LifetimePolicy:
    """The backup's token lifetime policy (absent or null: none), as the live operation
    would have stored it."""
    if value is None:
        return LifetimePolicy()
    try:
        return LifetimePolicy.from_dict(value)
    except KeystileError as exc:
        raise fail(f"its lifetime_policy: {exc}") from None


def check(
    ctx: Context,
    document: Any,
    live_catalog: Catalog | None,
    *,
    apply_catalog: bool = False,
    unverified: bool = False,
    other: Keyring | None = None,
    max_age: float = MAX_AGE,
    revoked: dict[str, float] | None = None,
    endpoints: EndpointPolicy | None = None,
) -> Restoration:
    """Everything a restore writes, checked; raises :class:`KeystileError` on any doubt.
    ``revoked``: digests this deployment revoked (they stay revoked); ``endpoints``: where
    this deployment lets webhooks go (default: public https only)."""
    if not isinstance(document, dict) or document.get("format") not in (FORMAT, LEGACY_FORMAT):
        raise KeystileError(f"not a Keystile backup (expected format {FORMAT!r})")
    ws = document.get("workspace_id")
    if not isinstance(ws, str) or not is_workspace_id(ws):
        raise fail("it has no valid workspace_id")
    signer = _authenticate(ctx.keyring, document, unverified, other)
    exported_at = _exported_at(ctx, document, max_age)
    parts = {
        name: sections.strings(document, name)
        for name in ("meta", *SECTIONS)
        if name in document or name not in ADDED_SECTIONS
    }
    parts, kept = _honour_revocations(parts, revoked or {})
    own = (
        Catalog.from_dict(document["catalog"], redirect_default=True)
        if document.get("catalog")
        else None
    )
    if apply_catalog and own is None:
        raise fail("it holds no catalog to apply")
    catalog = own if apply_catalog else live_catalog
    meta = sections.meta(ctx, ws, parts["meta"], signer)
    policy = _lifetime(document.get("lifetime_policy"))
    if not policy.empty:
        meta[LIFETIME_FIELD] = policy.encode()
    rules = sections.rules(document.get("rules"), catalog, "the workspace's rules")
    tokens, dropped = sections.revoke(sections.tokens(parts["tokens"], catalog), kept)
    infos = {digest: info for info, digest in tokens.values()}
    credentials = sections.credentials(ctx, parts["keys"], meta, infos, set(kept), catalog)
    last_used = sections.last_used(ctx, parts["lastused"])
    sections.secrets(ctx, ws, parts["secrets"])
    notify = notify_section.restored(ctx, ws, document.get("notify"), endpoints or EndpointPolicy())
    limits = sections.limits(parts.get("limits", {}), tokens, catalog, dropped)
    return Restoration(
        ws,
        meta,
        credentials,
        [r.encode() for r in rules],
        {kid: schema.token_metadata(info, digest) for kid, (info, digest) in tokens.items()},
        last_used,
        dict(parts["secrets"]),
        limits,
        own,
        signer is ctx.keyring,
        exported_at,
        len(kept),
        sum(policy.violation(info, ctx.clock()) is not None for info, _ in tokens.values()),
        notify,
    )
