"""The house rules that the package's structure keeps, read from its source with `ast`.

- No import cycle among the package's modules, counting imports inside functions (a lazy import
  is still a dependency); imports under ``if TYPE_CHECKING:`` are for annotations and never run.
- No module imports another module's private (underscored) name; private *modules* (``_ppca``)
  are the package's rooms and are imported by name.
- A module longer than `MAX_LINES` says why it must stay whole, in a comment starting
  ``# Kept whole:``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ppca_stability"
MAX_LINES = 700


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def resolve(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def imports(name: str) -> list[tuple[str, str | None]]:
    """``(module, imported name or None)`` for every import that runs, anywhere in the module."""
    tree = ast.parse(MODULES[name].read_text())
    skip = type_checking_nodes(tree)
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, node)
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub, None) if sub in MODULES else (target, a.name))
    return out


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name in MODULES:
        deps = set()
        for module, _ in imports(name):
            # `import a.b.c` depends on the deepest package module it names
            while module and module not in MODULES:
                module = module.rpartition(".")[0]
            if module and module != name and not (is_package(module) and name.startswith(module)):
                deps.add(module)
        edges[name] = deps
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    # and the graph reader sees imports inside functions: StabilityMap.plot's lazy import
    assert "ppca_stability._plotting.maps" in graph()["ppca_stability._ppca.stability"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_another_modules_private_name(name):
    private = [
        f"{module}.{imported}"
        for module, imported in imports(name)
        if imported is not None
        and imported.startswith("_")
        and not imported.startswith("__")
        and module.startswith("ppca_stability")
    ]
    assert private == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_long_module_says_why_it_stays_whole(name):
    text = MODULES[name].read_text()
    if text.count("\n") > MAX_LINES:
        assert "# Kept whole:" in text, f"{name} has {text.count(chr(10))} lines"
