"""Imports point one way (DESIGN.md): tools -> experiments -> tricks -> registry; inside tricks,
lr_finder / diagnostics / ensembles -> train -> the parts. Checked on the source (every
import statement, those inside functions too) and by importing each package alone."""

import ast
import collections
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOP = ("registry", "tricks", "experiments", "tools")
ABOVE_TRAIN = {"tricks.diagnostics", "tricks.lr_finder", "tricks.ensembles"}


def unit(path: pathlib.Path) -> str:
    """The import unit of a source file: a top-level package, or a package or module of tricks."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] == "tricks" and len(parts) > 1 and parts[1] != "__init__":
        return f"tricks.{parts[1]}"
    return parts[0]


def import_graph() -> dict[str, set[str]]:
    """Unit -> the units it imports (absolute imports of the project's packages)."""
    units = {unit(p) for top in TOP for p in (ROOT / top).rglob("*.py")}
    graph = collections.defaultdict(set)
    for top in TOP:
        for path in (ROOT / top).rglob("*.py"):
            source = unit(path)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                else:
                    continue
                for name in names:
                    parts = name.split(".")
                    target = ".".join(parts[:2]) if ".".join(parts[:2]) in units else parts[0]
                    if target in units and target != source and not (source == "tricks" or target == "tricks"):
                        graph[source].add(target)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` as a list of units, or None."""
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_cycle_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_the_import_graph_has_no_cycle_and_points_down():
    graph = import_graph()
    assert cycle(graph) is None, cycle(graph)
    layers = {"registry": 0, "tricks": 1, "experiments": 2, "tools": 3}
    for source, targets in graph.items():
        for target in targets:
            up = layers[target.split(".")[0]] > layers[source.split(".")[0]]
            assert not up, f"{source} imports {target}, a layer above it"
    assert not graph["tricks.train"] & (ABOVE_TRAIN | {"tools", "experiments"}), graph["tricks.train"]
    assert "tricks.train" in graph["tricks.diagnostics"]  # the graph does see imports (a check of the check)


@pytest.mark.parametrize("package", ["registry", "tricks.train", "tricks.diagnostics", "tricks.lr_finder",
                                     "tricks.ensembles", "tricks.data", "tricks.optimizers", "tools.cli",
                                     "experiments.baselines"])
def test_each_package_imports_alone_in_a_fresh_interpreter(package):
    result = subprocess.run([sys.executable, "-c", f"import {package}"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
