"""The bot's modules import one way: no circle, even through an import inside a function."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT).with_suffix("").parts
    return ".".join(["bardbot", *(p for p in parts if p != "__init__")])


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The bot modules `path` imports anywhere in it (`from bardbot.x import y` counts as x, or
    as x.y when that is a module); a package's own parent package is not counted."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name for name in names if name in modules)
    me = module_name(path)
    return {name for name in found if name != me and not me.startswith(f"{name}.")}


def test_no_import_circle_among_the_bot_modules():
    paths = sorted(BOT.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    graph = {module_name(p): imports_of(p, modules) for p in paths}
    # The backends import base and their own schema module, never the package that picks them.
    assert graph["bardbot.settings.sqlite"] == {"bardbot.settings.base",
                                                 "bardbot.settings.sqlite_schema"}
    assert graph["bardbot.settings.postgres"] == {"bardbot.settings.base",
                                                   "bardbot.settings.postgres_schema",
                                                   "bardbot.database_url"}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as e:
        raise AssertionError(f"import circle: {' -> '.join(e.args[1])}") from None
    assert set(order) == modules
