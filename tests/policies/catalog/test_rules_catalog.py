import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import Catalog, CatalogError, PolicyStore, RouteEntry, Rule
from tests.support.catalog import DEMO_CATALOG


@pytest.mark.parametrize("text", ["billing:read", "billing.read", " billing : read "])
def test_rule_decoding(text: str) -> None:
    assert Rule.decode(text) == Rule("billing", "read")


@pytest.mark.parametrize("bad", ["billing", ":read", "bil ling:read", "billing:", "x:<script>"])
def test_bad_rules_are_clear_errors(bad: str) -> None:
    with pytest.raises(CatalogError):
        Rule.decode(bad)


def test_catalog_checks_rules(catalog: Catalog) -> None:
    assert catalog.check_rule(Rule("billing", "read"))
    assert catalog.check_rule(Rule("billing", "*"))
    with pytest.raises(CatalogError, match="unknown module 'payroll'"):
        catalog.check_rule(Rule("payroll", "read"))
    with pytest.raises(CatalogError, match="no functionality 'write'"):
        catalog.check_rule(Rule("billing", "write"))


def test_json_and_toml_files_load_the_same(tmp_path: Path, catalog: Catalog) -> None:
    (tmp_path / "c.json").write_text(json.dumps(DEMO_CATALOG))
    (tmp_path / "c.toml").write_text(
        "[modules.billing.functionalities.read]\nroutes = ['GET /billing']\n"
    )
    assert Catalog.load(tmp_path / "c.json") == catalog
    assert Catalog.load(tmp_path / "c.toml").functionalities_of("billing") == ["read"]
    assert Catalog.from_json(catalog.to_json()) == catalog
    assert Catalog.from_json(catalog.to_json()).fingerprint() == catalog.fingerprint()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "mapping with a 'modules' table"),
        ({"modules": {"a": {"functionalities": {"x": {"routes": ["FETCH /a"]}}}}}, "method"),
        ({"modules": {"a": {"functionalities": {"x": {"routes": ["GET a"]}}}}}, "must start"),
        (
            {
                "modules": {
                    "a": {
                        "functionalities": {
                            "x": {"routes": ["GET /a"]},
                            "y": {"routes": ["GET /a"]},
                        }
                    }
                }
            },
            "never runs",
        ),
        ({"modules": {"9a": {}}}, "not valid"),
        ({"modules": {"a": {"functionalities": {"x": {"routes": "GET /a"}}}}}, "must be a list"),
    ],
)
def test_malformed_catalogs_are_clear_errors(data: object, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        Catalog.from_dict(data)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        Catalog.load(tmp_path / "missing.json")
    (tmp_path / "bad.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(CatalogError, match="not valid TOML"):
        Catalog.load(tmp_path / "bad.toml")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["modules", "x"]), json_values, max_size=2))
def test_loader_never_fails_with_anything_but_catalog_error(data: dict[str, object]) -> None:
    with contextlib.suppress(CatalogError):
        Catalog.from_dict(data)


def test_from_routes_keeps_the_order_and_the_unnamed_routes() -> None:
    built = Catalog.from_routes(
        [
            RouteEntry("http", "/projects", "projects.list", ("GET", "HEAD")),
            RouteEntry("http", "/health", None, ("GET",)),
            RouteEntry("http", "/projects", "projects.create", ("POST",)),
        ]
    )
    assert built.module_names() == ["projects"]
    assert built.functionalities_of("projects") == ["list", "create"]
    assert [e.label() for _, e in built.entries()] == [
        "GET|HEAD /projects",
        "GET /health",
        "POST /projects",
    ]
    assert Catalog.from_json(built.to_json()) == built


def test_the_short_form_keeps_the_order_written() -> None:
    catalog = Catalog.from_dict(
        {
            "modules": {
                "users": {
                    "functionalities": {
                        "me": {"routes": ["GET /users/me"]},
                        "read": {"routes": ["GET /users/{id}", "WEBSOCKET /users/{id}/live"]},
                    }
                }
            }
        }
    )
    assert [(e.kind, e.path, e.action) for e in catalog.routes] == [
        ("http", "/users/me", "users.me"),
        ("http", "/users/{id}", "users.read"),
        ("websocket", "/users/{id}/live", "users.read"),
    ]


def test_a_catalog_that_disarms_live_rules_is_refused_unless_forced(
    store: PolicyStore, catalog: Catalog
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    store.add_rule(ws, Rule("billing", "read"), actor="t")
    token = store.create_token(ws, "ci", actor="t", rules=[Rule("members", "*")])
    data = json.loads(catalog.to_json())
    del data["modules"]["billing"], data["modules"]["members"]
    data["routes"] = [
        r
        for r in data["routes"]
        if not str(r.get("action", "")).startswith(("billing.", "members."))
    ]
    smaller = Catalog.from_dict(data)
    with pytest.raises(CatalogError) as refused:
        store.save_catalog(smaller)
    message = str(refused.value)
    assert f"{ws}: billing:read" in message
    assert f"{ws} token {token.info.key_id}: members:*" in message
    live = store.load_catalog()
    assert live is not None and live.fingerprint() == catalog.fingerprint()  # untouched
    store.revoke_token(ws, token.info.key_id, actor="t")  # a revoked token's rules are moot
    store.remove_rule(ws, Rule("billing", "read"), actor="t")
    with pytest.raises(CatalogError, match="it is empty"):
        store.save_catalog(Catalog())
    assert store.save_catalog(smaller) == smaller.fingerprint()
    store.add_rule(ws, Rule("projects", "list"), actor="t")
    assert store.save_catalog(Catalog(), force=True) == Catalog().fingerprint()
    assert store.deployment.audit_tail(1)[0].detail["disarmed"] == 1


def _one_route(entry: dict[str, object]) -> Catalog:
    return Catalog.from_dict(
        {"modules": {"a": {"functionalities": {"x": {}}}}, "routes": [{**entry, "action": "a.x"}]}
    )


@pytest.mark.parametrize(
    "entry",
    [
        {"path": "/files/{name}.{ext}"},
        {"path": "/f/{a}-{b}-{c}"},
        {"path": "/{a:int}{b:int}"},
        {"path": "/{a:path}/x/{b:path}"},
        {"mount": "/m/{rest:path}"},
        {"host": "{a}.{b}.example.com"},
    ],
)
def test_templates_that_backtrack_are_refused(entry: dict[str, object]) -> None:
    """Issue 25: '/f/{a}-{b}-{c}' took 52 s to match a 2 KB segment of dashes (measured
    with Starlette's compiled pattern); every template accepted matches in linear time."""
    with pytest.raises(CatalogError, match="power of the"):
        _one_route(entry)


@pytest.mark.parametrize(
    "path",
    [
        "/files/{name}",
        "/v{version}/items",
        "/{name}.json",
        "/{a}/{b:int}/{c:path}",
        "/{p:path}/edit",
    ],
)
def test_one_parameter_per_segment_is_accepted(path: str) -> None:
    assert _one_route({"path": path}).routes[0].path == path


def test_a_catalog_that_disarms_live_limits_is_refused_unless_forced(
    store: PolicyStore, catalog: Catalog
) -> None:
    """A per-action rate limit naming an action the catalog drops would stop counting: the
    load is refused with the list, as for rules; a revoked token's limits are moot."""
    ws = store.create_workspace("Acme", actor="t").workspace_id
    store.limits.replace(ws, "pk", ["10/min"], scope="projects.create", actor="t")
    store.limits.replace(ws, "sk", ["100/min"], actor="t")  # the whole key: no action to lose
    token = store.create_token(ws, "ci", actor="t")
    kid = token.info.key_id
    store.limits.replace(ws, f"tk:{kid}", ["1/s", "9/h"], scope="projects.create", actor="t")
    data = json.loads(catalog.to_json())
    projects = data["modules"]["projects"]["functionalities"]
    projects["make"] = projects.pop("create")
    data["routes"] = [
        {**r, "action": "projects.make"} if r.get("action") == "projects.create" else r
        for r in data["routes"]
    ]
    renamed = Catalog.from_dict(data)
    with pytest.raises(CatalogError) as refused:
        store.save_catalog(renamed)
    message = str(refused.value)
    assert "it would disarm live rate limits:" in message and "rules" not in message
    assert f"{ws} publishable key: projects.create 10/min" in message
    assert f"{ws} token {kid}: projects.create 1/s, 9/h" in message
    assert "SDK key" not in message
    live = store.load_catalog()
    assert live is not None and live.fingerprint() == catalog.fingerprint()  # untouched
    store.revoke_token(ws, kid, actor="t")
    with pytest.raises(CatalogError, match=r"publishable key: projects\.create"):
        store.save_catalog(renamed)
    assert store.save_catalog(renamed, force=True) == renamed.fingerprint()
    assert store.deployment.audit_tail(1)[0].detail["disarmed_limits"] == 1
    # A dead limit is still stored, to be seen and removed (its action need not exist).
    store.limits.remove(ws, "pk", scope="projects.create", actor="t")
    assert store.save_catalog(catalog) == catalog.fingerprint()  # nothing left to disarm
