"""A workspace's token lifetime policy in the store: read it, change it (audited as
``policy.changed``), and hold a new token to it.

The policy is one field of the workspace's meta hash (:data:`policies.lifetime.FIELD`),
so a change and a token's creation meet in the workspace's slot: creation checks the
policy it read and commits only if the field is still that (an APPLY ``SAME`` guard), so
no token is ever created under a policy already replaced.
"""

from __future__ import annotations

from policies.errors import KeystileError, UnknownWorkspace
from policies.lifetime import FIELD, LifetimePolicy
from policies.operations.base import Context, Op, apply_call, checked, require_workspace
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.scripting import Reply

_ATTEMPTS = 5


def _read(ws: str) -> Operation[str | None]:
    exists, raw = yield Batch(
        (
            Command(("EXISTS", schema.meta(require_workspace(ws)))),
            Command(("HGET", schema.meta(ws), FIELD)),
        )
    )
    if not exists:
        raise UnknownWorkspace(ws)
    return schema.text(raw) if raw is not None else None


def _same(ws: str, raw: str | None) -> Op:
    return ("SAME", schema.meta(ws), FIELD, raw if raw is not None else "")


def get_policy(ctx: Context, ws: str) -> Operation[LifetimePolicy]:
    return LifetimePolicy.decode((yield from _read(ws)))


def guard(ctx: Context, ws: str, expires: float | None, now: float) -> Operation[Op]:
    """Refuse a new token's expiry outside the policy (:class:`LifetimeRefused`); else the
    APPLY guard that commits the token only under the policy checked."""
    raw = yield from _read(ws)
    LifetimePolicy.decode(raw).check_new(expires, now)
    return _same(ws, raw)


def refused_meanwhile(reply: object) -> bool:
    """Whether a write guarded by :func:`guard` failed because the policy changed."""
    return isinstance(reply, list | tuple) and int(reply[0]) == Reply.CONFLICT


POLICY_CHANGED = "the token lifetime policy changed meanwhile: nothing was created, try again"


def set_policy(
    ctx: Context, ws: str, policy: LifetimePolicy, *, actor: str
) -> Operation[tuple[LifetimePolicy, bool]]:
    """Store ``policy`` (an empty one removes the field); the one it replaced, and whether
    anything changed (an unchanged policy writes no audit entry)."""
    if not isinstance(policy, LifetimePolicy) or policy.damaged:
        raise KeystileError("not a token lifetime policy")
    for _ in range(_ATTEMPTS):
        raw = yield from _read(ws)
        before = LifetimePolicy.decode(raw)
        write: Op = (
            ("HDEL", schema.meta(ws), FIELD, "")
            if policy.empty
            else ("HSET", schema.meta(ws), FIELD, policy.encode())
        )
        detail = {**policy.as_dict(), "was": before.describe()}  # flat: the log shows values
        reply = yield apply_call(
            ctx, ws, [_same(ws, raw), write], actor=actor, action="policy.changed", detail=detail
        )
        if not refused_meanwhile(reply):
            return before, checked(reply, ws) > 0
    raise KeystileError("the token lifetime policy kept changing meanwhile; try again")
