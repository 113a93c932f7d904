"""Sweep files for the sweep tests, written into the test's temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

SCRIPTED = {"judge": "scripted:first", "debater": "scripted:echo", "backend": "scripted"}


@pytest.fixture
def write_sweep(tmp_path: Path):
    """write_sweep(sweep=..., base=..., **top) -> path of a sweep file whose runs go under tmp_path/runs."""

    def write(sweep, base=None, name: str = "grid", **top) -> Path:
        data = {"name": name, "out": str(tmp_path / "runs"), "base": {"task": "math", "limit": 2, "rounds": 1,
                                                                       **SCRIPTED, **(base or {})},
                "sweep": sweep, **top}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write
