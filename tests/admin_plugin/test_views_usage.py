"""api/usage and api/usage/impact through Flask's test client: answers and bad input."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from policies import PolicyStore
from policies.operations.usage import count_calls
from policies.storage.driver import Batch, Operation
from policies.storage.values import CreatedWorkspace
from policies.usage.request_counts import action_field, origin_field
from tests.support.admin import Api


def get(api: Api, path: str, **args: str) -> Any:
    return api.client.get(api._url(path) + "".join(f"&{k}={quote(v)}" for k, v in args.items()))


def flushed(ws: str, fields: dict[str, int], now: float) -> Operation[None]:
    """Counts as a gateway's flush writes them (its own write path)."""
    yield Batch(tuple(count_calls({ws: fields}, now)))


def test_usage_and_impact_answer_what_was_counted(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    fields = {
        action_field("publishable", "billing.read", "allowed"): 5,
        action_field("publishable", "members.invite", "action_blocked"): 2,
        origin_field("publishable", "billing.read", "https://a.example"): 5,
        action_field("sdk", "projects.list", "allowed"): 1,
    }
    store.run(flushed(ws, fields, store.ctx.clock()))
    answer = get(api, "api/usage", key="publishable", range="1h").get_json()
    assert answer["total"] == 7 and answer["grain_seconds"] == 60
    assert answer["top_actions"] == [["billing.read", 5], ["members.invite", 2]]
    assert answer["top_refused"] == [["members.invite", 2]]
    assert answer["top_origins"] == [["https://a.example", 5]]
    assert sum(answer["outcomes"]["allowed"]) == 5
    assert get(api, "api/usage", key="sdk", range="30d").get_json()["total"] == 1
    impact = get(api, "api/usage/impact", module="billing", functionality="*").get_json()
    assert impact["spans"] == [
        {"label": "24h", "requests": 5, "origins": [["https://a.example", 5]]},
        {"label": "7d", "requests": 5, "origins": [["https://a.example", 5]]},
    ]


def test_bad_input_is_a_problem_not_a_500(api: Api) -> None:
    for path, args, status in [
        ("api/usage", {"key": "publishable", "range": "2y"}, 400),
        ("api/usage", {"key": "nosuchtoken", "range": "1h"}, 404),
        ("api/usage", {}, 404),
        ("api/usage/impact", {"module": "<x>", "functionality": "read"}, 422),
        ("api/usage/impact", {}, 422),
    ]:
        response = get(api, path, **args)
        assert response.status_code == status, (path, args, response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json"


def test_each_token_row_carries_its_seven_days(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    busy = store.create_token(ws, "busy", actor="test").info.key_id
    idle = store.create_token(ws, "idle", actor="test").info.key_id
    now = store.ctx.clock()
    store.run(flushed(ws, {action_field(busy, "projects.list", "allowed"): 3}, now - 2 * 86400))
    store.run(flushed(ws, {action_field(busy, "billing.read", "action_blocked"): 4}, now))
    html = api.get("panel/tokens").get_data(as_text=True)
    assert f'data-key-id="{busy}"' in html and 'data-ks-spark="0,0,0,0,3,0,4"' in html
    assert f'data-key-id="{idle}"' in html and 'data-ks-spark="0,0,0,0,0,0,0"' in html


def test_requests_outside_the_catalog_are_named(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """The gateway counts them with no action (stored as "-"): the panel names them."""
    ws = workspace.workspace_id
    fields = {
        action_field("publishable", None, "route_not_in_catalog"): 3,
        action_field("publishable", "billing.read", "allowed"): 1,
    }
    store.run(flushed(ws, fields, store.ctx.clock()))
    answer = get(api, "api/usage", key="publishable", range="1h").get_json()
    assert answer["top_actions"] == [["(outside the catalog)", 3], ["billing.read", 1]]
    assert answer["top_refused"] == [["(outside the catalog)", 3]]
