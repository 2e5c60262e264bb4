"""The deployment's secrets over their life: the digest secret's check, rewrap and status.

The digest secret cannot change (keys are stored only as its HMACs), so its check value is
stored once and every side compares it at start-up: a changed secret stops start-up with a
clear message instead of answering 401 to every key. Master keys rotate: ``rewrap``
re-encrypts every stored ciphertext under the first master key, bound to its place, one
value per atomic step (compare-and-set), skipping those already current, so it can be
interrupted and run again; at the end it counts again, so a value a process still on the
old key list wrote behind it is reported, not hidden; ``status``
counts what each master key still decrypts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from policies.errors import ConfigError, KeystileError
from policies.keys.crypto import BOUND_PREFIX, role_context, secret_context
from policies.operations.base import Context, audit_call
from policies.operations.notify import secret_context as webhook_context
from policies.operations.workspaces import role_key
from policies.storage import schema
from policies.storage.audit_fields import audit_fields
from policies.storage.driver import Command, Operation
from policies.storage.lua_deployment import REWRAP
from policies.storage.scripting import Reply

Progress = Callable[[str, int, int], None]  # workspace, rewrapped, failed


def _mismatch(stored: str, ours: str) -> ConfigError:
    return ConfigError(
        f"KEYSTILE_DIGEST_SECRET is not the secret this Redis was set up with (check value "
        f"{stored} stored, {ours} configured): every key would be refused as invalid. Restore "
        "the original digest secret (keys are stored only as its digests; it cannot rotate)."
    )


def check_digest_secret(ctx: Context, *, stamp: bool) -> Operation[None]:
    """Refuse a digest secret other than the stored one's; with ``stamp``, store ours if
    none is stored yet, once it is proved: no workspace yet, or a role key this keyring
    decrypts whose stored digest it reproduces (never on a guess)."""
    ours = ctx.keyring.digest_check
    stored = yield Command(("GET", schema.DIGEST_CHECK))
    if stored is not None:
        if schema.text(stored) != ours:
            raise _mismatch(schema.text(stored), ours)
        return
    if not stamp or not (yield from _proved(ctx)):
        return
    yield Command(("SET", schema.DIGEST_CHECK, ours, "NX"))
    stored = yield Command(("GET", schema.DIGEST_CHECK))
    if schema.text(stored) != ours:  # another side with another secret stamped first
        raise _mismatch(schema.text(stored), ours)


def _proved(ctx: Context) -> Operation[bool]:
    """Whether stored keys prove our digest secret (a deployment from before check values:
    its keys tell); raises if one disproves it. Workspaces under master keys not
    configured here are passed over: none of them decides."""
    cursor, seen = "0", False
    while True:
        cursor, members = yield Command(("SSCAN", schema.WORKSPACES, cursor, "COUNT", 100))
        for ws in map(schema.text, members):
            seen = True
            digest, enc = yield Command(("HMGET", schema.meta(ws), "pk_digest", "pk_enc"))
            if digest is None or enc is None:
                continue
            try:
                key = role_key(ctx, ws, "pk", schema.text(enc))
            except KeystileError:
                continue  # a master key problem: not this check's to report
            if ctx.keyring.digest(key) != schema.text(digest):
                raise _mismatch("(derived from stored keys)", ctx.keyring.digest_check)
            return True
        if schema.text(cursor) == "0":
            return not seen  # no workspace yet: nothing stored to contradict it


Place = tuple[str, str, str, str]  # Redis hash, field, context, ciphertext


def _places(ws: str) -> Operation[list[Place]]:
    pk, sk = yield Command(("HMGET", schema.meta(ws), "pk_enc", "sk_enc"))
    places = [
        (schema.meta(ws), f"{role}_enc", role_context(ws, role), schema.text(enc))
        for role, enc in (("pk", pk), ("sk", sk))
        if enc is not None
    ]
    webhook = yield Command(("HGET", schema.notify(ws), "secret"))  # the signing secret
    if webhook is not None:
        places.append((schema.notify(ws), "secret", webhook_context(ws), schema.text(webhook)))
    cursor = "0"
    while True:
        cursor, items = yield Command(("HSCAN", schema.secrets(ws), cursor, "COUNT", 500))
        for name, enc in schema.pairs(items):
            places.append((schema.secrets(ws), name, secret_context(ws, name), enc))
        if schema.text(cursor) == "0":
            return places


def _workspaces() -> Operation[list[str]]:
    return sorted(schema.text(m) for m in (yield Command(("SMEMBERS", schema.WORKSPACES))))


@dataclass(frozen=True, slots=True)
class SecretsStatus:
    """Stored ciphertexts per master key (check value, count; configured order)."""

    by_master_key: tuple[tuple[str, int], ...]
    unbound: int  # from before contexts: readable, to be rewrapped
    unreadable: int  # no configured master key decrypts them


def status(ctx: Context) -> Operation[SecretsStatus]:
    counts = [0] * len(ctx.keyring.master_key_checks)
    unbound = unreadable = 0
    for ws in (yield from _workspaces()):
        for _, _, _, enc in (yield from _places(ws)):
            position = ctx.keyring.key_position(enc)
            if position is None:
                unreadable += 1
                continue
            counts[position] += 1
            unbound += not enc.startswith(BOUND_PREFIX)
    usage = tuple(zip(ctx.keyring.master_key_checks, counts, strict=True))
    return SecretsStatus(usage, unbound, unreadable)


@dataclass(frozen=True, slots=True)
class RewrapReport:
    rewrapped: int
    current: int
    failed: int
    left: int = 0  # counted again at the end: still readable, yet not current


def rewrap(
    ctx: Context, *, actor: str, progress: Progress | None = None
) -> Operation[RewrapReport]:
    """Re-encrypt every ciphertext under the first master key (see the module doc)."""
    total = RewrapReport(0, 0, 0)
    for ws in (yield from _workspaces()):
        done = current = failed = 0
        for key, field, context, enc in (yield from _places(ws)):
            if ctx.keyring.is_current(enc):
                current += 1
                continue
            try:
                if field.endswith("_enc") and key == schema.meta(ws):
                    role_key(ctx, ws, field[:2], enc)  # a foreign key is not laundered
                new = ctx.keyring.rewrap(enc, context)
            except KeystileError:
                failed += 1
                continue
            done += (yield REWRAP.call((key,), field=field, read=enc, rewrapped=new)) == Reply.OK
        if done or failed:
            detail = {"rewrapped": done, "failed": failed}
            yield audit_call(ctx, ws, actor, "secrets.rewrapped", detail)
        if progress is not None:
            progress(ws, done, failed)
        total = RewrapReport(total.rewrapped + done, total.current + current, total.failed + failed)
    left = yield from _left_behind(ctx)
    total = RewrapReport(total.rewrapped, total.current, total.failed, left)
    fields = audit_fields(actor, "secrets.rewrapped", "-", ctx.clock(), vars_of(total))
    stream = schema.DEPLOYMENT_AUDIT
    yield Command(("XADD", stream, "MAXLEN", "~", schema.AUDIT_MAXLEN, "*", *fields))
    return total


def _left_behind(ctx: Context) -> Operation[int]:
    """Values a configured key still decrypts that are not current: what a process still
    writing with the old key list put behind the rewrap (undecryptable ones are failures)."""
    left = 0
    for ws in (yield from _workspaces()):
        for _, _, _, enc in (yield from _places(ws)):
            keyring = ctx.keyring
            left += not keyring.is_current(enc) and keyring.key_position(enc) is not None
    return left


def vars_of(report: RewrapReport) -> dict[str, int]:
    return {
        "rewrapped": report.rewrapped,
        "current": report.current,
        "failed": report.failed,
        "left": report.left,
    }
