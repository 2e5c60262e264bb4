"""The checks of a backup's sections: what the live operations would have written, or a
clear refusal. Each returns its section in the encoding the store writes (canonical JSON
records, ``repr`` times), so nothing is stored as the backup spelled it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from policies.backup.allow_lists import allow_lists
from policies.catalog.catalog import Catalog
from policies.catalog.rules import Rule
from policies.errors import KeystileError
from policies.keys.crypto import KEY_ID_RE, Keyring, secret_context
from policies.keys.keyformat import KeyKind
from policies.leaks.policy import LeakPolicy
from policies.limits.rate_limits import KEY_SCOPE, LimitError, Limits
from policies.operations.base import Context, check_label
from policies.operations.secrets import SECRET_NAME_RE
from policies.operations.workspaces import clean_origins, role_key
from policies.storage import schema
from policies.storage.values import TokenInfo
from policies.times import is_time

MAX_ENTRIES = 1_000_000
MAX_TEXT = 200_000
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_META = {"id", "name", "created", "origins", "version", "pk_digest", "pk_enc", "sk_digest"}
_META |= {"sk_enc", "pk_prev_digest", "sk_prev_digest", "leak_policy"}


def fail(why: str) -> KeystileError:
    return KeystileError(f"backup refused: {why}")


def strings(doc: dict[str, Any], name: str) -> dict[str, str]:
    """A section of text fields and values, bounded, every one encodable (a lone surrogate
    passes Python's JSON parser but not Redis's encoding nor Lua's)."""
    part = doc.get(name)
    if not isinstance(part, dict) or len(part) > MAX_ENTRIES:
        raise fail(f"section {name!r} is missing or has the wrong shape")
    for key, value in part.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise fail(f"section {name!r} holds a value that is not a bounded string")
        if len(key) > MAX_TEXT or len(value) > MAX_TEXT:
            raise fail(f"section {name!r} holds a value that is not a bounded string")
        try:
            key.encode("utf-8"), value.encode("utf-8")
        except UnicodeEncodeError:
            raise fail(f"section {name!r} holds text that is not valid Unicode") from None
    return part


def time_of(value: Any, what: str) -> float:
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if not is_time(number):
        raise fail(f"{what} is not a valid time")
    return float(number)


def rules(texts: Any, catalog: Catalog | None, what: str) -> tuple[Rule, ...]:
    if not isinstance(texts, list) or len(texts) > MAX_ENTRIES:
        raise fail(f"{what} must be a list")
    rules = []
    for text in texts:
        rule = Rule.decode(text) if isinstance(text, str) else None
        if rule is None or rule.encode() != text:
            raise fail(f"{what}: {text!r} is not a rule in canonical form (module:functionality)")
        if catalog is None:
            raise fail(f"{what} need a catalog: load one, or pass --apply-catalog")
        catalog.check_rule(rule)
        rules.append(rule)
    return tuple(sorted(set(rules)))


def record(raw: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # deep nesting overflows the parser's stack
        data = None
    if not isinstance(data, dict):
        raise fail(f"{what} is not a JSON object")
    return data


def meta(ctx: Context, ws: str, raw: dict[str, str], signer: Keyring | None) -> dict[str, str]:
    """``signer``: the keyring whose MAC authenticated the backup (its digests are that
    secret's); None for a format-1 file."""
    missing = {"id", "name", "created", "pk_digest", "pk_enc", "sk_digest", "sk_enc"} - set(raw)
    if missing or set(raw) - _META or raw["id"] != ws:
        raise fail("its meta section is not a workspace's")
    meta = {k: v for k, v in raw.items() if k != "version"}
    meta["name"] = check_label(raw["name"], "workspace name")
    meta["created"] = repr(time_of(raw["created"], "meta created"))
    try:
        origins = json.loads(raw.get("origins") or "[]")
    except ValueError:
        origins = None
    if not isinstance(origins, list):
        raise fail("meta origins is not a JSON list")
    meta["origins"] = json.dumps(clean_origins(origins))
    if "leak_policy" in raw:
        try:
            meta["leak_policy"] = LeakPolicy.decode(raw["leak_policy"]).encode()
        except KeystileError as exc:
            raise fail(f"meta leak_policy: {exc}") from None
    for role in ("pk", "sk", "pk_prev", "sk_prev"):
        digest = raw.get(f"{role}_digest")
        if digest is not None and not _DIGEST_RE.fullmatch(digest):
            raise fail(f"meta {role}_digest is not a digest")
    for role in ("pk", "sk"):
        try:
            key = role_key(ctx, ws, role, raw[f"{role}_enc"])
        except KeystileError as exc:
            raise fail(f"the {role} key's ciphertext: {exc}") from None
        if signer is not None and signer.digest(key) != raw[f"{role}_digest"]:
            raise fail(f"meta {role}_digest is not the digest of its key")
    return meta


def credentials(
    ctx: Context,
    raw: dict[str, str],
    meta: dict[str, str],
    tokens: dict[str, TokenInfo],
    revoked: set[str],
    catalog: Catalog | None = None,
) -> dict[str, str]:
    """``revoked``: digests revoked here since (their records were left out)."""
    roles = {meta.get(f"{r}{p}_digest"): r for r in ("pk", "sk") for p in ("", "_prev")}
    by_digest = {info_digest: info for info_digest, info in tokens.items()}
    out = {}
    for digest, text in raw.items():
        data = record(text, "a credential record")
        kind, kid = data.get("kind"), data.get("kid")
        if not _DIGEST_RE.fullmatch(digest) or kid != ctx.keyring.key_id(digest):
            raise fail("a credential record does not match its digest")
        expires = data.get("expires")
        expires = None if expires is None else time_of(expires, "a credential's expiry")
        # The SDK key and tokens may carry allow-lists (policies.backup.allow_lists).
        scopes, networks = allow_lists(data, catalog, f"credential {kid}'s")
        if kind in ("pk", "sk") and roles.get(digest) == kind:
            rules: tuple[Rule, ...] = ()
            name = None
            if kind == "pk" and (scopes, networks) != (None, None):
                raise fail("the publishable key carries allow-lists")
        elif kind == "tk" and digest in by_digest and by_digest[digest].revoked is None:
            info = by_digest[digest]
            if data.get("name") != info.name or expires != info.expires:
                raise fail(f"token {kid}'s credential and metadata disagree")
            if (scopes, networks) != (info.scopes, info.networks):
                raise fail(f"token {kid}'s credential and metadata disagree")
            rules, name = info.rules, info.name
        else:
            raise fail(f"credential {kid} is not a live key of this workspace")
        created = time_of(data.get("created"), "a credential's creation time")
        out[digest] = schema.credential_record(
            KeyKind(kind),
            kid,
            created,
            expires=expires,
            name=name,
            rule_list=rules,
            scopes=scopes,
            networks=networks,
        )
    for role in ("pk", "sk"):
        if meta[f"{role}_digest"] not in out | dict.fromkeys(revoked, ""):
            raise fail(f"the workspace's {role} key has no credential record")
    live = {d for d, info in by_digest.items() if info.revoked is None}
    if live - set(out):
        raise fail("a token that is not revoked has no credential record")
    return out


def tokens(raw: dict[str, str], catalog: Catalog | None) -> dict[str, tuple[TokenInfo, str]]:
    out = {}
    for kid, text in raw.items():
        data = record(text, "a token record")
        digest = data.get("digest")
        if data.get("kid") != kid or not _DIGEST_RE.fullmatch(str(digest)):
            raise fail(f"token record {kid!r} does not match its id")
        expires, revoked = data.get("expires"), data.get("revoked")
        info = TokenInfo(
            kid,
            check_label(data.get("name", ""), "token name"),
            time_of(data.get("created"), "a token's creation time"),
            None if expires is None else time_of(expires, "a token's expiry"),
            None if revoked is None else time_of(revoked, "a token's revocation time"),
            rules(data.get("rules", []), catalog, f"token {kid}'s rules"),
            None,
            *allow_lists(data, catalog, f"token {kid}'s"),
        )
        out[kid] = (info, str(digest))
    return out


def revoke(
    tokens: dict[str, tuple[TokenInfo, str]], revoked: dict[str, float]
) -> tuple[dict[str, tuple[TokenInfo, str]], set[str]]:
    """Tokens revoked here since the backup was made, restored as revoked; their ids."""
    out, dropped = dict(tokens), set()
    for kid, (info, digest) in tokens.items():
        if digest in revoked and info.revoked is None:
            out[kid] = (dataclasses.replace(info, revoked=revoked[digest]), digest)
            dropped.add(kid)
    return out, dropped


def last_used(ctx: Context, raw: dict[str, str]) -> dict[str, str]:
    out = {}
    for kid, value in raw.items():
        if not KEY_ID_RE.fullmatch(kid):
            raise fail("a last-used entry does not name a key id")
        out[kid] = repr(time_of(value, "a last-used time"))
    return out


def secrets(ctx: Context, ws: str, raw: dict[str, str]) -> None:
    """Names as the live operations allow; ciphertexts bound to this place and decryptable
    here (kept as they are: re-encrypting is ``keystile secrets rewrap``'s job)."""
    for name, enc in raw.items():
        if SECRET_NAME_RE.fullmatch(name) is None:
            raise fail(f"secret name {name!r} is not valid")
        try:
            ctx.keyring.decrypt(enc, secret_context(ws, name))
        except KeystileError as exc:
            raise fail(f"secret {name}: {exc}") from None


def limits(
    raw: dict[str, str],
    tokens: dict[str, tuple[TokenInfo, str]],
    catalog: Catalog | None,
    dropped: set[str],
) -> dict[str, str]:
    """Limits of the owners the live operations give them to (the role keys, and tokens of
    this backup that are not revoked), re-encoded canonically, their actions checked
    against the catalog as rules are; those of ``dropped`` tokens (revoked here since) go."""
    out = {}
    for owner, text in raw.items():
        if owner.startswith("tk:") and owner[3:] in dropped:
            continue
        token = tokens.get(owner[3:]) if owner.startswith("tk:") else None
        if owner not in ("pk", "sk") and (token is None or token[0].revoked is not None):
            raise fail(
                f"limits for {owner[:40]!r}, which is neither pk, sk nor tk:<key id> of a "
                "token in the backup that is not revoked"
            )
        try:
            found = Limits.decode(text)
        except LimitError as exc:
            raise fail(f"the limits of {owner}: {exc}") from None
        if not found:
            raise fail(f"the limits of {owner} are empty")
        for scope in found.as_dict():
            if scope == KEY_SCOPE:
                continue
            if catalog is None:
                raise fail("limits on actions need a catalog: load one, or pass --apply-catalog")
            module, _, functionality = scope.partition(".")
            try:
                catalog.check_rule(Rule(module, functionality))
            except KeystileError as exc:
                raise fail(f"the limits of {owner} on {scope}: {exc}") from None
        out[owner] = found.encode()
    return out
