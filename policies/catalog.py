"""The catalog: what the protected API offers, in the words the admin uses.

Modules hold functionalities; each functionality covers (method, path template) routes.
The admin offers the catalog in its selects; the gateway compiles its routes to map a
request to (module, functionality). It is declared in JSON or TOML::

    [modules.projects.functionalities.create]
    description = "Create a project"
    routes = ["POST /projects"]

or derived from an app's named routes (``name="projects.create"``), and stored in Redis so
both sides see the same one. Path templates use Starlette's ``{param}`` syntax.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.errors import CatalogError
from policies.rules import WILDCARD, Rule, check_name

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WEBSOCKET"})


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str

    @classmethod
    def parse(cls, text: str) -> Route:
        method, _, path = str(text).strip().partition(" ")
        method, path = method.upper(), path.strip()
        if method not in METHODS:
            raise CatalogError(f"route {text!r}: method must be one of {sorted(METHODS)}")
        if not path.startswith("/") or any(c.isspace() for c in path):
            raise CatalogError(f"route {text!r}: path must start with '/' and have no spaces")
        return cls(method, path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Functionality:
    name: str
    description: str = ""
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    description: str = ""
    functionalities: tuple[Functionality, ...] = ()

    def functionality_names(self) -> list[str]:
        return [f.name for f in self.functionalities]


@dataclass(frozen=True, slots=True)
class Catalog:
    modules: tuple[Module, ...] = ()
    _index: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, frozenset[str]] = {}
        seen_routes: dict[Route, str] = {}
        for module in self.modules:
            check_name(module.name, "module")
            if module.name in index:
                raise CatalogError(f"module {module.name!r} is declared twice")
            names: set[str] = set()
            for functionality in module.functionalities:
                check_name(functionality.name, "functionality")
                if functionality.name in names:
                    raise CatalogError(
                        f"functionality {module.name}.{functionality.name} is declared twice"
                    )
                names.add(functionality.name)
                for route in functionality.routes:
                    owner = f"{module.name}.{functionality.name}"
                    if route in seen_routes:
                        raise CatalogError(
                            f"route {route} belongs to both {seen_routes[route]} and {owner}"
                        )
                    seen_routes[route] = owner
            index[module.name] = frozenset(names)
        object.__setattr__(self, "_index", index)

    # -- questions ------------------------------------------------------------------
    def module_names(self) -> list[str]:
        return [m.name for m in self.modules]

    def functionalities_of(self, module: str) -> list[str]:
        for m in self.modules:
            if m.name == module:
                return m.functionality_names()
        raise CatalogError(f"unknown module {module!r}")

    def check_rule(self, rule: Rule) -> Rule:
        """Return ``rule`` if the catalog knows its module and functionality, else raise."""
        known = self._index.get(rule.module)
        if known is None:
            raise CatalogError(
                f"unknown module {rule.module!r}; the catalog has: "
                f"{', '.join(sorted(self._index)) or 'no modules'}"
            )
        if rule.functionality != WILDCARD and rule.functionality not in known:
            raise CatalogError(
                f"module {rule.module!r} has no functionality {rule.functionality!r}; it has: "
                f"{', '.join(sorted(known)) or 'none'} (or '*' for all)"
            )
        return rule

    def routes(self) -> Iterable[tuple[Route, str, str]]:
        """Every (route, module, functionality), in declaration order."""
        for module in self.modules:
            for functionality in module.functionalities:
                for route in functionality.routes:
                    yield route, module.name, functionality.name

    # -- (de)serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "modules": {
                m.name: {
                    "description": m.description,
                    "functionalities": {
                        f.name: {"description": f.description, "routes": [str(r) for r in f.routes]}
                        for f in m.functionalities
                    },
                }
                for m in self.modules
            }
        }

    def to_json(self) -> str:
        # Declaration order is kept: it is the order the admin's selects offer.
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def fingerprint(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Any) -> Catalog:
        modules_data = data.get("modules") if isinstance(data, Mapping) else None
        if not isinstance(modules_data, Mapping):
            raise CatalogError("a catalog is a mapping with a 'modules' table")
        modules = []
        for module_name, module_data in modules_data.items():
            if not isinstance(module_data, Mapping):
                raise CatalogError(f"module {module_name!r} must be a table")
            functionalities_data = module_data.get("functionalities", {})
            if not isinstance(functionalities_data, Mapping):
                raise CatalogError(f"module {module_name!r}: 'functionalities' must be a table")
            functionalities = []
            for name, f_data in functionalities_data.items():
                if not isinstance(f_data, Mapping):
                    raise CatalogError(f"functionality {module_name}.{name} must be a table")
                routes = f_data.get("routes", [])
                if not isinstance(routes, list):
                    raise CatalogError(f"{module_name}.{name}: 'routes' must be a list")
                functionalities.append(
                    Functionality(
                        str(name),
                        str(f_data.get("description", "")),
                        tuple(Route.parse(r) for r in routes),
                    )
                )
            modules.append(
                Module(
                    str(module_name),
                    str(module_data.get("description", "")),
                    tuple(functionalities),
                )
            )
        return cls(tuple(modules))

    @classmethod
    def from_json(cls, text: str) -> Catalog:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise CatalogError(f"catalog is not valid JSON: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> Catalog:
        """Read a ``.json`` or ``.toml`` catalog file."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CatalogError(f"cannot read catalog {path}: {exc.strerror}") from None
        if path.suffix.lower() == ".toml":
            try:
                return cls.from_dict(tomllib.loads(raw.decode("utf-8")))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise CatalogError(f"catalog {path} is not valid TOML: {exc}") from None
        try:
            return cls.from_json(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise CatalogError(f"catalog {path} is not UTF-8") from None

    @classmethod
    def from_named_routes(cls, routes: Iterable[tuple[str, Iterable[str], str]]) -> Catalog:
        """Build from ``(name, methods, path)`` where ``name`` is ``module.functionality``.

        Routes whose name has no dot are not part of any module and are skipped.
        """
        grouped: dict[str, dict[str, list[Route]]] = {}
        for name, methods, path in routes:
            module, dot, functionality = name.partition(".")
            if not dot:
                continue
            bucket = grouped.setdefault(module, {}).setdefault(functionality, [])
            bucket.extend(Route.parse(f"{m} {path}") for m in sorted(methods) if m != "HEAD")
        return cls(
            tuple(
                Module(m, "", tuple(Functionality(f, "", tuple(r)) for f, r in fs.items()))
                for m, fs in grouped.items()
            )
        )
