"""The house rules, read from the source: data flows one way and no module imports the CLI.

Two independent readings of the imports: import-linter's contracts in ``pyproject.toml`` (what
CI runs as ``lint-imports``), and an AST walk over every ``import`` in the package, the ones
inside functions included, so an import hidden in a function cannot make a cycle either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
#: Source folders and the package names they ship as (see setup.py).
FOLDERS = {"compose": ROOT / "compose", "compose.solvers": ROOT / "solvers", "compose.grammars": ROOT / "grammars"}


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


def import_graph() -> nx.DiGraph:
    """Module -> module it imports, for every import statement anywhere in the package."""
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # "from a import b" imports module a.b when there is one, else a
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and target != "compose":
                    graph.add_edge(name, target)
    return graph


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    # a package's __init__ re-exporting its own modules is initialisation, not a dependency back
    edges = [(a, b) for a, b in graph.edges if not b.startswith(a + ".")]
    cycles = list(nx.simple_cycles(nx.DiGraph(edges)))
    assert cycles == []


def test_nothing_outside_the_cli_imports_it():
    graph = import_graph()
    # ``python -m compose`` is the command line's own entry point
    back = sorted((a, b) for a, b in graph.edges
                  if b.startswith("compose.cli") and not a.startswith(("compose.cli", "compose.__main__")))
    assert back == []


def test_stages_never_call_the_facade():
    graph = import_graph()
    callers = sorted(a for a, b in graph.edges if b == "compose.api" and not a.startswith("compose.cli"))
    assert callers == []


def test_the_import_contracts_hold():
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0
