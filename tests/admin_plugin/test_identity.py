"""Who the admin is: what a host's callable may return, and Flask-Login's current_user."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from admin_plugin import AdminIdentity, flask_login_admin
from admin_plugin.identity import from_callable
from policies.errors import ConfigError

WS = "ws_AAAAAAAAAAAA"
WS2 = "ws_BBBBBBBBBBBB"


@dataclass
class HostUser:
    id: int
    email: str
    workspaces: list[str]
    is_authenticated: bool = True

    def get_id(self) -> str:
        return str(self.id)


def test_identity_from_object_mapping_or_itself() -> None:
    expected = AdminIdentity("7", "ops@acme.test", (WS, WS2))
    assert AdminIdentity.coerce(HostUser(7, "ops@acme.test", [WS, WS2, WS])) == expected
    mapping = {"id": "7", "email": "ops@acme.test", "workspaces": [WS, WS2]}
    assert AdminIdentity.coerce(mapping) == expected
    assert AdminIdentity.coerce(expected) is expected
    assert AdminIdentity.coerce(None) is None
    assert from_callable(lambda: mapping)() == expected


def test_identity_refuses_what_cannot_work() -> None:
    with pytest.raises(ConfigError, match="id"):
        AdminIdentity("", "ops@acme.test")
    with pytest.raises(ConfigError, match="email"):
        AdminIdentity("7", "not-an-address")
    with pytest.raises(ConfigError, match="workspace"):
        AdminIdentity("7", "ops@acme.test", ("acme",))


@pytest.mark.parametrize(
    "email",
    [
        "ops@acme.test\r\nBcc: evil@attacker.test",
        "ops@acme.test\n",
        "ops@acme.test, evil@attacker.test",
        "ops@acme.test,",
        '"ops,evil"@acme.test',
        "Ops <ops@acme.test>",
        "ops@acme.test\x00",
        "ops@",
        "@acme.test",
        "ops acme@acme.test",
        "",
    ],
)
def test_identity_refuses_anything_but_one_address(email: str) -> None:
    with pytest.raises(ConfigError, match="not one address"):
        AdminIdentity("7", email)
    with pytest.raises(ConfigError, match="not one address"):
        AdminIdentity.coerce({"id": "7", "email": email})


@pytest.mark.parametrize("email", ["ops@acme.test", "first.last+keys@mail.acme.test"])
def test_identity_takes_one_address(email: str) -> None:
    assert AdminIdentity("7", email).email == email


def test_actor_and_manages() -> None:
    admin = AdminIdentity("7", "ops@acme.test", (WS,))
    assert admin.actor == "admin:ops@acme.test"
    assert admin.manages(WS) and not admin.manages(WS2)


@pytest.fixture
def fake_flask_login(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Flask-Login is the host's choice and not installed here: a stand-in module."""
    module = types.ModuleType("flask_login")
    monkeypatch.setitem(sys.modules, "flask_login", module)
    return module


def test_flask_login_current_user(fake_flask_login: types.ModuleType) -> None:
    fake_flask_login.current_user = HostUser(42, "alice@acme.test", [WS])  # type: ignore[attr-defined]
    assert flask_login_admin()() == AdminIdentity("42", "alice@acme.test", (WS,))
    by_function = flask_login_admin(lambda user: [WS2])
    assert by_function() == AdminIdentity("42", "alice@acme.test", (WS2,))


def test_flask_login_anonymous_is_nobody(fake_flask_login: types.ModuleType) -> None:
    fake_flask_login.current_user = HostUser(0, "", [], is_authenticated=False)  # type: ignore[attr-defined]
    assert flask_login_admin()() is None


def test_flask_login_missing_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flask_login", None)  # makes the import fail
    with pytest.raises(ConfigError, match="Flask-Login"):
        flask_login_admin()()
