"""The house keeps its floors: the ground imports nothing above it, tasks never import a backend, and the CLI
stays thin. Imports are read from the source (every `import`/`from` statement, lazy ones inside functions
included), so a new upward import fails here before it tangles the layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GROUND = sorted(p for p in (ROOT / "oversight").glob("*.py"))
ABOVE_THE_GROUND = ("protocols", "tasks", "analysis", "oversight.experiments", "oversight.cli", "oversight.rl")


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def reaches(names: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names for p in packages if n == p or n.startswith(p + "."))


@pytest.mark.parametrize("path", GROUND, ids=lambda p: p.name)
def test_the_ground_imports_nothing_above_it(path):
    assert reaches(imported(path), ABOVE_THE_GROUND) == []


def test_the_ground_is_the_named_modules():
    assert {p.stem for p in GROUND} == {"__init__", "types", "errors", "registry", "config", "specs", "engine",
                                         "store", "cache", "prompts"}


@pytest.mark.parametrize("path", sorted((ROOT / "tasks").glob("*.py")), ids=lambda p: p.name)
def test_tasks_never_import_a_backend(path):
    assert reaches(imported(path), ("oversight.models", "oversight.experiments", "oversight.cli")) == []


@pytest.mark.parametrize("path", sorted((ROOT / "oversight" / "cli").glob("*.py")), ids=lambda p: p.name)
def test_cli_modules_are_short(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 300


def test_the_layout_check_sees_lazy_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from protocols.base import Protocol\n    import analysis.metrics\n")
    assert reaches(imported(source), ABOVE_THE_GROUND) == ["analysis.metrics", "protocols.base",
                                                           "protocols.base.Protocol"]
