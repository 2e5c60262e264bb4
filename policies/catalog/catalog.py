"""The catalog: what the protected API offers, in the words the admin uses.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.catalog.modules import (
    Functionality,
    Module,
    module_index,
    modules_to_dict,
    parse_modules,
)
from policies.catalog.routes import (
    BUILTIN_CONVERTORS,
    RouteEntry,
    check_template,
    refuse_shadowed,
)
from policies.catalog.rules import WILDCARD, Rule, check_name
from policies.errors import CatalogError


@dataclass(frozen=True, slots=True)
class Catalog:
    modules: tuple[Module, ...] = ()
    routes: tuple[RouteEntry, ...] = ()
    redirect_slashes: bool = True  # the app's router: redirect /a/ to /a (and back)
    convertors: frozenset[str] = frozenset()  # custom path convertors the templates use
    head_for_get: bool = True  # a GET route answers HEAD too (Starlette); False: as listed
    _index: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = module_index(self.modules)
        object.__setattr__(self, "_index", index)
        for name in self.convertors:
            check_name(name, "convertor")
        convertors = BUILTIN_CONVERTORS | self.convertors
        for _, entry in self.entries():
            check_template(entry, convertors)
            if entry.action is not None:
                owner, _, name = entry.action.partition(".")
                if name not in index.get(owner, ()):
                    raise CatalogError(
                        f"route {entry.label()}: action {entry.action!r} is not a "
                        "functionality of the catalog's modules"
                    )
        refuse_shadowed(self.routes)

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

    def write_actions(self) -> frozenset[str]:
        """The actions a read scope leaves out: a functionality's ``writes`` mark, else
        whether any of its routes writes (:meth:`RouteEntry.writing`)."""
        writes = {e.action for _, e in self.entries() if e.action is not None and e.writing()}
        for m in self.modules:
            for f in m.functionalities:
                if f.writes is not None:
                    (writes.add if f.writes else writes.discard)(f"{m.name}.{f.name}")
        return frozenset(a for a in writes if a is not None)

    def entries(self) -> Iterable[tuple[str, RouteEntry]]:
        """``(full path, entry)`` for every entry, nested ones included, in match order."""
        for entry in self.routes:
            yield from entry.walk()

    # -- (de)serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "modules": modules_to_dict(self.modules),
            "routes": [r.to_dict() for r in self.routes],
        }
        if not self.redirect_slashes:
            data["redirect_slashes"] = False
        if self.convertors:
            data["convertors"] = sorted(self.convertors)
        if not self.head_for_get:
            data["head_for_get"] = False
        return data

    def to_json(self) -> str:
        # Declaration order is kept: the admin's selects offer modules in it, and the
        # route table's order is the match order.
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def fingerprint(self) -> str:
        # Keys sorted, lists (the route table among them) in their order: a reordered
        # route table is another catalog.
        digest = hashlib.sha256()
        for piece in _canonical(self.to_dict(), 2):
            digest.update(piece.encode())
        return digest.hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Any, *, redirect_default: bool = False) -> Catalog:
        """A catalog file's content. A router that does not say ``redirect_slashes`` does not
        redirect (most routers do not); the store's own form (:meth:`from_json`, backups)
        passes ``redirect_default=True``, as it leaves out a ``true``."""
        modules_data = data.get("modules") if isinstance(data, Mapping) else None
        if not isinstance(modules_data, Mapping):
            raise CatalogError("a catalog is a mapping with a 'modules' table")
        modules, inline = parse_modules(modules_data)
        table = data.get("routes")
        if table is not None and not isinstance(table, list):
            raise CatalogError("the catalog's 'routes' must be a list of route entries")
        if table is not None and inline:
            raise CatalogError(
                "routes are declared both in functionalities and in the 'routes' list: "
                "use one (the list gives the match order)"
            )
        entries = (
            inline
            if table is None
            else [RouteEntry.from_dict(e, redirect_default=redirect_default) for e in table]
        )
        redirect = data.get("redirect_slashes", redirect_default)
        head = data.get("head_for_get", True)
        convertors = data.get("convertors", [])
        if not isinstance(redirect, bool) or not isinstance(head, bool):
            raise CatalogError("'redirect_slashes' and 'head_for_get' are true or false")
        if not isinstance(convertors, list):
            raise CatalogError("'convertors' is a list of convertor names")
        return cls(tuple(modules), tuple(entries), redirect, frozenset(map(str, convertors)), head)

    @classmethod
    def from_json(cls, text: str) -> Catalog:
        """The store's form (:meth:`to_json`)."""
        try:
            return cls.from_dict(json.loads(text), redirect_default=True)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"catalog is not valid JSON: {exc}") from None
        except RecursionError:
            raise CatalogError("catalog is nested too deeply") from None

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
            return cls.from_dict(json.loads(raw.decode("utf-8")))
        except UnicodeDecodeError:
            raise CatalogError(f"catalog {path} is not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise CatalogError(f"catalog {path} is not valid JSON: {exc}") from None
        except RecursionError:
            raise CatalogError(f"catalog {path} is nested too deeply") from None

    @classmethod
    def from_routes(
        cls,
        routes: Iterable[RouteEntry],
        *,
        redirect_slashes: bool = True,
        convertors: Iterable[str] = (),
        head_for_get: bool = True,
    ) -> Catalog:
        """A catalog whose modules are the actions its routes name (an app's route names)."""
        routes = tuple(routes)
        grouped: dict[str, dict[str, None]] = {}
        for _, entry in (pair for r in routes for pair in r.walk()):
            if entry.action is not None:
                module, _, functionality = entry.action.partition(".")
                grouped.setdefault(module, {})[functionality] = None
        modules = tuple(
            Module(m, "", tuple(Functionality(f) for f in fs)) for m, fs in grouped.items()
        )
        return cls(modules, routes, redirect_slashes, frozenset(convertors), head_for_get)


def _canonical(value: Any, depth: int) -> Iterator[str]:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"))`` in pieces, ``depth``
    levels down: no single call holds the GIL for a whole big catalog (a gateway takes a
    catalog in a worker thread while its event loop runs)."""
    if depth and isinstance(value, dict):
        yield "{"
        for index, key in enumerate(sorted(value)):
            yield ("," if index else "") + json.dumps(key) + ":"
            yield from _canonical(value[key], depth - 1)
        yield "}"
    elif depth and isinstance(value, list):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from _canonical(item, depth - 1)
        yield "]"
    else:
        yield json.dumps(value, sort_keys=True, separators=(",", ":"))
