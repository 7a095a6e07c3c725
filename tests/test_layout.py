"""The package's layout: the library never imports the course helpers or the tools, no module takes a
private name from another, no import hides inside a function, and the import graph has no loop."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vitlib"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The absolute module name of a ``from ... import`` inside ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def vitlib_imports(module: str) -> list[tuple[str, list[str], ast.AST]]:
    """``(imported vitlib module, names taken from it, node)`` for every import in ``module``."""
    path = MODULES[module]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            target = resolve(module, node, path.name == "__init__.py")
            names = [a.name for a in node.names]
            if target.startswith("vitlib"):
                # "from . import plot" takes a module, not a name
                submodules = [n for n in names if f"{target}.{n}" in MODULES]
                found += [(f"{target}.{n}", [], node) for n in submodules]
                rest = [n for n in names if n not in submodules]
                if rest:
                    found.append((target, rest, node))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node) for a in node.names if a.name.startswith("vitlib")]
    return found


def graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in vitlib_imports(m) if t != m} for m in MODULES}


def is_library(module: str) -> bool:
    return not (module.startswith("vitlib.course") or module.startswith("vitlib.tools"))


def test_the_three_rooms_exist():
    assert "vitlib.course.plot" in MODULES and "vitlib.tools.bench" in MODULES and "vitlib.train" in MODULES


@pytest.mark.parametrize("module", [m for m in MODULES if is_library(m)])
def test_the_library_imports_neither_the_course_nor_the_tools(module):
    wrong = [t for t in graph()[module] if not is_library(t)]
    assert not wrong, f"{module} imports {wrong}"


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("vitlib.course")])
def test_the_course_does_not_import_the_tools(module):
    assert not [t for t in graph()[module] if t.startswith("vitlib.tools")]


@pytest.mark.parametrize("module", list(MODULES))
def test_no_private_name_crosses_modules(module):
    for target, names, node in vitlib_imports(module):
        private = [n for n in names if n.startswith("_")] + [p for p in target.split(".") if p.startswith("_")]
        assert not private, f"{module} line {node.lineno} imports private {private} from {target}"


@pytest.mark.parametrize("module", list(MODULES))
def test_no_import_inside_a_function(module):
    tree = ast.parse(MODULES[module].read_text())
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = [n for n in ast.walk(function) if isinstance(n, (ast.Import, ast.ImportFrom))]
            assert not inner, f"{module}.{function.name} imports inside its body (line {inner[0].lineno})"


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return path + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node, [])):
            return cycle
    return None


def test_the_import_graph_has_no_loop():
    cycle = find_cycle(graph())
    assert cycle is None, f"import loop: {' -> '.join(cycle)}"


def test_the_loop_finder_finds_a_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
