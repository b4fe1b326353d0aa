"""The layers of docs/architecture.md, enforced on the source: who may import whom.

Every ``import`` statement of every module under ``sofi_dask/`` is read with :mod:`ast` (module
level and inside functions alike), so a rule broken by a lazy import fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sofi_dask"

# every subpackage on disk (tests/test_api.py freezes the list itself as the public contract)
SUBPACKAGES = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
# top-level modules every layer builds on: they import no subpackage
FOUNDATION = (
    "errors",
    "_validation",
    "_config_model",
    "_schedulers",
    "_config_toml",
    "_cpus",
    "_memory",
)

# subpackage (or top-level module) -> the sofi_dask subpackages it must not import
FORBIDDEN: dict[str, set[str]] = {
    **{name: SUBPACKAGES for name in FOUNDATION},
    "io": SUBPACKAGES - {"io"},
    "stats": SUBPACKAGES - {"stats", "io"},
    "image": SUBPACKAGES - {"image", "io", "stats"},
    "quality": SUBPACKAGES - {"quality", "io", "stats", "image"},
    "viz": SUBPACKAGES - {"viz", "io"},
    "simulate": SUBPACKAGES - {"simulate", "io"},
    "cluster": SUBPACKAGES - {"cluster"},
    "pipeline": {"compat", "cli"},
    "compat": {"pipeline", "cli", "cluster", "simulate", "quality"},
    "cli": {"compat"},
}


def test_every_subpackage_has_an_import_rule():
    assert SUBPACKAGES <= FORBIDDEN.keys(), SUBPACKAGES - FORBIDDEN.keys()


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Every ``sofi_dask.*`` module named by an import in ``path`` (relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {name for name in found if name == "sofi_dask" or name.startswith("sofi_dask.")}


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layer_imports(path):
    forbidden = FORBIDDEN.get(_layer(path), set())
    bad = sorted(
        name
        for name in _imports(path)
        if len(name.split(".")) > 1 and name.split(".")[1] in forbidden
    )
    assert not bad, f"{path.relative_to(PACKAGE)} ({_layer(path)}) imports {bad}"


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if p.stem.endswith("_kernels")],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_kernels_import_no_dask(path):
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    bad = sorted(n for n in names if n.split(".")[0] in {"dask", "distributed", "zarr"})
    assert not bad, f"kernel module {path.name} imports {bad}"


def test_no_module_level_import_cycles():
    """Module-level imports between sofi_dask modules form no cycle."""
    graph: dict[str, set[str]] = {}
    known = {
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in _modules()
    }
    for path in _modules():
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        deps = set()
        for node in tree.body:  # module level only
            if isinstance(node, ast.ImportFrom) and node.module and node.module in known:
                deps.add(node.module)
                deps.update(
                    f"{node.module}.{a.name}"
                    for a in node.names
                    if f"{node.module}.{a.name}" in known
                )
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in known)
        graph[name] = {d for d in deps if d != name}
    # a submodule imported through its package: the package's own imports of it are no cycle
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if node.startswith(dep + "."):  # importing one's own package is Python's own order
                continue
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_module_shadows_a_public_function():
    """No public name is both a module and a function (``sofi_dask.cumulants`` is a function)."""
    import sofi_dask

    stems = {p.stem for p in _modules() if "compat" not in p.parts}  # compat: pysofi's names
    assert not stems & set(sofi_dask.__all__)


def test_modules_stay_small():
    big = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > 450
    }
    assert not big, f"modules over 450 lines: {big}"
