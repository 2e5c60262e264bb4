"""Every query argument of every GET route, hostile: parsed into its bounded type before
Redis sees it, so the answer is a page, a fragment or a problem document, never a 500.

The trip (issue 26): ``?abefore=18446744073709551616-0`` matched the id pattern, and Redis
refused the id (above 2^64 - 1) with an error the page and the audit panel answered as 500.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from admin_plugin.views.panels import PANELS
from tests.support.admin import BASE, Api

ARGS = ("tq", "tstatus", "tpage", "aaction", "aactor", "abefore")
ARGS += ("key", "range", "module", "functionality")
ROUTES = ("", "api/catalog", "api/usage", "api/usage/impact", *(f"panel/{p}" for p in PANELS))
BIG = str(2**64)
numbers = st.integers(min_value=0, max_value=2**70).map(str)
values = (
    st.text(max_size=30)
    | numbers
    | st.tuples(numbers, numbers).map("-".join)
    | st.sampled_from([f"{BIG}-0", f"0-{BIG}", f"{2**64 - 1}-{2**64 - 1}", "0-0", "-1", "1e9"])
    | st.sampled_from(["active", "revoked", "publishable", "sdk", "24h", "billing", "*"])
)


@pytest.mark.parametrize("route", ROUTES)
def test_no_query_argument_is_a_500(api: Api, route: str) -> None:
    api.page()

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.fixed_dictionaries({}, optional=dict.fromkeys(ARGS, values)))
    @example({"abefore": f"{BIG}-0"})
    @example({"tpage": "²"})  # a digit to str.isdigit, not to int() (found in CI)
    @example({"abefore": f"0-{BIG}"})
    def attempt(args: dict[str, str]) -> None:
        response = api.client.get(f"{BASE}{route}?{urlencode({'ws': api.ws, **args})}")
        assert response.status_code < 500, (args, response.get_data(as_text=True)[:300])
        if response.status_code >= 400 and route:
            assert response.mimetype == "application/problem+json"

    attempt()


def test_an_audit_cursor_past_redis_ids_is_a_400(api: Api) -> None:
    response = api.client.get(f"{BASE}panel/audit?ws={api.ws}&abefore={BIG}-0")
    assert response.status_code == 400
    assert "audit entry id" in response.get_json()["detail"]
