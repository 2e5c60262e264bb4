"""One-time-password challenges: issue (with cooldown and hourly cap), verify, cancel.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import secrets

from policies.errors import UnknownWorkspace
from policies.operations.base import Context, audit_call, require_workspace
from policies.otp import codes as otp
from policies.otp.codes import (
    HOUR,
    IssuedOtp,
    OtpPolicy,
    OtpRejected,
    OtpThrottled,
    RejectReason,
    ThrottleReason,
)
from policies.storage import schema
from policies.storage.driver import Command, Operation
from policies.storage.lua_otp import OTP_ADMIN_SEND, OTP_CANCEL, OTP_ISSUE, OTP_VERIFY
from policies.storage.scripting import Reply

_REJECTIONS = {
    Reply.WRONG: RejectReason.WRONG,
    Reply.NO_CHALLENGE: RejectReason.MISSING,
    Reply.EXPIRED: RejectReason.EXPIRED,
    Reply.VOID: RejectReason.VOID,
}


def _keys(ws: str, admin_key: str, action_key: str) -> tuple[str, str, str]:
    return (
        schema.otp(ws, "challenge", action_key),
        schema.otp(ws, "sends", admin_key),
        schema.otp(ws, "last", admin_key),
    )


def issue(
    ctx: Context, ws: str, admin_id: str, action: str, policy: OtpPolicy, bound: str = ""
) -> Operation[IssuedOtp]:
    """Store a new challenge and return its code (to be mailed), or raise OtpThrottled.
    ``bound``: see :func:`policies.otp.codes.code_digest`."""
    require_workspace(ws)
    otp.check_admin_id(admin_id)
    otp.check_action(action)
    code = otp.new_code()
    now = ctx.clock()
    admin_key = otp.admin_binding(ctx.keyring, admin_id)
    action_key = otp.action_binding(ctx.keyring, admin_id, action)
    digest = otp.code_digest(ctx.keyring, ws, admin_id, action, code, bound)
    challenge, sends, last = _keys(ws, admin_key, action_key)
    send_id, sent_at, expires = secrets.token_hex(8), repr(now), now + policy.ttl_seconds
    across = schema.otp_admin_sends(admin_key)
    counted = yield OTP_ADMIN_SEND.call(
        (across,),
        now=sent_at,
        cutoff=repr(now - HOUR),
        cap=policy.max_sends_per_hour,
        send_id=send_id,
        window_ms=HOUR * 1000,
    )
    if int(counted[0]) == Reply.HOURLY_CAP:
        raise OtpThrottled(ThrottleReason.HOURLY_CAP, int(counted[1]))
    reply = yield OTP_ISSUE.call(
        (schema.meta(ws), challenge, sends, last),
        now=sent_at,
        digest=digest,
        expires=repr(expires),
        tries=policy.max_attempts,
        cooldown=policy.cooldown_seconds,
        cap=policy.max_sends_per_hour,
        cutoff=repr(now - HOUR),
        ttl_ms=int(policy.ttl_seconds * 1000),
        send_id=send_id,
        binding=action_key,
        window_ms=HOUR * 1000,
    )
    status, wait = int(reply[0]), int(reply[1])
    if status != Reply.OK:  # refused in the workspace: this send does not count across either
        yield Command(("ZREM", across, send_id))
    if status == Reply.UNKNOWN_WORKSPACE:
        raise UnknownWorkspace(ws)
    if status == Reply.COOLDOWN:
        raise OtpThrottled(ThrottleReason.COOLDOWN, wait)
    if status == Reply.HOURLY_CAP:
        raise OtpThrottled(ThrottleReason.HOURLY_CAP, wait)
    return IssuedOtp(
        workspace_id=ws,
        action=action,
        code=code,
        expires=expires,
        resend_after=policy.cooldown_seconds,
        digest=digest,
        admin_key=admin_key,
        action_key=action_key,
        send_id=send_id,
        sent_at=sent_at,
    )


def verify(
    ctx: Context, ws: str, admin_id: str, action: str, code: str, *, actor: str, bound: str = ""
) -> Operation[None]:
    """Accept and consume the code in one atomic step, or raise OtpRejected (audited).

    ``code`` that is not six digits is refused by the caller before it costs an attempt.
    """
    require_workspace(ws)
    otp.check_admin_id(admin_id)
    otp.check_action(action)
    challenge, _, last = _keys(
        ws,
        otp.admin_binding(ctx.keyring, admin_id),
        otp.action_binding(ctx.keyring, admin_id, action),
    )
    reply = yield OTP_VERIFY.call(
        (challenge, last),
        digest=otp.code_digest(ctx.keyring, ws, admin_id, action, code, bound),
        now=repr(ctx.clock()),
        binding=otp.action_binding(ctx.keyring, admin_id, action),
    )
    status, left = int(reply[0]), int(reply[1])
    if status == Reply.OK:
        return
    reason = _REJECTIONS.get(Reply(status), RejectReason.MISSING)
    yield audit_call(
        ctx, ws, actor, "otp.failed", {"for": action, "reason": reason.value, "attempts_left": left}
    )
    raise OtpRejected(reason, left)


def cancel(ctx: Context, issued: IssuedOtp) -> Operation[None]:
    """Remove a challenge whose mail never left, so it is neither usable nor counted."""
    challenge, sends, last = _keys(issued.workspace_id, issued.admin_key, issued.action_key)
    yield OTP_CANCEL.call(
        (challenge, sends, last),
        digest=issued.digest,
        send_id=issued.send_id,
        binding=issued.action_key,
        sent_at=issued.sent_at,
    )
    yield Command(("ZREM", schema.otp_admin_sends(issued.admin_key), issued.send_id))
