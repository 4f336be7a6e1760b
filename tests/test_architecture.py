"""The layout: every import (at the top of a module, inside functions, under TYPE_CHECKING) goes from a
package to one it may use, and no module imports itself back through others. Read with ast, without
importing anything."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "nncmp"
# Which packages each may use directly; it may import those and whatever they may (docs/architecture.md draws
# this graph). Siblings that do not use each other have no order: suite and bench use tuning; explore, tuning and
# output know nothing of one another (output reads tuning.csv's columns from results/schema.py).
USES = {
    "cli": {"commands"},
    "api": {"commands"},
    "commands": {"suite", "bench", "explore", "tuning", "output"},
    "suite": {"tuning", "output"},
    "bench": {"tuning", "output"},
    "explore": {"output", "training"},
    "tuning": {"training"},
    "output": {"training"},
    "training": {"results"},
    "results": {"config"},
    "config": {"registry"},
    "registry": {"errors"},
    "errors": set(),
}


def below(package: str) -> set[str]:
    """Every package `package` may import: those it uses, and theirs."""
    seen: set[str] = set()
    todo = list(USES[package])
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo += USES[p]
    return seen


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every nncmp module `path` imports, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("nncmp")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nncmp"):
            found.add(node.module)
            # `from nncmp.results import store` imports the module nncmp.results.store
            found |= {f"{node.module}.{a.name}" for a in node.names if (ROOT.parent / node.module.replace(".", "/")
                                                                         / f"{a.name}.py").exists()}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name} for name, path in modules.items()}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__main__" else None  # None: nncmp itself (API, __main__)


def test_the_package_graph_has_every_package_and_no_cycle():
    assert set(USES) == {p.name if p.is_dir() else p.stem for p in ROOT.iterdir()
                         if p.name not in ("__init__.py", "__main__.py", "__pycache__")}
    assert not [p for p in USES if p in below(p)]
    assert not below("errors") and below("cli") == set(USES) - {"cli", "api"}
    assert "suite" not in below("bench") | below("tuning") and "tuning" not in below("explore") | below("output")


def test_every_package_imports_only_packages_it_may_use():
    wrong = []
    for module, targets in graph().items():
        here = layer(module)
        for target in targets:
            there = layer(target)
            if here is None or there is None or here == there:
                continue
            if there not in below(here):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the package graph:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" → ".join(path[path.index(nxt):] + [nxt]) if nxt in path else f"{node} → {nxt}")
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_package_inits_import_nothing():
    """`nncmp --help` stays instant: a package's __init__ imports nothing at its top level."""
    for init in ROOT.rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not top, f"{init.relative_to(ROOT.parent)} imports at its top level"


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT.parent)): n for p in ROOT.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_below_the_command_layer_nncmp_imports_are_at_the_top():
    """training/, registry/ and results/ import nncmp modules at the top, where a reader sees what a module
    depends on; a function-local one must say why on its line (`# lazy: ...`: it would import torch into a
    module that --help or the torch-free tier reads)."""
    hidden = []
    for package in ("training", "registry", "results"):
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text()
            lines = source.splitlines()
            for fn in ast.walk(ast.parse(source)):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nncmp") \
                            and "# lazy:" not in lines[node.end_lineno - 1]:
                        hidden.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert not hidden, hidden
