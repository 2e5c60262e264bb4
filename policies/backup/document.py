"""The backup document: its authentication, and the checks a restore passes before any write.

A backup (``keystile-backup/2``) is one workspace as stored (digests and ciphertexts, never a
plain key), the catalog it was made with, the check values of the secrets it was made under
and an HMAC-SHA256 over everything else (canonical JSON), under a key derived from the digest
secret. :func:`check` refuses a modified backup, one made under other secrets (unless the
operator accepts it unverified) and any section the live operations would not have written,
using their validators; it returns every section in the canonical encoding the store writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from policies.backup import sections
from policies.backup.sections import fail
from policies.catalog.catalog import Catalog
from policies.errors import KeystileError
from policies.keys.crypto import Keyring
from policies.keys.keyformat import is_workspace_id
from policies.operations.base import Context
from policies.storage import schema

FORMAT = "keystile-backup/2"
LEGACY_FORMAT = "keystile-backup/1"  # no MAC: accepted only unverified
SECTIONS = ("keys", "tokens", "lastused", "secrets", "limits")
# Sections added after format 2 was first written: a backup without one restores without it
# (an older Keystile restoring a newer backup ignores them, as it ignores any unknown field).
ADDED_SECTIONS = frozenset({"limits"})


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
    verified: bool


def _authenticate(keyring: Keyring, doc: dict[str, Any], unverified: bool) -> bool:
    if doc.get("format") == LEGACY_FORMAT:
        if not unverified:
            raise fail("it is unauthenticated (format 1); re-export it, or pass --unverified")
        return False
    checks = doc.get("key_check")
    mac = doc.get("mac")
    if not isinstance(checks, dict) or not isinstance(mac, str):
        raise fail("it carries no MAC or key-check values")
    masters = checks.get("master_keys")
    if not isinstance(masters, list) or not all(isinstance(m, str) for m in masters):
        raise fail("its key-check values are damaged")
    unknown = sorted(set(masters) - set(keyring.master_key_checks))
    if unknown:
        raise fail(
            f"it was made under master key(s) {', '.join(unknown)} (check values), which "
            "are not in KEYSTILE_MASTER_KEYS: its ciphertexts cannot be decrypted here"
        )
    if checks.get("digest_secret") != keyring.digest_check:
        if not unverified:
            raise fail(
                f"it was made under another digest secret (check value "
                f"{str(checks.get('digest_secret'))[:16]!r}, this deployment's is "
                f"{keyring.digest_check!r}): none of its keys would work here. Pass "
                "--unverified to restore it anyway (disaster recovery; audited)"
            )
        return False
    if not keyring.verify_mac(canonical(doc), mac):
        raise fail("it was modified after export (its MAC does not match)")
    return True


def check(
    ctx: Context,
    document: Any,
    live_catalog: Catalog | None,
    *,
    apply_catalog: bool = False,
    unverified: bool = False,
) -> Restoration:
    """Everything a restore writes, checked; raises :class:`KeystileError` on any doubt."""
    if not isinstance(document, dict) or document.get("format") not in (FORMAT, LEGACY_FORMAT):
        raise KeystileError(f"not a Keystile backup (expected format {FORMAT!r})")
    ws = document.get("workspace_id")
    if not isinstance(ws, str) or not is_workspace_id(ws):
        raise fail("it has no valid workspace_id")
    verified = _authenticate(ctx.keyring, document, unverified)
    parts = {
        name: sections.strings(document, name)
        for name in ("meta", *SECTIONS)
        if name in document or name not in ADDED_SECTIONS
    }
    own = (
        Catalog.from_dict(document["catalog"], redirect_default=True)
        if document.get("catalog")
        else None
    )
    if apply_catalog and own is None:
        raise fail("it holds no catalog to apply")
    catalog = own if apply_catalog else live_catalog
    meta = sections.meta(ctx, ws, parts["meta"], verified)
    rules = sections.rules(document.get("rules"), catalog, "the workspace's rules")
    tokens = sections.tokens(parts["tokens"], catalog)
    infos = {digest: info for info, digest in tokens.values()}
    credentials = sections.credentials(ctx, parts["keys"], meta, infos)
    last_used = sections.last_used(ctx, parts["lastused"])
    sections.secrets(ctx, ws, parts["secrets"])
    limits = sections.limits(parts.get("limits", {}), tokens, catalog)
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
        verified,
    )
