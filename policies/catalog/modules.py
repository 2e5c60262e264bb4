"""The catalog's modules and their functionalities: the words the admin's rules use.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policies.catalog.routes import RouteEntry, parse_route
from policies.catalog.rules import check_name
from policies.errors import CatalogError


@dataclass(frozen=True, slots=True)
class Functionality:
    name: str
    description: str = ""
    writes: bool | None = None  # overrides its routes' marks (read scopes)


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    description: str = ""
    functionalities: tuple[Functionality, ...] = ()

    def functionality_names(self) -> list[str]:
        return [f.name for f in self.functionalities]


def module_index(modules: Iterable[Module]) -> dict[str, frozenset[str]]:
    """Each module's functionality names; a bad or twice-declared name raises."""
    index: dict[str, frozenset[str]] = {}
    for module in modules:
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
        index[module.name] = frozenset(names)
    return index


def modules_to_dict(modules: Iterable[Module]) -> dict[str, Any]:
    return {
        m.name: {
            "description": m.description,
            "functionalities": {
                f.name: {"description": f.description}
                | ({} if f.writes is None else {"writes": f.writes})
                for f in m.functionalities
            },
        }
        for m in modules
    }


def parse_modules(modules_data: Mapping[Any, Any]) -> tuple[list[Module], list[RouteEntry]]:
    """A catalog file's ``modules`` table, and the routes written inside its functionalities."""
    modules: list[Module] = []
    inline: list[RouteEntry] = []  # routes written inside their functionalities
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
            inline.extend(parse_route(r, f"{module_name}.{name}") for r in routes)
            writes = f_data.get("writes")
            if writes is not None and not isinstance(writes, bool):
                raise CatalogError(f"{module_name}.{name}: 'writes' is true or false")
            functionalities.append(
                Functionality(str(name), str(f_data.get("description", "")), writes)
            )
        modules.append(
            Module(
                str(module_name),
                str(module_data.get("description", "")),
                tuple(functionalities),
            )
        )
    return modules, inline
