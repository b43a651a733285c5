"""The server's packages import one another without cycles, and the collector stands on its own.

A cycle works only as long as nobody reorders an import or moves a name, and invites imports
hidden inside functions to dodge it; so the graph is read from the sources (``ast``): every
``import`` and ``from … import`` a module runs, at its top or inside a function. Imports under
``if TYPE_CHECKING:`` are left out: they never run."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "collector", "demo")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node`` that can run (not under ``if TYPE_CHECKING:``)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        children = node.orelse
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from _import_nodes(child)


def _imported_modules(module: str, path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``module`` imports. ``from p import n`` imports the
    submodule ``p.n`` when there is one, else the name ``n`` of ``p``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets = set()
    for node in _import_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: from the module's package, one package up per extra dot
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            targets.add(submodule if submodule in modules else base)
    return (targets & modules) - {module}


def import_graph() -> dict[str, set[str]]:
    """Each module of ``PACKAGES`` → the modules of ``PACKAGES`` it imports."""
    modules = _modules()
    return {module: _imported_modules(module, path, set(modules)) for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_has_every_import_that_runs(tmp_path):
    source = tmp_path / "job.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from api import runtime, settings as config\n"
        "from collector.db.queries import q\n"
        "if TYPE_CHECKING:\n"
        "    from api.app import create_app\n"
        "def later():\n"
        "    import collector.writer\n"
    )  # fmt: skip
    modules = {"api", "api.app", "api.runtime", "api.settings", "collector.db.queries", "collector.writer"}
    assert _imported_modules("api.job", source, modules) == modules - {"api", "api.app"}


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph = import_graph()
    assert {"api.app", "api.cli", "api.runtime", "collector.writer", "demo.command"} <= set(graph)
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(component) for component in found)


def test_the_collector_does_not_import_the_server():
    server_imports = {
        module: sorted(target for target in targets if target.partition(".")[0] != "collector")
        for module, targets in import_graph().items()
        if module.partition(".")[0] == "collector"
    }
    assert not {module: targets for module, targets in server_imports.items() if targets}
