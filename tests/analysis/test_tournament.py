"""Cross-play tournaments: every ordered pairing, both orders, the ladder in the right order, resumable."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
import yaml

from analysis.elo import ladder
from analysis.load import load_runs
from oversight.errors import ConfigError
from oversight.models.base import Backend
from oversight.experiments.tournament import Entrant, pairings, parse_entrants, run_tournament
from oversight.types import Reply, Request


class Arguer(Backend):
    """A debater whose every argument states its strength."""

    name = "arguer"

    def __init__(self, strength: int) -> None:
        super().__init__(f"strength-{strength}")
        self.strength = strength

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        return [Reply(text=f"<argument>strength {self.strength}</argument>") for _ in requests]

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        raise AssertionError("debaters are never asked to judge")


class StrengthJudge(Backend):
    """Always sides with the stronger argument, P = 0.9, on whichever answer label the prompt gives Alice (the
    judge is asked with the labels in both orders)."""

    name = "strength-judge"

    def __init__(self) -> None:
        super().__init__("strength-judge")

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        raise AssertionError("the judge only decides")

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        replies = []
        for request in requests:
            text = "\n".join(m.content for m in request.messages)
            alice, bob = (int(re.search(rf"{name}: strength (\d+)", text).group(1)) for name in ("Alice", "Bob"))
            p = 0.5 if alice == bob else (0.9 if alice > bob else 0.1)
            p = p + 0.01 if p == 0.5 else p  # break ties toward Alice, never invalid
            alice_label = int(re.search(r"Alice argues for Answer (\d)", text).group(1))
            p1 = p if alice_label == 1 else 1 - p
            replies.append(Reply(option_probs=(p1, 1 - p1), option_mass=1.0))
        return replies


def test_entrants_are_named_and_checked():
    assert parse_entrants(["big=hf:b", "scripted:echo"]) == [Entrant("big", "hf:b"), Entrant("scripted:echo",
                                                                                               "scripted:echo")]
    with pytest.raises(ConfigError, match="at least two"):
        parse_entrants(["hf:a"])
    with pytest.raises(ConfigError, match="unique"):
        parse_entrants(["x=hf:a", "x=hf:b"])
    assert len(pairings(parse_entrants(["a=s:1", "b=s:2", "c=s:3"]))) == 9
    assert len(pairings(parse_entrants(["a=s:1", "b=s:2", "c=s:3"]), self_play=False)) == 6


def test_tournament_ranks_debaters_by_strength_and_resumes(tmp_path):
    models = {"scripted:correct": StrengthJudge(), "scripted:first": Arguer(1), "scripted:echo": Arguer(3)}
    entrants = [Entrant("weak", "scripted:first"), Entrant("strong", "scripted:echo")]
    options = {"task": "math", "limit": 4, "judge": "scripted:correct", "backend": "scripted"}
    report = run_tournament(entrants, name="t", out=str(tmp_path), models=models, **options)
    assert report.episodes_run == 4 * 4 * 2  # 4 ordered pairings (2 of them self-play) x 4 questions x 2 orders
    plan = yaml.safe_load((tmp_path / "t" / "tournament.yaml").read_text())
    assert [(p["debater_a"], p["debater_b"]) for p in plan["pairings"]] == [
        ("weak", "weak"), ("weak", "strong"), ("strong", "weak"), ("strong", "strong")]
    results = load_runs(report.path)
    assert set(results["agents"]) == {"weak", "strong", "weak vs strong", "strong vs weak"}
    table = ladder(results, n_boot=50)
    assert list(table["player"]) == ["strong", "weak"] and (table["games"] == 16).all()
    # Strong won all 16 games: far apart, yet finite thanks to the weak prior.
    assert 400 < table["elo"].iloc[0] - table["elo"].iloc[1] < 3000
    # Strength decides, not correctness: no correct-answer advantage; self-play ties go to Alice (position 1).
    assert table["correct_advantage"].abs().max() < 50
    assert (table["self_play_accuracy"] == 0.5).all()
    again = run_tournament(entrants, name="t", out=str(tmp_path), models=models, **options)
    assert again.episodes_run == 0
