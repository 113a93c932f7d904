"""The repository stands alone: its code and docs cite papers and their sections, never files it does not hold,
and every file or name a doc points a reader to exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Research notes kept beside the repository during development; readers of the repository do not have them.
OUTSIDE = re.compile(r"loss-core\.md|loss_vectors\.py|debate-literature\.md|ecosystem\.md|style\.md|shared/research")


def tracked(*suffixes: str) -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / n for n in names.splitlines() if n.endswith(suffixes) and (ROOT / n).is_file()]


def test_no_code_or_doc_cites_a_file_outside_the_repository():
    hits = [f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}"
            for path in tracked(".py", ".md", ".j2", ".yaml", ".ipynb") if path != Path(__file__).resolve()
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
            if OUTSIDE.search(line)]
    assert hits == []


def test_names_the_reliability_doc_points_to_exist():
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    for name in set(re.findall(r"`(tests/[\w/.-]+\.py)`", doc)):
        assert (ROOT / name).is_file(), f"docs/reliability.md names {name}, which does not exist"
    sources = "\n".join(p.read_text(encoding="utf-8") for p in tracked(".py"))
    for constant in set(re.findall(r"`([A-Z][A-Z_]{3,})`", doc)):  # a list or constant the doc says the code keeps
        assert re.search(rf"\b{constant}\b\s*[:=]", sources), f"docs/reliability.md names {constant}, which no code defines"
