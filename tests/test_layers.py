"""The package's architecture, held by a test: every module sits in a layer by its folder, and
an import (lazy ones inside functions included) may only run down. The pure stages import
only ``core/`` (and each other) and do no I/O.

    core  <  platforms | ui | compare  <  config | options  <  state  <  pipeline  <  history  <  meta
          <  session  <  sync | reset | mirror  <  api  <  cli

Rooms on one level (``platforms``, ``ui`` and ``compare``; ``sync``, ``reset`` and ``mirror``) are
siblings: neither imports the other. ``__init__`` (the lazy facade) and ``__main__`` stand
outside the order.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "s3sync_mirror"
LAYER = {"core": 0, "platforms": 1, "ui": 1, "compare": 1, "config": 2, "options": 2, "state": 3,
         "pipeline": 4, "history": 5, "meta": 6, "session": 7, "sync": 8, "reset": 8,
         "mirror": 8, "api": 9, "cli": 10}
OUTSIDE = {"__init__", "__main__"}
PURE = {"pipeline.plan", "pipeline.confirm", "pipeline.schedule", "pipeline.moves",
        "state.merges"}
IMPURE_STDLIB = {"os", "time", "io", "shutil", "subprocess", "socket", "pathlib", "tempfile",
                 "threading", "sys", "glob", "fcntl", "signal", "random", "uuid"}
TOP_FILES = {"sync", "session", "config", "options", "mirror", "reset", "__init__", "__main__"}


def modules(root: Path = PKG) -> dict:
    """Dotted name (below the package) -> file, for every module of the package."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def room(module: str) -> str:
    return module.split(".")[0]


def imports(module: str, path: Path, known: dict):
    """Every (line, target module, text) a module imports from the package, lazy ones too."""
    is_pkg = path.name == "__init__.py"
    here = module.split(".") if module != "__init__" else []
    package = here if is_pkg else here[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1] if node.level > 1 else package
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "s3sync_mirror":
                target = node.module.partition(".")[2]
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                name = sub if sub in known else target
                yield node.lineno, name or "__init__", ast.unparse(node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "s3sync_mirror":
                    yield node.lineno, alias.name.partition(".")[2] or "__init__", \
                        ast.unparse(node)


def stdlib_imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.lineno, node.module.split(".")[0]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "open":
            yield node.lineno, "open()"


def violations(root: Path = PKG) -> list:
    known = modules(root)
    found = []
    for module, path in known.items():
        where = path.relative_to(root.parent)
        mine = room(module)
        if mine in OUTSIDE:
            continue
        for line, target, text in imports(module, path, known):
            theirs = room(target)
            if theirs == mine or theirs in OUTSIDE and mine in OUTSIDE:
                continue
            if theirs in OUTSIDE:
                found.append(f"{where}:{line}: {text}  (imports the package facade)")
            elif LAYER[theirs] > LAYER[mine]:
                found.append(f"{where}:{line}: {text}  ({mine} -> {theirs} runs up)")
            elif LAYER[theirs] == LAYER[mine]:
                found.append(f"{where}:{line}: {text}  ({mine} -> {theirs} runs sideways)")
        if module in PURE:
            for line, target, text in imports(module, path, known):
                if room(target) != "core" and target not in PURE:
                    found.append(f"{where}:{line}: {text}  (a pure stage imports {target})")
            for line, name in stdlib_imports(path):
                if name in IMPURE_STDLIB or name == "open()":
                    found.append(f"{where}:{line}: {name}  (a pure stage does I/O or reads "
                                 f"the time)")
    return found


def cycles(root: Path = PKG) -> list:
    known = modules(root)
    graph = {m: {t for _, t, _ in imports(m, p, known) if t != m and t in known}
             for m, p in known.items() if m not in OUTSIDE}
    seen, stack, out = set(), [], []

    def visit(m, path):
        if m in path:
            out.append(" -> ".join(path[path.index(m):] + [m]))
            return
        if m in seen:
            return
        path.append(m)
        for t in sorted(graph.get(m, ())):
            visit(t, path)
        path.pop()
        seen.add(m)

    for m in sorted(graph):
        visit(m, stack)
    return out


def test_every_import_runs_down():
    assert violations() == []


def test_no_import_circle_lazy_imports_included():
    assert cycles() == []


def test_every_room_is_known_and_small():
    known = modules()
    top = sorted(m for m in known if "." not in m and not (PKG / m).is_dir())
    assert top == sorted(TOP_FILES)
    assert {room(m) for m in known} - OUTSIDE <= set(LAYER)
    for folder in [p for p in PKG.rglob("*") if p.is_dir() and p.name != "__pycache__"]:
        own = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        assert len(own) <= 16, f"{folder.relative_to(PKG)} has {len(own)} modules"


@pytest.mark.parametrize("module, line, expect", [
    ("core/paths.py", "from ..ui import report", "core -> ui runs up"),
    ("ui/summary.py", "from ..platforms import base", "ui -> platforms runs sideways"),
    ("platforms/s3/errors.py", "from ...config import LEGACY_NAME", "platforms -> config runs up"),
    ("pipeline/plan.py", "from ..state import csvfiles", "a pure stage imports state.csvfiles"),
    ("pipeline/schedule.py", "import time", "a pure stage does I/O"),
    ("history/tags.py", "    from ..meta import shared", "history -> meta runs up"),
])
def test_the_rule_catches_an_upward_import(tmp_path, module, line, expect):
    """The test above can fail: copy the package, add one bad import (a lazy one inside a
    function too), and the checker names its file, line and import."""
    import shutil

    copy = tmp_path / "s3sync_mirror"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    text = target.read_text()
    if line.startswith(" "):
        text += f"\n\ndef _added():\n{line}\n"
    else:
        text += f"\n{line}\n"
    target.write_text(text)
    found = violations(copy)
    assert len(found) == 1 and expect in found[0], found
    assert found[0].startswith(f"s3sync_mirror/{module}:")
