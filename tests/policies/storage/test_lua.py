"""Each Lua script on a real Redis, called by name as the store calls it, every reply included.

The store's own tests drive the scripts through the operations; these pin the scripts'
contracts (keys, named arguments, Reply statuses) where a change to one would show first.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from policies.storage.driver import Operation, Script, run
from policies.storage.lua import APPLY, CREATE, LOOKUP
from policies.storage.lua import ROTATE as ROTATE_SCRIPT
from policies.storage.lua_deployment import CATALOG_SAVE, RESTORE, REWRAP, SECTIONS
from policies.storage.lua_otp import OTP_ADMIN_SEND, OTP_CANCEL, OTP_ISSUE, OTP_VERIFY
from policies.storage.scripting import LuaScript, Reply

WS = "ws_AAAAAAAAAAAA"
META, AUDIT, CREDS = f"ks:{{{WS}}}:meta", f"ks:{{{WS}}}:audit", f"ks:{{{WS}}}:keys"
RULES, LIMITS = f"ks:{{{WS}}}:rules", f"ks:{{{WS}}}:limits"
HEAD = {
    "ws": WS,
    "channel": "ks:events",
    "maxlen": 100,
    "audit": ["actor", "t", "action", "x"],
    "notice": "",
}
NOTIFY = tuple(f"ks:{{{WS}}}:notify{part}" for part in ("", ":outbox", ":due", ":tries"))


def call(client: redis.Redis, script: Script) -> Any:
    def operation() -> Operation[Any]:
        reply = yield script
        return reply

    return run(client, operation())


def status(reply: Any) -> Reply:
    return Reply(int(reply[0]))


def create(client: redis.Redis) -> Any:
    return call(
        client,
        CREATE.call(
            (META, AUDIT, *NOTIFY, CREDS),
            **HEAD,
            name="Acme",
            created=1.0,
            pk_digest="pkd",
            pk_record=json.dumps({"kind": "pk", "kid": "p1"}),
            pk_enc="pke",
            sk_digest="skd",
            sk_record=json.dumps({"kind": "sk", "kid": "s1"}),
            sk_enc="ske",
        ),
    )


def test_create_then_exists(redis_client: redis.Redis) -> None:
    assert status(create(redis_client)) is Reply.OK
    assert redis_client.hget(META, "version") == "1"
    assert redis_client.hget(CREDS, "pkd") is not None
    assert status(create(redis_client)) is Reply.EXISTS


def test_rotate_with_and_without_grace(redis_client: redis.Redis) -> None:
    def rotate(digest: str, grace: str) -> Any:
        args = {"role": "sk", "digest": digest, "record": "{}", "enc": "e", "grace_until": grace}
        return call(redis_client, ROTATE_SCRIPT.call((META, AUDIT, *NOTIFY, CREDS), **HEAD, **args))

    assert status(rotate("x", "")) is Reply.UNKNOWN_WORKSPACE
    create(redis_client)
    assert status(rotate("sk2", "99.5")) is Reply.OK
    assert json.loads(redis_client.hget(CREDS, "skd") or "{}")["expires"] == 99.5
    assert status(rotate("sk3", "")) is Reply.OK
    assert redis_client.hget(CREDS, "skd") is None and redis_client.hget(CREDS, "sk2") is None


def test_apply_guards_changes_and_no_ops(redis_client: redis.Redis) -> None:
    def apply(*ops: tuple[str, int, str, str]) -> Any:
        return call(
            redis_client, APPLY.call((META, AUDIT, *NOTIFY, RULES, CREDS), **HEAD, ops=list(ops))
        )

    assert status(apply(("SADD", 1, "a:b", ""))) is Reply.UNKNOWN_WORKSPACE
    create(redis_client)
    assert status(apply(("NEED", 2, "nope", ""), ("SADD", 1, "a:b", ""))) is Reply.FIELD_MISSING
    assert status(apply(("ABSENT", 2, "pkd", ""), ("SADD", 1, "a:b", ""))) is Reply.EXISTS
    assert status(apply(("SAME", 2, "pkd", "other"), ("SADD", 1, "a:b", ""))) is Reply.CONFLICT
    assert status(apply(("SAME", 2, "nope", "x"), ("SADD", 1, "a:b", ""))) is Reply.CONFLICT
    assert redis_client.scard(RULES) == 0  # a failed guard wrote nothing
    assert int(apply(("SADD", 1, "a:b", ""), ("HSET", 2, "f", "v"))[0]) == 2
    assert status(apply(("SADD", 1, "a:b", ""), ("HSET", 2, "f", "v"))) is Reply.UNCHANGED
    assert int(apply(("SREM", 1, "a:b", ""), ("HDEL", 2, "f", ""))[0]) == 2


def test_lookup(redis_client: redis.Redis) -> None:
    lookup = LOOKUP.call(
        (META, CREDS, RULES, LIMITS),
        digest="pkd",
        owner="pk",
        proc="",  # no gateway process: no lease step
        now="0",
        stale=0,
        counters="",
    )
    assert call(redis_client, lookup) is None
    create(redis_client)
    redis_client.sadd(RULES, "billing:read")
    record, version, origins, rules, limits, leases = call(redis_client, lookup)
    assert json.loads(record)["kid"] == "p1" and version == "1" and origins == ""
    assert rules == ["billing:read"] and limits == "" and leases == []
    redis_client.hset(LIMITS, mapping={"pk": '{"*":["3/min"]}', "sk": '{"*":["9/s"]}'})
    assert call(redis_client, lookup)[4] == '{"*":["3/min"]}'  # the owner's, no other


OTP_KEYS = (META, f"ks:{{{WS}}}:otp:c", f"ks:{{{WS}}}:otp:s", f"ks:{{{WS}}}:otp:l")


def issue(client: redis.Redis, now: float, cap: int = 5) -> Any:
    args = {
        "now": repr(now), "digest": "d", "expires": repr(now + 60), "tries": 2,
        "cooldown": 10, "cap": cap, "cutoff": repr(now - 3600), "ttl_ms": 60_000,
        "send_id": f"s{now}", "binding": "b", "window_ms": 3_600_000,
    }  # fmt: skip
    return call(client, OTP_ISSUE.call(OTP_KEYS, **args))


def test_otp_issue_cooldown_and_cap(redis_client: redis.Redis) -> None:
    assert status(issue(redis_client, 100)) is Reply.UNKNOWN_WORKSPACE
    create(redis_client)
    assert status(issue(redis_client, 100)) is Reply.OK
    assert list(issue(redis_client, 104)) == [Reply.COOLDOWN, 6]
    assert status(issue(redis_client, 200, cap=1)) is Reply.HOURLY_CAP


def test_otp_verify_every_outcome(redis_client: redis.Redis) -> None:
    create(redis_client)
    keys = OTP_KEYS[1], OTP_KEYS[3]

    def verify(digest: str, now: float) -> Any:
        return call(redis_client, OTP_VERIFY.call(keys, digest=digest, now=repr(now), binding="b"))

    assert status(verify("d", 1)) is Reply.NO_CHALLENGE
    issue(redis_client, 100)
    assert list(verify("wrong", 101)) == [Reply.WRONG, 1]
    assert status(verify("wrong", 102)) is Reply.VOID
    issue(redis_client, 200)
    assert status(verify("d", 261)) is Reply.EXPIRED
    issue(redis_client, 300)
    assert status(verify("d", 301)) is Reply.OK
    assert redis_client.hget(OTP_KEYS[3], "b") is None  # the cooldown is lifted


def test_otp_cancel_takes_back_only_its_own_send(redis_client: redis.Redis) -> None:
    create(redis_client)
    issue(redis_client, 100)
    cancel = OTP_CANCEL.call(
        OTP_KEYS[1:], digest="d", send_id="s100", binding="b", sent_at=repr(100.0)
    )
    assert call(redis_client, cancel) == Reply.OK
    assert not redis_client.exists(OTP_KEYS[1]) and redis_client.zcard(OTP_KEYS[2]) == 0


def test_otp_admin_send_cap(redis_client: redis.Redis) -> None:
    sends = "ks:{admin}:otp:sends"

    def send(now: float) -> Any:
        args = {"now": now, "cutoff": now - 3600, "cap": 1, "send_id": f"s{now}", "window_ms": 1}
        return call(redis_client, OTP_ADMIN_SEND.call((sends,), **args))

    assert status(send(100)) is Reply.OK
    assert list(send(110)) == [Reply.HOURLY_CAP, 3590]


def test_restore_exists_mismatch_and_ok(redis_client: redis.Redis) -> None:
    live = [f"ks:{{{WS}}}:{name}" for name in SECTIONS]
    staged = [f"ks:{{{WS}}}:staged:{name}" for name in SECTIONS]

    def restore(sizes: list[int]) -> Any:
        notify = ["url", "https://hooks.example/k", "secret", "ks2:x"]
        args = {"sizes": sizes, "meta_fields": ["id", WS, "name", "Acme"], "notify_fields": notify}
        return call(
            redis_client, RESTORE.call((META, AUDIT, *NOTIFY, *live, *staged), **HEAD, **args)
        )

    redis_client.hset(staged[0], "d", "{}")
    redis_client.sadd(staged[1], "a:b")
    redis_client.hset(staged[SECTIONS.index("limits")], "pk", '{"*":["1/s"]}')
    redis_client.hset(NOTIFY[0], "dead", "3")  # a lost workspace's counter: replaced
    assert status(restore([1, 1, 0, 0, 0, 0, 0])) is Reply.STAGED_MISMATCH  # limits: 1, not 0
    assert redis_client.hgetall(NOTIFY[0]) == {"dead": "3"}  # nothing written
    assert status(restore([1, 1, 0, 0, 0, 1, 0])) is Reply.OK
    assert redis_client.hgetall(NOTIFY[0]) == {"url": "https://hooks.example/k", "secret": "ks2:x"}
    assert redis_client.hget(live[0], "d") == "{}" and redis_client.hget(META, "version") == "1"
    assert redis_client.hget(LIMITS, "pk") == '{"*":["1/s"]}'
    assert status(restore([0, 0, 0, 0, 0, 0, 0])) is Reply.EXISTS


def test_catalog_save_and_rewrap(redis_client: redis.Redis) -> None:
    keys = ("ks:catalog", "ks:{ks:catalog}:audit")
    args = {"channel": "ks:events", "fingerprint": "f", "maxlen": 10, "audit": ["a", "b"]}
    assert call(redis_client, CATALOG_SAVE.call(keys, catalog="{}", **args)) == Reply.OK
    assert call(redis_client, CATALOG_SAVE.call(keys, catalog="{}", **args)) == Reply.UNCHANGED
    redis_client.hset("ks:{x}:secrets", "s", "old")
    rewrap = REWRAP.call(("ks:{x}:secrets",), field="s", read="old", rewrapped="new")
    assert call(redis_client, rewrap) == Reply.OK
    assert call(redis_client, rewrap) == Reply.UNCHANGED  # the value read is gone


def test_calls_name_every_argument() -> None:
    with pytest.raises(TypeError, match="missing"):
        LOOKUP.call(("a", "b", "c", "d"), digest="d")
    with pytest.raises(TypeError, match="unknown"):
        LOOKUP.call(("a", "b", "c", "d"), digest="d", owner="pk", extra=1)
    with pytest.raises(TypeError, match="keys"):
        LOOKUP.call(("a",), digest="d", owner="pk", proc="", now="0", stale=0, counters="")
    with pytest.raises(ValueError, match="last key"):
        LuaScript("bad", "return 1", ("*rest", "k"))
