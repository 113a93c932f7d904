"""Human-trial fixtures: finished scripted runs on QuALITY (debate, consultancy, QA without the article), made once
per session, and a fresh trial database per test over them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("fastapi")

SCRIPTED = {"judge": "scripted:first", "debater": "scripted:echo", "consultant": "scripted:echo",
            "backend": "scripted", "task": "quality", "rounds": 2}
PROTOCOLS = ("debate", "consultancy", "direct")


@pytest.fixture(scope="session")
def scripted_runs(tmp_path_factory) -> dict[str, Path]:
    """protocol -> a finished scripted run folder on 6 QuALITY questions (consultancy: 12 episodes)."""
    import oversight

    out = tmp_path_factory.mktemp("human-runs")
    return {protocol: oversight.run(protocol, limit=6, out=str(out), quiet=True, **SCRIPTED).path
            for protocol in PROTOCOLS}


@pytest.fixture
def trial(tmp_path, scripted_runs):
    """A trial over every scripted run, 3 items per judge, no story repeated: (TrialDB, admin token, url)."""
    from oversight.human.db import TrialDB
    from oversight.human.trial import create_trial

    url = f"sqlite:///{tmp_path / 'trial.db'}"
    db = TrialDB(url)
    _, admin = create_trial(db, list(scripted_runs.values()), per_judge=3, unique="question")
    yield db, admin, url
    db.close()


CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    """The form token of a page."""
    match = CSRF.search(html)
    assert match, "the page has no form"
    return match.group(1)
