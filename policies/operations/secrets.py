"""Workspace secrets: name -> value, stored encrypted, revealed only on purpose."""

from __future__ import annotations

import hmac
import re

from policies.errors import AlreadyExists, KeystileError, NotFound, UnknownWorkspace
from policies.keys.crypto import secret_context
from policies.operations.base import Context, apply_call, audit_call, checked, require_workspace
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.scripting import Reply

SECRET_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
MAX_SECRET_BYTES = 64 * 1024


def _utf8_size(value: object) -> int | None:
    """Bytes of ``value`` in UTF-8; None when it is not text that UTF-8 can hold."""
    if not isinstance(value, str):
        return None
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        # Dropped here, not chained: it carries the whole value in its args, and an error
        # tracker that records exceptions (args, __context__, locals) would ship the secret.
        return None


def put_secret(
    ctx: Context, ws: str, name: str, value: str, *, actor: str, replace: bool = True
) -> Operation[None]:
    """Store a secret; ``replace=False`` adds it only if the name is free (AlreadyExists
    otherwise), decided in the same atomic step as the write."""
    require_workspace(ws)
    if not isinstance(name, str) or SECRET_NAME_RE.fullmatch(name) is None:
        raise KeystileError(
            "secret name must be 1-128 letters, digits, '_', '.' or '-', not starting with a digit"
        )
    size = _utf8_size(value)
    if size is None:
        raise KeystileError("secret value must be valid Unicode text (no lone surrogates)")
    if not 0 < size <= MAX_SECRET_BYTES:
        raise KeystileError(f"secret value must be 1 byte to {MAX_SECRET_BYTES // 1024} KiB")
    op = ("HSET", schema.secrets(ws), name, ctx.keyring.encrypt(value, secret_context(ws, name)))
    guard = [] if replace else [("ABSENT", schema.secrets(ws), name, "")]
    reply = yield apply_call(
        ctx, ws, [*guard, op], actor=actor, action="secret.set", detail={"name": name}
    )
    if int(reply[0]) == Reply.EXISTS:
        raise AlreadyExists(f"a secret named {name!r} already exists")
    checked(reply, ws)


def list_secrets(ctx: Context, ws: str) -> Operation[list[str]]:
    names, exists = yield Batch(
        (
            Command(("HKEYS", schema.secrets(require_workspace(ws)))),
            Command(("EXISTS", schema.meta(ws))),
        )
    )
    if not exists:
        raise UnknownWorkspace(ws)
    return sorted(schema.text(n) for n in names)


def _version(ctx: Context, enc: str) -> str:
    """A secret's version: a digest of its ciphertext (a value added again, or rewrapped,
    is another version). Binds a reveal's one-time password to what it reveals."""
    return ctx.keyring.digest(f"keystile secret version\x00{enc}")[:32]


def secret_version(ctx: Context, ws: str, name: str) -> Operation[str]:
    enc = yield Command(("HGET", schema.secrets(require_workspace(ws)), name))
    if enc is None:
        raise NotFound(f"no secret named {name!r}")
    return _version(ctx, schema.text(enc))


def reveal_secret(
    ctx: Context, ws: str, name: str, *, actor: str, version: str | None = None
) -> Operation[str]:
    """The value; with ``version``, only that version's (another is :class:`NotFound`)."""
    enc = yield Command(("HGET", schema.secrets(require_workspace(ws)), name))
    if enc is None:
        raise NotFound(f"no secret named {name!r}")
    if version is not None and not hmac.compare_digest(_version(ctx, schema.text(enc)), version):
        raise NotFound(f"the secret {name!r} changed after the code was sent: ask for a new code")
    value = ctx.keyring.decrypt(schema.text(enc), secret_context(ws, name))
    yield audit_call(ctx, ws, actor, "secret.revealed", {"name": name})
    return value


def delete_secret(ctx: Context, ws: str, name: str, *, actor: str) -> Operation[None]:
    require_workspace(ws)
    ops = [("NEED", schema.secrets(ws), name, ""), ("HDEL", schema.secrets(ws), name, "")]
    reply = yield apply_call(
        ctx, ws, ops, actor=actor, action="secret.deleted", detail={"name": name}
    )
    checked(reply, ws, missing=f"no secret named {name!r}")
