"""Which `lingshu` source files a stage script can run, found statically, and which of them dvc.yaml misses.

A cached result is stale the moment a module its stage runs changes without being a dep. This walks
every `import lingshu...` / `from lingshu... import ...` in a script and, transitively, in each module
it reaches, function-level imports included (the stages import heavy modules lazily), and resolves
them to files under the repo. A package import counts its `__init__.py`, and `from pkg import name`
also counts `pkg/name.py` when that is a module. `uncovered` compares the closure with a stage's deps:
a file is covered by a dep naming it or a folder above it. tests/test_stage_deps.py runs it on every
stage of dvc.yaml.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "lingshu"


def _module_file(repo: Path, dotted: str) -> Path | None:
    base = repo.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(repo: Path, dotted: str) -> list[Path]:
    """The `__init__.py` of every package on the way to `dotted` (importing a.b.c runs a and a.b)."""
    parts = dotted.split(".")
    found = [_module_file(repo, ".".join(parts[:i])) for i in range(1, len(parts))]
    return [f for f in found if f is not None]


def _relative_base(file: Path, repo: Path, level: int) -> str:
    package = file.parent.relative_to(repo).parts
    return ".".join(package[:len(package) - (level - 1)] if level > 1 else package)


def direct_imports(file: Path, repo: Path) -> set[Path]:
    """The repo files `file` imports itself (anywhere in it, not only at the top)."""
    out: set[Path] = set()

    def add(dotted: str) -> None:
        if dotted.split(".")[0] != PACKAGE:
            return
        target = _module_file(repo, dotted)
        if target is not None:
            out.add(target)
        out.update(_parents(repo, dotted))

    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(filter(None, [_relative_base(file, repo, node.level), base]))
            add(base)
            for alias in node.names:
                if _module_file(repo, f"{base}.{alias.name}") is not None:
                    add(f"{base}.{alias.name}")
    return out


def closure(script: Path, repo: Path) -> set[Path]:
    """Every repo file reachable from `script` through `lingshu` imports, the script included."""
    seen: set[Path] = set()
    todo = [script.resolve()]
    repo = repo.resolve()
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        seen.add(file)
        todo.extend(direct_imports(file, repo) - seen)
    return seen


def uncovered(files: set[Path], deps: list[str], repo: Path) -> list[str]:
    """The files (repo-relative) that no dep names, directly or through a folder above them."""
    repo = repo.resolve()
    dep_paths = [(repo / d).resolve() for d in deps]
    missing = []
    for file in files:
        if not any(file == d or d in file.parents for d in dep_paths):
            missing.append(str(file.relative_to(repo)))
    return sorted(missing)
