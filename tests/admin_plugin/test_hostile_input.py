"""Hostile form input on every JSON route: never a 500, and a rejection writes nothing."""

from __future__ import annotations

import logging

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import PolicyStore
from policies.errors import KeystileError
from policies.storage.values import CreatedWorkspace
from tests.support.admin import Api

PROBLEM = "application/problem+json"
ROUTES = {
    "api/rules": ("module", "functionality"),
    "api/tokens": (
        "name",
        "expires_in_days",
        "expires_at",
        "rules",
        "limits",
        "scopes",
        "networks",
    ),
    "api/limits": ("key", "scope", "limits"),
    "api/secrets": ("name", "value"),
    "api/otp": ("action", "name"),
    "api/sdk-key/reveal": ("code",),
    "api/sdk-key/roll": ("code", "grace_seconds"),
    "api/sdk-key/restrict": ("scopes", "networks", "code"),
    "api/secrets/reveal": ("name", "code"),
    "api/notify/endpoint": ("url", "code"),
    "api/notify/emails": ("emails", "code"),
    "api/notify/secret": ("code",),
    "api/notify/test": ("code",),
}
# What a rejected request may still change: the audit (failed codes are logged on purpose)
# and the one-time-password bookkeeping (a wrong code costs an attempt).
POLICY_KEYS = ("meta", "keys", "rules", "tokens", "secrets", "limits")

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=40)
    | st.text(alphabet="<>\"'&;:*\\/\x00é😀", max_size=20)
    | st.sampled_from(["billing", "read", "*", "sdk_key.reveal", "1e309", "-1", "x" * 5000])
    | st.sampled_from(["\ud800", "a\udfffb", "DB\udc80"])  # lone surrogates: valid JSON
)
values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=6,
)


def snapshot(client: redis.Redis) -> dict[str, object]:
    state: dict[str, object] = {}
    for key in client.scan_iter("ks:*"):
        if key.rsplit(":", 1)[-1] in POLICY_KEYS:
            kind = client.type(key)
            state[key] = client.hgetall(key) if kind == "hash" else sorted(client.smembers(key))
    return state


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_no_500_and_nothing_written_on_rejection(
    api: Api, redis_client: redis.Redis, route: str
) -> None:
    fields = ROUTES[route]

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.one_of(st.fixed_dictionaries({}, optional={f: values for f in fields}), values))
    def attempt(body: object) -> None:
        before = snapshot(redis_client)
        response = api.post(route, body)
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            assert response.mimetype == PROBLEM
            assert snapshot(redis_client) == before

    attempt()


def test_non_json_bodies(api: Api) -> None:
    deep = (b"[" * 1000, b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000)
    for raw in (b"\xff\xfe", b"{", b"[]", b"null", b"\x00" * 100, b'{"a":' * 500, *deep):
        response = api.client.post(
            api._url("api/rules"),
            data=raw,
            headers={"X-CSRFToken": api.csrf, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.mimetype == PROBLEM


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("api/secrets", {"name": "DB", "value": "postgres://\ud800secret"}),
        ("api/secrets", {"name": "DB\udc80", "value": "v"}),
        ("api/tokens", {"name": "ci\ud800"}),
        ("api/rules", {"module": "\udfff", "functionality": "read"}),
        ("api/otp", {"action": "secret.reveal", "name": "\ud800"}),
        ("api/secrets", {"\ud800": 1, "name": "DB", "value": "v"}),
    ],
)
def test_lone_surrogates_are_a_400_and_nothing_is_logged(
    api: Api,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    route: str,
    body: dict[str, object],
) -> None:
    before = snapshot(redis_client)
    caplog.set_level(logging.DEBUG)
    response = api.post(route, body)
    assert response.status_code == 400 and response.mimetype == PROBLEM
    assert response.get_json()["code"] == "invalid"
    assert snapshot(redis_client) == before
    # No traceback logged: an error tracker would ship the exception's args (the value).
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def test_the_store_refuses_a_surrogate_without_carrying_the_value(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    secret = "postgres://user:\ud800pw@db/acme"
    with pytest.raises(KeystileError, match="valid Unicode") as caught:
        store.secrets.put(workspace.workspace_id, "DB", secret, actor="test")
    error = caught.value
    assert error.__context__ is None and error.__cause__ is None
    assert "pw@db" not in repr(error.args)
    assert store.secrets.names(workspace.workspace_id) == []
