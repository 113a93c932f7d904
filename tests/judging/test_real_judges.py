"""Panels and cascades on the real embedded models (transformers backend, small sizes)."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from oversight.experiments.cascade import run_cascade
from oversight.config import make_config
from oversight.experiments.deferral import DeferralRule
from oversight.models.choice import encode_prompt
from oversight.models.scripted import ScriptedBackend
from oversight.registry import lookup
from oversight.experiments.rejudge import replay, variant_of
from oversight.experiments.run import run_experiment
from oversight.store import RunStore
from oversight.types import Transcript

pytestmark = pytest.mark.slow
WEAK, STRONG = "hf:embedded:smollm2-135m", "hf:embedded:qwen2.5-coder-0.5b"


def test_panel_members_decide_like_the_single_judges(tmp_path, hf_judge, hf_agent):
    def run(judge, models, **extra):
        config = make_config(protocol="direct", task="math", limit=2, order="both", judge=judge,
                             out=str(tmp_path), **extra)
        return run_experiment(config, models=models).results.set_index("episode").sort_index()

    weak = run(WEAK, {"judge": hf_judge})
    strong = run(STRONG, {"judge": hf_agent})
    panel = run([WEAK, STRONG], {"judge": hf_judge, "judge_2": hf_agent}, panel_aggregate="logmean")
    members = panel["member_p_correct"].map(json.loads)
    assert members.str[0].tolist() == pytest.approx(weak["p_correct"].tolist(), abs=1e-5)
    assert members.str[1].tolist() == pytest.approx(strong["p_correct"].tolist(), abs=1e-5)
    invalid = panel["member_invalid"].map(json.loads)
    assert invalid.str[0].tolist() == weak["invalid"].tolist() and invalid.str[1].tolist() == strong["invalid"].tolist()
    both = ~weak["invalid"] & ~strong["invalid"]  # the normalised geometric mean lies between its members
    lo = weak["p_correct"].combine(strong["p_correct"], min)[both]
    hi = weak["p_correct"].combine(strong["p_correct"], max)[both]
    assert ((panel["p_correct"][both] >= lo - 1e-9) & (panel["p_correct"][both] <= hi + 1e-9)).all()


def test_cascade_from_the_weak_to_the_strong_embedded_judge(tmp_path, hf_judge, hf_agent):
    config = make_config(protocol="debate", task="math", limit=3, rounds=1, order="both", backend="scripted",
                         judge="scripted:first", debater="scripted:echo", out=str(tmp_path))
    echo = ScriptedBackend("echo")
    run = run_experiment(config, models={"judge": echo, "debater": echo}).path
    report = run_cascade(run, [WEAK, STRONG], DeferralRule("confidence", threshold=0.75),
                         models={WEAK: hf_judge, STRONG: hf_agent}, console=Console(quiet=True))
    first = report.stages[0]
    unsure = set(first.index[first[["p_answer1", "p_answer2"]].max(axis=1) < 0.75])
    results = report.results.set_index("episode")
    assert set(results.index[results["stage"] == 1]) == unsure
    assert report.summary["stages"][1]["judged_now"] == len(unsure)
    assert results["p_correct"].notna().all()
    # Prompt tokens are counted with each judge's own tokenizer: exactly the decision prompt's tokens.
    record = next(RunStore(run).records())
    step = next(replay(lookup("protocol", "debate"), config, variant_of(record["key"]),
                       Transcript.from_dict(record["transcript"])))
    for judge, frame in ((hf_judge, first), (hf_agent, report.stages[1])):
        if record["key"] in frame.index:
            expected = sum(len(encode_prompt(judge.tokenizer, request.messages)) for request in step)
            assert frame.loc[record["key"], "judge_prompt_tokens"] == expected
