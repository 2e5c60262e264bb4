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
import re
from dataclasses import dataclass
from typing import Any

from policies import schema
from policies.catalog import Catalog
from policies.crypto import Keyring, secret_context
from policies.errors import KeystileError
from policies.keyformat import KeyKind, is_workspace_id
from policies.operations.base import Context, check_label
from policies.operations.secrets import SECRET_NAME_RE
from policies.operations.workspaces import clean_origins, role_key
from policies.records import TokenInfo
from policies.rules import Rule
from policies.times import is_time

FORMAT = "keystile-backup/2"
LEGACY_FORMAT = "keystile-backup/1"  # no MAC: accepted only unverified
SECTIONS = ("keys", "tokens", "lastused", "secrets")
MAX_ENTRIES = 1_000_000
MAX_TEXT = 200_000
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_META = {"id", "name", "created", "origins", "version", "pk_digest", "pk_enc", "sk_digest"}
_META |= {"sk_enc", "pk_prev_digest", "sk_prev_digest"}


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
    catalog: Catalog | None
    verified: bool


def _fail(why: str) -> KeystileError:
    return KeystileError(f"backup refused: {why}")


def _authenticate(keyring: Keyring, doc: dict[str, Any], unverified: bool) -> bool:
    if doc.get("format") == LEGACY_FORMAT:
        if not unverified:
            raise _fail("it is unauthenticated (format 1); re-export it, or pass --unverified")
        return False
    checks = doc.get("key_check")
    mac = doc.get("mac")
    if not isinstance(checks, dict) or not isinstance(mac, str):
        raise _fail("it carries no MAC or key-check values")
    masters = checks.get("master_keys")
    if not isinstance(masters, list) or not all(isinstance(m, str) for m in masters):
        raise _fail("its key-check values are damaged")
    unknown = sorted(set(masters) - set(keyring.master_key_checks))
    if unknown:
        raise _fail(
            f"it was made under master key(s) {', '.join(unknown)} (check values), which "
            "are not in KEYSTILE_MASTER_KEYS: its ciphertexts cannot be decrypted here"
        )
    if checks.get("digest_secret") != keyring.digest_check:
        if not unverified:
            raise _fail(
                f"it was made under another digest secret (check value "
                f"{str(checks.get('digest_secret'))[:16]!r}, this deployment's is "
                f"{keyring.digest_check!r}): none of its keys would work here. Pass "
                "--unverified to restore it anyway (disaster recovery; audited)"
            )
        return False
    if not keyring.verify_mac(canonical(doc), mac):
        raise _fail("it was modified after export (its MAC does not match)")
    return True


def _strings(doc: dict[str, Any], name: str) -> dict[str, str]:
    part = doc.get(name)
    if not isinstance(part, dict) or len(part) > MAX_ENTRIES:
        raise _fail(f"section {name!r} is missing or has the wrong shape")
    for key, value in part.items():
        if not isinstance(value, str) or len(key) > MAX_TEXT or len(value) > MAX_TEXT:
            raise _fail(f"section {name!r} holds a value that is not a bounded string")
        try:
            key.encode("utf-8"), value.encode("utf-8")
        except UnicodeEncodeError:
            raise _fail(f"section {name!r} holds text that is not valid Unicode") from None
    return part


def _time(value: Any, what: str) -> float:
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if not is_time(number):
        raise _fail(f"{what} is not a valid time")
    return float(number)


def _rules(texts: Any, catalog: Catalog | None, what: str) -> tuple[Rule, ...]:
    if not isinstance(texts, list) or len(texts) > MAX_ENTRIES:
        raise _fail(f"{what} must be a list")
    rules = []
    for text in texts:
        rule = Rule.decode(text) if isinstance(text, str) else None
        if rule is None or rule.encode() != text:
            raise _fail(f"{what}: {text!r} is not a rule in canonical form (module:functionality)")
        if catalog is None:
            raise _fail(f"{what} need a catalog: load one, or pass --apply-catalog")
        catalog.check_rule(rule)
        rules.append(rule)
    return tuple(sorted(set(rules)))


def _record(raw: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise _fail(f"{what} is not a JSON object")
    return data


def _meta(ctx: Context, ws: str, raw: dict[str, str], verified: bool) -> dict[str, str]:
    missing = {"id", "name", "created", "pk_digest", "pk_enc", "sk_digest", "sk_enc"} - set(raw)
    if missing or set(raw) - _META or raw["id"] != ws:
        raise _fail("its meta section is not a workspace's")
    meta = {k: v for k, v in raw.items() if k != "version"}
    meta["name"] = check_label(raw["name"], "workspace name")
    meta["created"] = repr(_time(raw["created"], "meta created"))
    try:
        origins = json.loads(raw.get("origins") or "[]")
    except ValueError:
        origins = None
    if not isinstance(origins, list):
        raise _fail("meta origins is not a JSON list")
    meta["origins"] = json.dumps(clean_origins(origins))
    for role in ("pk", "sk", "pk_prev", "sk_prev"):
        digest = raw.get(f"{role}_digest")
        if digest is not None and not _DIGEST_RE.fullmatch(digest):
            raise _fail(f"meta {role}_digest is not a digest")
    for role in ("pk", "sk"):
        try:
            key = role_key(ctx, ws, role, raw[f"{role}_enc"])
        except KeystileError as exc:
            raise _fail(f"the {role} key's ciphertext: {exc}") from None
        if verified and ctx.keyring.digest(key) != raw[f"{role}_digest"]:
            raise _fail(f"meta {role}_digest is not the digest of its key")
    return meta


def _credentials(
    ctx: Context, raw: dict[str, str], meta: dict[str, str], tokens: dict[str, TokenInfo]
) -> dict[str, str]:
    roles = {meta.get(f"{r}{p}_digest"): r for r in ("pk", "sk") for p in ("", "_prev")}
    by_digest = {info_digest: info for info_digest, info in tokens.items()}
    out = {}
    for digest, text in raw.items():
        data = _record(text, "a credential record")
        kind, kid = data.get("kind"), data.get("kid")
        if not _DIGEST_RE.fullmatch(digest) or kid != ctx.keyring.key_id(digest):
            raise _fail("a credential record does not match its digest")
        expires = data.get("expires")
        expires = None if expires is None else _time(expires, "a credential's expiry")
        if kind in ("pk", "sk") and roles.get(digest) == kind:
            rules: tuple[Rule, ...] = ()
            name = None
        elif kind == "tk" and digest in by_digest and by_digest[digest].revoked is None:
            info = by_digest[digest]
            if data.get("name") != info.name or expires != info.expires:
                raise _fail(f"token {kid}'s credential and metadata disagree")
            rules, name = info.rules, info.name
        else:
            raise _fail(f"credential {kid} is not a live key of this workspace")
        created = _time(data.get("created"), "a credential's creation time")
        out[digest] = schema.credential_record(
            KeyKind(kind), kid, created, expires=expires, name=name, rule_list=rules
        )
    for role in ("pk", "sk"):
        if meta[f"{role}_digest"] not in out:
            raise _fail(f"the workspace's {role} key has no credential record")
    live = {d for d, info in by_digest.items() if info.revoked is None}
    if live - set(out):
        raise _fail("a token that is not revoked has no credential record")
    return out


def _tokens(raw: dict[str, str], catalog: Catalog | None) -> dict[str, tuple[TokenInfo, str]]:
    out = {}
    for kid, text in raw.items():
        data = _record(text, "a token record")
        digest = data.get("digest")
        if data.get("kid") != kid or not _DIGEST_RE.fullmatch(str(digest)):
            raise _fail(f"token record {kid!r} does not match its id")
        expires, revoked = data.get("expires"), data.get("revoked")
        info = TokenInfo(
            kid,
            check_label(data.get("name", ""), "token name"),
            _time(data.get("created"), "a token's creation time"),
            None if expires is None else _time(expires, "a token's expiry"),
            None if revoked is None else _time(revoked, "a token's revocation time"),
            _rules(data.get("rules", []), catalog, f"token {kid}'s rules"),
        )
        out[kid] = (info, str(digest))
    return out


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
        raise _fail("it has no valid workspace_id")
    verified = _authenticate(ctx.keyring, document, unverified)
    sections = {name: _strings(document, name) for name in ("meta", *SECTIONS)}
    own = Catalog.from_dict(document["catalog"]) if document.get("catalog") else None
    if apply_catalog and own is None:
        raise _fail("it holds no catalog to apply")
    catalog = own if apply_catalog else live_catalog
    meta = _meta(ctx, ws, sections["meta"], verified)
    rules = _rules(document.get("rules"), catalog, "the workspace's rules")
    tokens = _tokens(sections["tokens"], catalog)
    infos = {digest: info for info, digest in tokens.values()}
    credentials = _credentials(ctx, sections["keys"], meta, infos)
    last_used = {}
    for kid, value in sections["lastused"].items():
        if len(kid) != len(ctx.keyring.key_id("0" * 64)):
            raise _fail("a last-used entry does not name a key id")
        last_used[kid] = repr(_time(value, "a last-used time"))
    for name, enc in sections["secrets"].items():
        if SECRET_NAME_RE.fullmatch(name) is None:
            raise _fail(f"secret name {name!r} is not valid")
        try:  # bound to this place, and decryptable here
            ctx.keyring.decrypt(enc, secret_context(ws, name))
        except KeystileError as exc:
            raise _fail(f"secret {name}: {exc}") from None
    return Restoration(
        ws,
        meta,
        credentials,
        [r.encode() for r in rules],
        {kid: schema.token_metadata(info, digest) for kid, (info, digest) in tokens.items()},
        last_used,
        dict(sections["secrets"]),
        own,
        verified,
    )
