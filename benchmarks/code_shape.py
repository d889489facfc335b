"""The shape of the code in ``src/classicnets``: long functions, import cycles, layer crossings.

    python benchmarks/code_shape.py [--top 12] [--limit 80]

Prints the longest functions (lines from ``def`` to the last line of the body, decorators
excluded), every function over ``--limit`` lines, the import cycles between files (strongly
connected components of the module graph, counting only imports executed at module import time
*and* those inside functions: a lazy import still ties two files together), and the imports that
break the layer order of the README (``report/`` imports no other layer; ``models``/``data``
import nothing above them). ``duplicates`` (the workplace tool) run in ``src/`` gives the pair
count. ``tests/test_code_shape.py`` asserts the same rules.
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "classicnets"
# Functions allowed past the line limit: declarative tables, not logic.
LONG_ALLOWED = {"classicnets.cli.build_parser"}
# Layer -> the layers it may import (besides itself and the shared top-level modules).
LAYERS = {
    "models": set(),
    "data": set(),
    "train": {"models", "data"},
    "analysis": {"models", "data"},
    "experiments": {"train", "analysis", "models", "data"},
    "report": set(),
    "cli": {"experiments", "train", "analysis", "models", "data", "report"},
}
SHARED = {"errors", "_io", "options", "device", "reference", "layers", "runfiles", "__init__", "__main__"}


@dataclass(frozen=True)
class Function:
    qualname: str
    path: str
    line: int
    length: int


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted((SRC / PACKAGE).rglob("*.py"))


def functions(path: Path) -> list[Function]:
    tree = ast.parse(path.read_text())
    mod = module_name(path)
    out: list[Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}.{child.name}"
                out.append(Function(name, str(path.relative_to(SRC)), child.lineno,
                                    child.end_lineno - child.lineno + 1))
                visit(child, name)
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}.{child.name}")

    visit(tree, mod)
    return out


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = mod.split(".")
        keep = len(parts) - node.level + (1 if is_pkg else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def import_graph() -> dict[str, set[str]]:
    files = source_files()
    modules = {module_name(p): p for p in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(mod, is_pkg, node)
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if t in modules and t != mod:
                    graph[mod].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one file (Tarjan), packages' ``__init__`` excluded
    (a package re-exporting its modules is not a cycle between two files of logic)."""
    g = {m: {t for t in ts if not _is_package(t)} for m, ts in graph.items() if not _is_package(m)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                strong(w)
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
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            strong(v)
    return out


def _is_package(mod: str) -> bool:
    return (SRC / Path(*mod.split(".")) / "__init__.py").exists()


def _layer(mod: str) -> str | None:
    parts = mod.split(".")
    if len(parts) < 2:
        return None
    name = parts[1]
    return name if name in LAYERS else None


def layer_crossings(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    bad = []
    for mod, targets in sorted(graph.items()):
        src = _layer(mod)
        if src is None:
            continue
        for t in sorted(targets):
            dst = _layer(t)
            if dst is None or dst == src:
                if (dst is None and t != PACKAGE and src == "report"
                        and t.split(".")[1] not in ("errors", "_io", "runfiles")):
                    bad.append((mod, t))
                continue
            if dst not in LAYERS[src]:
                bad.append((mod, t))
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--limit", type=int, default=80)
    args = ap.parse_args()
    funcs = [f for p in source_files() for f in functions(p)]
    funcs.sort(key=lambda f: -f.length)
    print(f"{len(funcs)} functions in {len(source_files())} files under src/{PACKAGE}")
    print(f"longest {args.top}:")
    for f in funcs[: args.top]:
        print(f"  {f.length:4d}  {f.qualname}  ({f.path}:{f.line})")
    over = [f for f in funcs if f.length > args.limit and f.qualname not in LONG_ALLOWED]
    print(f"over {args.limit} lines (besides {', '.join(sorted(LONG_ALLOWED))}): {len(over)}")
    fit = next((f for f in funcs if f.qualname == f"{PACKAGE}.train.loop.fit"), None)
    if fit:
        print(f"train.loop.fit: {fit.length} lines")
    graph = import_graph()
    cyc = cycles(graph)
    print(f"import cycles between files: {len(cyc)}")
    for c in cyc:
        print("  " + " <-> ".join(c))
    cross = layer_crossings(graph)
    print(f"imports against the layer order: {len(cross)}")
    for a, b in cross:
        print(f"  {a} -> {b}")


if __name__ == "__main__":
    main()
