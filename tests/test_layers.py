"""The package's layers (ttc/__init__.py): each subpackage imports only itself and the layers before it, and no
module imports itself back through others. Read from the source (every import, lazy ones too), not by importing."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ttc"
LAYERS = ["core", "world", "models", "verifiers", "methods", "pipelines", "report", "checks"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The ttc modules `path` imports, anywhere in it (`from ttc.a import b` counts ttc.a.b when that is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ttc":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in known else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "ttc"}
    return out


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) for every import of a later layer."""
    return sorted((m, t) for m, targets in graph.items() if layer(m) is not None
                  for t in targets if layer(t) is not None and layer(t) > layer(m))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among the layered modules, by depth-first search (the package __init__, which every module
    has as its parent, left out)."""
    graph = {m: {t for t in targets if layer(t) is not None and t in graph} for m, targets in graph.items()
             if layer(m) is not None}
    state, found = {}, []

    def visit(m, path):
        state[m] = "open"
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                found.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t, path + [t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


GRAPH = {m: imports_of(p, set(modules())) - {m} for m, p in modules().items()}


def test_every_module_lives_in_a_layer():
    # only the package's own __init__ (which pins the numerics first) stands outside the layers
    assert [m for m in GRAPH if layer(m) is None] == ["ttc"]
    assert sorted({m.split(".")[1] for m in GRAPH if m != "ttc"}) == sorted(LAYERS)


def test_no_module_imports_a_later_layer():
    assert upward_imports(GRAPH) == []


def test_no_import_cycle():
    assert cycles(GRAPH) == []


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("from ttc.pipelines import study\n\ndef f():\n    from ttc.core.store import write_table\n")
    assert imports_of(planted, set(GRAPH)) == {"ttc.pipelines.study", "ttc.core.store"}
    graph = GRAPH | {"ttc.core.planted": {"ttc.pipelines.study"}}
    assert upward_imports(graph) == [("ttc.core.planted", "ttc.pipelines.study")]
    graph = GRAPH | {"ttc.core.store": GRAPH["ttc.core.store"] | {"ttc.core.executors"}}
    assert len(cycles(graph)) == 1 and set(cycles(graph)[0]) == {"ttc.core.executors", "ttc.core.store"}
