"""Human trials on the real embedded models: a consultancy of Qwen2.5-Coder-0.5B judged by SmolLM2 (GSM8K) becomes a live
trial in which a person asks the consultant a question, the real consultant answers it through the engine, and the
person's decision comes back as a run folder that `oversight analyze` compares with the model judge."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from oversight.config import make_config
from oversight.experiments.run import run_experiment
from oversight.human.app import create_app
from oversight.human.db import TrialDB
from oversight.human.export import export_trial
from oversight.human.trial import create_trial, invite
from tests.conftest import AGENT, JUDGE
from tests.human.conftest import csrf_of

pytestmark = pytest.mark.slow


def test_a_person_questions_the_real_consultant_and_is_analyzed_beside_the_model_judge(tmp_path, vllm_judge,
                                                                                      vllm_agent):
    config = make_config(protocol="consultancy", task="math", limit=1, rounds=2, max_tokens=48, word_limit=40,
                         judge=JUDGE, consultant=AGENT, out=str(tmp_path / "runs"))
    run = run_experiment(config, models={"judge": vllm_judge, "consultant": vllm_agent}).path
    db = TrialDB(f"sqlite:///{tmp_path / 'trial.db'}")
    create_trial(db, [run], per_judge=1, live=True)
    token, _ = invite(db, "alice")
    calls = []

    def agents(saved_config):
        calls.append(saved_config["consultant"])
        return {"consultant": vllm_agent}

    client = TestClient(create_app(db, agents))
    page = client.get(f"/j/{token}")
    assert 'name="question"' in page.text and "Round 1, Consultant:" in page.text
    position = int(str(page.url).rsplit("/", 1)[1])
    question = "Which step of the program gives the final answer?"
    page = client.post(f"/j/{token}/{position}/ask", data={"question": question, "csrf": csrf_of(page.text)})
    assert f"Round 1, Judge: {question}" in page.text and "Round 2, Consultant:" in page.text
    page = client.post(f"/j/{token}/{position}/decide", data={"percent": "85", "csrf": csrf_of(page.text)},
                       follow_redirects=True)
    assert "Thank you" in page.text and set(calls) == {AGENT}
    [(folder, count)] = export_trial(db, tmp_path / "human")
    assert count == 1
    analyze = subprocess.run([sys.executable, "-m", "oversight.cli", "analyze", str(run), str(tmp_path / "human")],
                             capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"}, cwd=tmp_path)
    assert analyze.returncode == 0, analyze.stderr
    assert "human:alice" in analyze.stdout and JUDGE in analyze.stdout
