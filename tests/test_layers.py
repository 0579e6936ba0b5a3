"""The package reads as its architecture: each layer imports only from the layers below it.

Every import counts, at module level, inside functions and under ``TYPE_CHECKING``. Modules of
one layer may import each other only inside the same package (``lmm`` and ``glmm`` are peers
that share nothing but what lies below them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import lmerpy

PACKAGE = Path(lmerpy.__file__).parent

LAYERS: list[set[str]] = [
    {"errors"},
    {"_util", "datasets"},
    {"terms"},
    {"formula"},
    {"solver"},
    {"design"},
    {"data"},
    {"optimize"},
    {"fitted"},
    {"inference"},
    {"postfit"},
    {"lmm", "glmm"},
    {"io", "kaplan2010"},
    {"__init__", "__main__"},
]
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}


def room_of(module: str) -> str:
    """'lmerpy.solver.plan' -> 'solver'; 'lmerpy' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = ["lmerpy", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every lmerpy import in the file."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("lmerpy")]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            if node.module is None:  # from . import x: x may be a module
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lmerpy"):
            found.append((node.lineno, node.module or ""))
    return found


def violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = module_name(path)
        if path.name == "__main__.py":
            here = "lmerpy.__main__"
        for line, target in imported(path):
            a, b = room_of(here), room_of(target)
            if a == b:
                continue
            if b not in RANK or RANK[b] >= RANK[a]:
                out.append(
                    f"{path.relative_to(PACKAGE)}:{line}: {here} ({a}) imports {target} ({b})"
                )
    return out


def test_every_room_has_a_layer() -> None:
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists())}  # fmt: skip
    assert rooms == set(RANK)


def test_imports_only_go_down_the_layers() -> None:
    assert violations() == []


def test_no_module_is_named_like_an_exported_function() -> None:
    modules = {p.stem for p in PACKAGE.rglob("*.py")} | {
        p.name for p in PACKAGE.rglob("*") if p.is_dir()
    }
    functions = {name for name in lmerpy.__all__ if callable(getattr(lmerpy, name))
                 and not isinstance(getattr(lmerpy, name), type)}  # fmt: skip
    assert modules & functions == set()


def test_no_module_is_over_700_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 700}  # fmt: skip
    assert long == {}
