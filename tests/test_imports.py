"""The project's import graph: no circle, and the packages import one way.

Every module of the four packages is read with ``ast`` (nothing is imported); an edge is
any ``import`` of a project module, at module level, in a function or under
``TYPE_CHECKING``. ``gateway`` and ``admin_plugin`` use ``policies`` and never each other;
``policies`` imports no web framework; only ``keystile`` composes both sides.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "policies", "admin_plugin", "keystile")
FORBIDDEN = {
    "gateway": ("admin_plugin", "keystile"),
    "admin_plugin": ("gateway", "keystile"),
    "policies": ("gateway", "admin_plugin", "keystile", "starlette", "flask", "flask_admin"),
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported(name: str, path: Path) -> set[tuple[str, str | None]]:
    """What ``path`` imports: (module, None) for ``import m``, (m, n) for ``from m import n``."""
    is_package = path.name == "__init__.py"
    found: set[tuple[str, str | None]] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:  # relative: from the module's own package
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join([*base, node.module] if node.module else base)
            found.update((source, alias.name) for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports: ``from a import b`` is an edge to the
    module ``a.b`` if there is one, else to ``a`` (a package counts as its ``__init__``)."""
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for source, member in imported(name, path):
            if member is not None and f"{source}.{member}" in known:
                targets.add(f"{source}.{member}")
            elif source in known:
                targets.add(source)
        edges[name] = targets - {name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read() -> None:
    edges = graph()
    assert "gateway.keys.cache" in edges["gateway.middleware"] | edges["gateway.assembly"]
    assert "policies.storage.scripting" in edges["policies.storage.driver"]


def test_no_import_circle() -> None:
    assert cycles(graph()) == []


def test_a_circle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_flow_one_way() -> None:
    wrong = []
    known = modules()
    for name, path in known.items():
        package = name.split(".")[0]
        for source, _ in imported(name, path):
            if source.split(".")[0] in FORBIDDEN.get(package, ()):
                wrong.append(f"{name} imports {source}")
    assert sorted(set(wrong)) == []
