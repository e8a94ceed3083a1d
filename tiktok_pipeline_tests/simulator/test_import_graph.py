"""The simulator's modules import one way: the import graph of ``tiktok_pipeline/simulator/**`` is acyclic.

Every ``import`` counts, also those inside functions (a lazy import is how a circle hides).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import tiktok_pipeline.simulator

PACKAGE = "tiktok_pipeline.simulator"
ROOT = Path(tiktok_pipeline.simulator.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join([PACKAGE, *parts])] = path
    return modules


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph() -> dict[str, set[str]]:
    """Module -> the simulator modules it imports (anywhere in its body)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(name, node, path.name == "__init__.py")
                # `from package import module` imports the module; `from module import name` the module
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def test_the_import_graph_sees_the_imports():
    graph = import_graph()
    assert "tiktok_pipeline.simulator.business.protocol" in graph["tiktok_pipeline.simulator.business.events"]
    assert "tiktok_pipeline.simulator.responses" in graph["tiktok_pipeline.simulator.app"]  # `from pkg import mod`


def test_simulator_imports_are_acyclic():
    try:
        order = list(TopologicalSorter(import_graph()).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle among simulator modules: {' -> '.join(error.args[1])}") from None
    assert len(order) == len(_modules())


def test_every_module_imports_first_in_a_fresh_interpreter():
    """Each endpoint module imported on its own (before the handler that wires it) works."""
    first = ["events", "reporting", "protocol", "app"]
    code = "; ".join(f"import tiktok_pipeline.simulator.business.{name}" for name in first)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT.parent.parent)
