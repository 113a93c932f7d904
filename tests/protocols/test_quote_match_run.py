"""`--quote-match` from the command line to the verifier, the run folder and the per-speaker quote table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from oversight.config import RunConfig, make_config
from oversight.errors import ConfigError
from oversight.experiments.run import protocol_options, run_experiment
from oversight.types import Reply
from tests.helpers import Recorder, prompt

ARTICLE = ("The expedition reached the northern glacier after nineteen days of hard walking through the pass. "
           "Doctor Ilse Brandt insisted that the samples be kept frozen until they reached the coast. She had not "
           "expected the radio to fail on the third night, and the team lost contact with the ship for 36 hours.")
FROZEN = "Doctor Ilse Brandt insisted that the samples be kept frozen until they reached the coast"
TYPO = FROZEN.replace("frozen", "forzen")
PARAPHRASE = "Brandt wanted the samples to stay frozen until the team got back to the coast"


def quality_file(folder: Path) -> Path:
    """One QuALITY question in the official format (the file name tells the loader which format)."""
    line = {"article": ARTICLE, "title": "The Glacier", "questions": [
        {"question": "Why did the team lose contact?", "options": ["the radio failed", "a storm", "a fire", "a fall"],
         "gold_label": 1, "validation": [{"untimed_best_distractor": 2}], "difficult": 1}]}
    path = folder / "QuALITY.v1.0.1.htmlstripped.dev"
    path.write_text(json.dumps(line) + "\n")
    return path


class Quoter(Recorder):
    """Debater A quotes the article with a typo, debater B quotes a paraphrase."""

    def generate(self, requests):
        self.seen += requests
        return [Reply(text=f"<argument>See <quote>{TYPO if r.role == 'debater_a' else PARAPHRASE}</quote> and "
                           "<quote>the team lost contact</quote>.</argument>") for r in requests]


def test_quote_match_is_part_of_the_run_id_only_when_fuzzy() -> None:
    base = dict(protocol="debate", task="quality", backend="scripted", judge="scripted:first", debater="scripted:echo")
    strict = make_config(**base)
    assert strict.quote_match == "strict" and "quote_match" not in strict.identity()
    assert make_config(**base, quote_match="strict").run_id == strict.run_id
    assert make_config(**base, quote_match="fuzzy").run_id != strict.run_id
    assert protocol_options(make_config(**base, quote_match="fuzzy")).quote_match == "fuzzy"
    with pytest.raises(ConfigError, match="--quote-match"):
        make_config(**base, quote_match="loose")


def test_quote_match_is_an_agent_setting_of_sweeps() -> None:
    from oversight.experiments.sweep import AGENT_ONLY

    assert "quote_match" in AGENT_ONLY


def test_fuzzy_quote_match_reaches_the_verifier_from_the_command_line(tmp_path: Path) -> None:
    data = quality_file(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "oversight.cli", "run", "debate", "--task", "quality", "--data", str(data),
         "--limit", "1", "--rounds", "1", "--order", "fixed", "--quote-match", "fuzzy", "--out", str(tmp_path / "cli"),
         "--judge", "scripted:first", "--debater", "scripted:echo"],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr
    [run] = list((tmp_path / "cli").iterdir())
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["quote_match"] == "fuzzy"

    # The saved settings, played again with agents that quote: the fuzzy verifier checked their quotes.
    values = {key: value for key, value in saved.items() if key in RunConfig.model_fields}
    config = make_config(**{**values, "out": str(tmp_path / "quoted"), "name": None})
    judge = Recorder()
    report = run_experiment(config, models={"debater": Quoter(), "judge": judge})
    [record] = [json.loads(line) for line in (report.path / "transcripts.jsonl").read_text().splitlines()]
    turns = {turn["role"]: turn for turn in record["transcript"]["turns"]}
    exact = "<v_quote>the team lost contact</v_quote>"
    assert turns["debater_a"]["text"] == f"See <v_quote>{FROZEN}</v_quote> and {exact}."
    assert turns["debater_b"]["text"].startswith(f"See <u_quote>{PARAPHRASE}</u_quote>")
    a, b = turns["debater_a"]["meta"], turns["debater_b"]["meta"]
    assert (a["quotes"], a["verified_quotes"], b["quotes"], b["verified_quotes"]) == (2, 2, 2, 1)
    assert 90 <= a["quote_scores"][0] < 100 and a["quote_scores"][1] == 100 and b["quote_scores"][0] < 90
    assert record["row"]["quotes"] == 4 and record["row"]["verified_quotes"] == 3
    shown = "\n".join(prompt(request) for request in judge.seen)
    assert FROZEN in shown and TYPO not in shown  # the judge reads the article's words, never the typo

    from analysis.load import load_runs
    from analysis.quotes import quote_rates

    rates = quote_rates(load_runs(tmp_path / "quoted")).set_index("role")
    assert rates.loc["debater_a", ["quotes", "verified", "fuzzy_verified"]].tolist() == [2, 2, 1]
    assert rates.loc["debater_b", ["quotes", "verified", "fuzzy_verified"]].tolist() == [2, 1, 0]
    assert rates.loc["debater_b", "rate"] == 0.5 and set(rates["quote_match"]) == {"fuzzy"}
    analyzed = subprocess.run([sys.executable, "-m", "oversight.cli", "analyze", str(tmp_path / "quoted"),
                               "--no-plots", "--n-boot", "100"], capture_output=True, text=True, timeout=300)
    assert analyzed.returncode == 0, analyzed.stderr
    assert "Verified quotes per speaker" in analyzed.stdout and "debater_a" in analyzed.stdout
    assert (tmp_path / "quoted" / "analysis" / "quotes.csv").is_file()


def test_runs_without_checked_quotes_have_no_quote_table(tmp_path: Path) -> None:
    from analysis.load import load_runs
    from analysis.quotes import COLUMNS, quote_rates

    run_experiment(make_config(protocol="debate", task="math", limit=2, rounds=1, backend="scripted",
                               judge="scripted:first", debater="scripted:echo", out=str(tmp_path)))
    rates = quote_rates(load_runs(tmp_path))
    assert rates.empty and tuple(rates.columns) == COLUMNS
