"""Hostile form input on every JSON route: never a 500, and a rejection writes nothing."""

from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.admin_plugin.support import Api

PROBLEM = "application/problem+json"
ROUTES = {
    "api/rules": ("module", "functionality"),
    "api/tokens": ("name", "expires_in_days", "expires_at", "rules"),
    "api/secrets": ("name", "value"),
    "api/otp": ("action", "name"),
    "api/sdk-key/reveal": ("code",),
    "api/sdk-key/roll": ("code", "grace_seconds"),
    "api/secrets/reveal": ("name", "code"),
}
# What a rejected request may still change: the audit (failed codes are logged on purpose)
# and the one-time-password bookkeeping (a wrong code costs an attempt).
POLICY_KEYS = ("meta", "keys", "rules", "tokens", "secrets")

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=40)
    | st.text(alphabet="<>\"'&;:*\\/\x00é😀", max_size=20)
    | st.sampled_from(["billing", "read", "*", "sdk_key.reveal", "1e309", "-1", "x" * 5000])
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
    for raw in (b"\xff\xfe", b"{", b"[]", b"null", b"\x00" * 100, b'{"a":' * 500):
        response = api.client.post(
            api._url("api/rules"),
            data=raw,
            headers={"X-CSRFToken": api.csrf, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.mimetype == PROBLEM
