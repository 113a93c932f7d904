"""Run folders for the analysis tests, made once per session with the scripted backend (instant)."""

from __future__ import annotations

from pathlib import Path

import pytest

from oversight.config import make_config
from oversight.experiments.run import run_experiment

SCRIPTED = {"task": "math", "limit": 6, "rounds": 1, "order": "both", "backend": "scripted",
            "debater": "scripted:echo"}


@pytest.fixture(scope="session")
def scripted_runs(tmp_path_factory) -> Path:
    """A folder holding a debate, a consultancy and a direct-QA run on the same 6 GSM8K questions."""
    out = tmp_path_factory.mktemp("runs")
    for protocol, judge in (("debate", "scripted:echo"), ("consultancy", "scripted:echo"), ("direct", "scripted:first")):
        run_experiment(make_config(protocol=protocol, judge=judge, out=str(out), **SCRIPTED))
    return out
