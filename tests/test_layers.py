"""The package's layers (drawn in tvmaze_sync/__init__.py) hold: every import, those inside
functions and under TYPE_CHECKING included, goes to the module's own layer or below, never
to a sibling of the same rank, and the modules of one layer import one another without a
cycle.

The order is read from the package docstring, so the drawing and the rule cannot drift.
"""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

import tvmaze_sync

ROOT = Path(tvmaze_sync.__file__).parent
PACKAGE = "tvmaze_sync"


def ranks() -> list[tuple[str, ...]]:
    """The layers by rank, bottom first, as the package docstring draws them (name, two
    spaces, what; a line starting `=` is a sibling of the line above)."""
    drawn: list[tuple[str, ...]] = []
    for mark, name in re.findall(r"^  (  |= )([a-z]+)  ", tvmaze_sync.__doc__ or "", flags=re.M):
        if mark == "= " and drawn:
            drawn[-1] += (name,)
        else:
            drawn.append((name,))
    return list(reversed(drawn))


def layers() -> list[str]:
    """Every drawn layer, bottom first."""
    return [name for rank in ranks() for name in rank]


def sources() -> dict[str, tuple[Path, str]]:
    """Every module of the package: its dotted name -> (path, source)."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = (path.relative_to(ROOT.parent), path.read_text(encoding="utf-8"))
    return found


def imports(name: str, path: Path, source: str, known: set[str]) -> list[tuple[int, str]]:
    """(line, module imported) for every import in the module, at any depth of the tree."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:  # `from tvmaze_sync.cycle import metrics` is a module
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if sub in known else base))
    return [(line, module) for line, module in found if module.split(".")[0] == PACKAGE]


def layer_of(module: str) -> str | None:
    """The layer a module sits in; None for the root (`__version__`) and `__main__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__main__" else None


def violations(modules: dict[str, tuple[Path, str]], order: list[tuple[str, ...]]) -> list[str]:
    """One line per import that goes up, sideways or to an undrawn layer, and per cycle in a
    layer."""
    rank = {layer: i for i, siblings in enumerate(order) for layer in siblings}
    known = set(modules)
    found: list[str] = []
    within: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for name, (path, source) in modules.items():
        mine = layer_of(name)
        if mine is not None and mine not in rank:
            found.append(f"{path}: layer {mine!r} is not drawn in tvmaze_sync/__init__.py")
            continue
        for line, target in imports(name, path, source, known):
            theirs = layer_of(target)
            at = f"{path}:{line} imports {target}"
            if target == f"{PACKAGE}.__main__":
                found.append(f"{at}: nothing imports the entry point")
            elif mine is None or theirs is None:
                continue  # __main__ imports anything; anything reads the root's __version__
            elif theirs not in rank:
                found.append(f"{at}: layer {theirs!r} is not drawn in tvmaze_sync/__init__.py")
            elif rank[theirs] > rank[mine]:
                found.append(f"{at}: {theirs} is above {mine}")
            elif rank[theirs] == rank[mine] and theirs != mine:
                found.append(f"{at}: {theirs} is beside {mine} (siblings import neither)")
            elif theirs == mine and target != name:
                within.setdefault(name, set()).add(target)
                where.setdefault((name, target), at)
    try:
        tuple(graphlib.TopologicalSorter(within).static_order())
    except graphlib.CycleError as error:
        ring = error.args[1]  # [a, b, ..., a]: b is imported by a, and so on round
        lines = [where[(ring[i + 1], ring[i])] for i in range(len(ring) - 1)]
        found.append("an import cycle within a layer: " + "; ".join(lines))
    return found


def test_every_subpackage_is_drawn_once_in_the_package_docstring() -> None:
    drawn = layers()
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert len(drawn) == len(set(drawn)) and set(drawn) == on_disk, (drawn, sorted(on_disk))


def test_no_import_goes_up_sideways_or_round_in_a_circle() -> None:
    assert violations(sources(), ranks()) == []


def test_tvmaze_and_decisions_are_drawn_as_siblings() -> None:
    assert ("decisions", "tvmaze") in ranks()


def _planted(tmp_path: Path, files: dict[str, str]) -> dict[str, tuple[Path, str]]:
    modules = {}
    for name, source in files.items():
        path = tmp_path / (name.replace(".", "/") + ".py")
        modules[name.removesuffix(".__init__")] = (path, source)
    return modules


def test_the_check_finds_each_kind_of_bad_import(tmp_path: Path) -> None:
    """The rule is not vacuous: upward imports hidden in a function, under TYPE_CHECKING or
    written relative are each named with their line; so is a cycle held apart by
    TYPE_CHECKING, the entry point imported, an undrawn layer, and an import between
    siblings of one rank (either way)."""
    planted = _planted(
        tmp_path,
        {
            "tvmaze_sync.core.__init__": "",
            "tvmaze_sync.core.a": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from tvmaze_sync.cycle.run import Thing\n"
                "def f():\n"
                "    from ..cli import main\n"
            ),
            "tvmaze_sync.core.b": "import tvmaze_sync.core.c\nfrom tvmaze_sync import __version__",
            "tvmaze_sync.core.c": "from . import b\n",
            "tvmaze_sync.cycle.__init__": "",
            "tvmaze_sync.cycle.run": "from tvmaze_sync.core import a\nimport tvmaze_sync.__main__",
            "tvmaze_sync.decisions.rules": "from tvmaze_sync.tvmaze import mapping\n",
            "tvmaze_sync.tvmaze.mapping": "\n\nfrom ..decisions.rules import rule\n",
            "tvmaze_sync.extra.x": "",
        },
    )
    found = violations(planted, [("core",), ("decisions", "tvmaze"), ("cycle",), ("cli",)])
    core, cycle = tmp_path / "tvmaze_sync/core", tmp_path / "tvmaze_sync/cycle"
    assert f"{core}/a.py:3 imports tvmaze_sync.cycle.run: cycle is above core" in found
    assert f"{core}/a.py:5 imports tvmaze_sync.cli: cli is above core" in found
    entry = "imports tvmaze_sync.__main__: nothing imports the entry point"
    assert f"{cycle}/run.py:2 {entry}" in found
    decisions, tvmaze = tmp_path / "tvmaze_sync/decisions", tmp_path / "tvmaze_sync/tvmaze"
    sideways = "imports tvmaze_sync.{}: {} is beside {} (siblings import neither)"
    assert (
        f"{decisions}/rules.py:1 " + sideways.format("tvmaze.mapping", "tvmaze", "decisions")
        in found
    )
    assert (
        f"{tvmaze}/mapping.py:3 " + sideways.format("decisions.rules", "decisions", "tvmaze")
        in found
    )
    assert f"{tmp_path}/tvmaze_sync/extra/x.py: layer 'extra' is not drawn" in found[-2]
    assert found[-1].startswith("an import cycle within a layer: ") and "c.py:1" in found[-1]
    assert len(found) == 7, found


def _top_level_names(source: str) -> tuple[set[str], set[str]]:
    """(names a module defines, names it imports) at its top level."""
    defined: set[str] = set()
    imported: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            imported |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
    return defined, imported


def borrowed_imports(modules: dict[str, tuple[Path, str]], readers: list[Path]) -> list[str]:
    """One line per `from tvmaze_sync.x import name` (in `readers`) where x only imports
    `name` from elsewhere: each name has one import path, its defining module's."""
    names = {module: _top_level_names(source) for module, (_, source) in modules.items()}
    found = []
    for path in readers:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module not in names:
                continue
            defined, imported = names[node.module]
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}" in modules
                if alias.name in imported and alias.name not in defined and not submodule:
                    found.append(f"{path}:{node.lineno} imports {alias.name} from {node.module}")
    return found


def test_each_name_is_imported_from_the_module_that_defines_it() -> None:
    """No module passes on another's name (store.py once re-exported row_from_show, filters.py
    ReasonCode): one name, one import path, for the package, the tests and the benchmarks."""
    top = ROOT.parent
    readers = [*ROOT.rglob("*.py"), *(top / "tests").rglob("*.py"), *(top / "bench").rglob("*.py")]
    assert borrowed_imports(sources(), [*readers, top / "docs/gen.py"]) == []


def test_the_borrowed_import_check_finds_one(tmp_path: Path) -> None:
    planted = _planted(
        tmp_path,
        {
            "tvmaze_sync.storage.columns": "def row_from_show(): ...\n",
            "tvmaze_sync.storage.store": "from tvmaze_sync.storage.columns import row_from_show\n",
        },
    )
    reader = tmp_path / "test_x.py"
    reader.write_text("from tvmaze_sync.storage.store import row_from_show\n")
    found = borrowed_imports(planted, [reader])
    assert found == [f"{reader}:1 imports row_from_show from tvmaze_sync.storage.store"]
