"""The endpoint's routes, its options, and ``Mounted`` (what ``keystile serve`` runs)."""

from __future__ import annotations

import httpx
import pytest

from gateway.leaks import LeakConfig, LeakReports
from gateway.leaks.app import Mounted
from policies import ConfigError, Settings
from tests.gateway.leaks.conftest import GITLAB_TOKEN, Make
from tests.support.asgi import call, http_scope

pytestmark = pytest.mark.anyio


async def test_unknown_paths_and_methods_are_problems(http: httpx.AsyncClient) -> None:
    missing = await http.get("/nothing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = await http.get("/github")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"  # RFC 9110: a 405 names what is allowed
    head = await http.head("/gitlab/v1/revocable_token_types")
    assert head.status_code == 405 and head.headers["allow"] == "GET"
    for path in ("/github/", "//github", "/GITHUB", "/github%00"):
        answer = await http.post(path, content=b"[]")
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"


async def test_mounted_sends_its_path_to_the_endpoint_and_the_rest_on(make_leaks: Make) -> None:
    async def inner(scope: object, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 299, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    app = Mounted(inner, make_leaks(), "/keystile/leaks")
    assert (await call(app, http_scope("/keystile/leaks/github", "GET"))).status == 405
    assert (await call(app, http_scope("/keystile/leaks/gitlab/v1/x", "GET"))).status == 404
    assert (await call(app, http_scope("/keystile/leaksy", "GET"))).status == 299
    assert (await call(app, http_scope("/projects", "GET"))).status == 299


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gitlab_token": "short"}, "at least 32"),
        ({"github_keys_url": "ftp://x"}, "https"),
        ({"github_keys_url": "http://api.github.com/meta"}, "https"),  # a MITM's keys
        ({"github_keys_url": "http://10.0.0.1/keys"}, "https"),
        ({"path": "leaks"}, "path"),
        ({"max_items": 0}, "max_items"),
        ({"gitlab_types": "one"}, "gitlab_types"),
        ({"github_keys_refresh": -1}, "github_keys_refresh"),
    ],
)
def test_bad_options_fail_at_start(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LeakConfig(**options)  # type: ignore[arg-type]


def test_from_settings_reads_the_leaks_table_and_the_environment(settings: Settings) -> None:
    configured = Settings(
        settings.redis_url,
        settings.master_keys,
        settings.digest_secret,
        {"leaks": {"max_items": 5, "github": False}},
        environ={"KEYSTILE_LEAKS_GITLAB_TOKEN": "g" * 40},
    )
    app = LeakReports.from_settings(configured)
    assert app.config.max_items == 5
    assert set(app.routes) == {
        ("GET", "/gitlab/v1/revocable_token_types"),
        ("POST", "/gitlab/v1/revoke_tokens"),
    }
    typo = Settings(
        settings.redis_url, settings.master_keys, settings.digest_secret, {"leaks": {"nope": 1}}
    )
    with pytest.raises(ConfigError, match="unknown option"):
        LeakReports.from_settings(typo)


@pytest.mark.parametrize("route", ["/github", "/gitlab/v1/revoke_tokens"])
async def test_a_reporter_that_hangs_up_mid_body_is_no_error(make_leaks: Make, route: str) -> None:
    """A client gone before its body ended: nothing is answered or raised (no traceback in
    the server's log for a caller to cause at will)."""
    app = make_leaks()
    headers = [
        (b"github-public-key-identifier", b"github-key-1"),
        (b"github-public-key-signature", b"MEUCIQ=="),
        (b"authorization", f"Bearer {GITLAB_TOKEN}".encode()),
    ]
    messages = iter(
        [{"type": "http.request", "body": b"[{", "more_body": True}, {"type": "http.disconnect"}]
    )
    sent: list[object] = []

    async def receive() -> dict[str, object]:
        return next(messages)

    async def send(message: object) -> None:
        sent.append(message)

    await app(http_scope(route, "POST", headers), receive, send)  # type: ignore[arg-type]
    assert sent == []
