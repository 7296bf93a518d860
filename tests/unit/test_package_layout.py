"""The package layout holds: the runtime package (what the Lambda layer ships)
never imports the development package or moto, and neither package has an
import cycle.

Imports are read from the source (ast), not by importing: every ``import``
and ``from ... import`` counts, at module level or inside a function (a lazy
import still runs, just later), except those under ``if TYPE_CHECKING:``,
which never run. Importing ``a.b.c`` also runs ``a/__init__.py`` and
``a/b/__init__.py``, so those count as imported too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNTIME = "msk_privatelink"
DEVELOPMENT = "msk_privatelink_dev"
ROOTS = {RUNTIME: REPO / "layers" / "core", DEVELOPMENT: REPO / "dev"}


def module_files(package: str) -> dict[str, Path]:
    root = ROOTS[package]
    modules: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = {**module_files(RUNTIME), **module_files(DEVELOPMENT)}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _executed_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (i for n in node.orelse for i in _executed_imports_of(n))
            continue
        yield from _executed_imports_of(node)


def _executed_imports_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
        return
    yield from _executed_imports(node)


def imported_names(module: str) -> set[str]:
    """Every dotted name the module imports (relative imports resolved)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _executed_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        names.add(base)
        # `from pkg import mod` imports the module pkg.mod.
        names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _with_parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules whose code its imports run."""
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        edges = {
            target
            for name in imported_names(module)
            for target in _with_parents(name)
            if target in MODULES and target != module
        }
        # A package's own parents run before it; not an edge of its imports.
        graph[module] = edges - set(_with_parents(module))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph[node]):
            if cycle := visit(target):
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start):
            return cycle
    return None


def test_the_walk_sees_both_packages_and_their_imports() -> None:
    graph = import_graph()
    assert "msk_privatelink.reconcile.reconciler" in graph
    assert "msk_privatelink_dev.embedded.server" in graph
    # A known edge each way it can be written: absolute, lazy (in a function).
    assert "msk_privatelink.reconcile.planner" in graph["msk_privatelink.reconcile.reconciler"]
    assert (
        "msk_privatelink.reconcile.desired_shared_nlb" in graph["msk_privatelink.reconcile.desired"]
    )


def test_no_import_cycle_in_either_package() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(RUNTIME + ".")))
def test_runtime_module_imports_neither_the_development_package_nor_moto(module: str) -> None:
    if module.startswith(DEVELOPMENT):
        pytest.skip("development module")
    forbidden = {
        name for name in imported_names(module) if name.split(".")[0] in {DEVELOPMENT, "moto"}
    }
    assert forbidden == set(), f"{module} would need what the Lambda layer does not ship"


def test_the_layer_source_holds_the_runtime_package_alone() -> None:
    """The layer build copies layers/core/msk_privatelink: nothing else of the
    project may sit beside it there."""
    core = REPO / "layers" / "core"
    packages = {p.name for p in core.iterdir() if (p / "__init__.py").is_file()}
    assert packages == {RUNTIME}
