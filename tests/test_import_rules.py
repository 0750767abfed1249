"""Boundaries: the daemon never imports Textual or the console; the console speaks gRPC only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(folder: str, package: str) -> list[str]:
    base = ROOT / folder
    out = []
    for f in sorted(base.rglob("*.py")):
        rel = f.relative_to(base).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if parts and parts[-1] == "__main__":
            continue
        out.append(".".join([package, *parts]))
    return out


def _imported_modules(path: Path) -> set[str]:
    """Modules ``path`` imports, ``from package import module`` included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_importing_every_daemon_module_never_loads_textual_or_the_console() -> None:
    mods = _modules("daemon", "observer.daemon")
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] == 'textual' "
        "or k.startswith('observer.console'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_daemon_sources_do_not_import_the_console_or_textual() -> None:
    for f in (ROOT / "daemon").rglob("*.py"):
        for name in _imported_modules(f):
            assert not name.startswith(("textual", "observer.console")), f"{f}: imports {name}"


def test_console_sources_import_no_daemon_internals() -> None:
    for f in (ROOT / "console").rglob("*.py"):
        for name in _imported_modules(f):
            assert not name.startswith("observer.daemon"), f"{f}: imports {name}; use observer.v1"


def _daemon_graph() -> dict[str, set[str]]:
    """observer.daemon module -> the observer.daemon modules it imports (anywhere in it)."""
    mods = set(_modules("daemon", "observer.daemon"))
    graph: dict[str, set[str]] = {}
    for f in (ROOT / "daemon").rglob("*.py"):
        rel = f.relative_to(ROOT / "daemon").with_suffix("")
        name = ".".join(["observer.daemon", *[p for p in rel.parts if p != "__init__"]])
        deps = set()
        for imported in _imported_modules(f):
            while imported and imported not in mods:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported != "observer.daemon":
                deps.add(imported)
        graph[name] = deps
    return graph


def test_the_daemon_s_modules_import_each_other_without_cycles() -> None:
    graph = _daemon_graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycle = [*path[path.index(d) :], d]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_kis_client_does_not_reach_into_ingest() -> None:
    for f in (ROOT / "daemon" / "kis").rglob("*.py"):
        for name in _imported_modules(f):
            assert not name.startswith("observer.daemon.ingest"), f"{f}: imports {name}"
