"""The code a doit task runs, derived from the source: the ``landscape.*`` import closure of its action.

A task reruns when one of its code files changes, so its list of code files must be complete and
must not be typed by hand (hand-typed lists drift: an analysis that imports ``spectra`` but does not
list it keeps a stale result when the band definition changes). The closure follows every
``import landscape.x`` and ``from landscape[.x] import y`` statement, at module level and inside
functions (the actions import lazily), through every module it reaches.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Never followed. config.py and paths.py: their effect on a result is the configuration, which the task's
# config hash already names (an edit to the TOML parser must not rerun hours of compute). store.py: file I/O
# whose schema checks fail loudly on a mismatch. integrity.py: decides whether a target is reused, never what
# it holds. tasks.py: the glue every action lives in; each action's own imports, and the helpers of tasks.py
# it calls, are followed instead (`action_code`). registry.py: the class every analysis declares itself with;
# what a declaration says (inputs, configuration) is in the task's file list and hash already.
EXCLUDED = frozenset(
    {
        "landscape.config",
        "landscape.paths",
        "landscape.store",
        "landscape.integrity",
        "landscape.tasks",
        "landscape.registry",
    }
)


@cache
def module_path(module: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The source file of ``landscape.a.b`` (``a/b.py`` or ``a/b/__init__.py``), or None if there is none."""
    parts = module.split(".")[1:]
    base = package_dir.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(node: ast.AST, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """Every ``landscape.*`` module that the statements under ``node`` import."""
    found: set[str] = set()
    for statement in ast.walk(node):
        if isinstance(statement, ast.Import):
            found.update(alias.name for alias in statement.names if alias.name.startswith("landscape."))
        elif isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
            if statement.module != "landscape" and not statement.module.startswith("landscape."):
                continue
            for alias in statement.names:  # `from landscape.analyses import noise` imports a module
                submodule = f"{statement.module}.{alias.name}"
                found.add(submodule if module_path(submodule, package_dir) else statement.module)
    found.discard("landscape")
    return found


@cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@cache
def _imports_of(path: Path, package_dir: Path) -> frozenset[str]:
    """The ``landscape.*`` modules the file at ``path`` imports (walking its tree once per build graph)."""
    return frozenset(imported_modules(_parsed(path), package_dir))


def closure(modules: Iterable[str], package_dir: Path = PACKAGE_DIR, excluded: frozenset[str] = EXCLUDED) -> list[Path]:
    """Source files of ``modules`` and of every ``landscape`` module they import, transitively, sorted."""
    seen: set[str] = set()
    pending = [m for m in modules if m not in excluded]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = module_path(module, package_dir)
        if path is None:
            raise ValueError(
                f"{module} is imported but no file {module.replace('.', '/')}.py exists under "
                f"{package_dir.parent}: a renamed module, or an import of a name that is not a module"
            )
        pending.extend(m for m in _imports_of(path, package_dir) if m not in excluded | seen)
    return sorted(module_path(m, package_dir) for m in seen)


def action_code(
    function: str,
    tasks_file: Path = PACKAGE_DIR / "tasks.py",
    package_dir: Path = PACKAGE_DIR,
    excluded: frozenset[str] = EXCLUDED,
) -> list[Path]:
    """The code files of the doit action ``function`` in ``tasks.py``.

    They are the closure of what it and the ``tasks.py`` helpers it calls import.
    """
    functions = {node.name: node for node in _parsed(tasks_file).body if isinstance(node, ast.FunctionDef)}
    if function not in functions:
        raise ValueError(f"{tasks_file} has no function {function!r}: the task's action was renamed or removed")
    modules: set[str] = set()
    visited: set[str] = set()
    pending = [function]
    while pending:
        name = pending.pop()
        if name in visited:
            continue
        visited.add(name)
        modules |= imported_modules(functions[name], package_dir)
        pending.extend(
            node.func.id
            for node in ast.walk(functions[name])
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions
        )
    return closure(modules, package_dir, excluded)
