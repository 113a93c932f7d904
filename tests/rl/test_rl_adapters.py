"""TRL / verl adapters: the judge reward in both call forms, and rollouts exported as their datasets."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_rl_rollouts import Tok, play

from oversight.errors import DataError
from oversight.models.scripted import ScriptedBackend
from oversight.rl.adapters import judge_reward_fn, make_compute_score, write_trl_jsonl, write_verl_parquet
from oversight.rl.rollouts import build_rollouts


def test_trl_reward_and_verl_score_agree_with_the_judge() -> None:
    judge = ScriptedBackend("first")  # P(first label) = 0.9 whatever the argument
    reward = judge_reward_fn(judge)
    rows = {"question": ["2+2?", "2+2?"], "answer_1": ["4", "4"], "answer_2": ["5", "5"], "side": [0, 1]}
    got = reward(prompts=["p", "p"], completions=["It is 4.", [{"role": "assistant", "content": "It is 5."}]], **rows)
    assert got == pytest.approx([0.9, 0.1])
    assert len(judge.calls) == 1 and judge.calls[0].size == 2  # one batched judge call
    # TRL passes keywords that are no dataset column (`trainer_state`, `log_extra`): they are left alone
    again = reward(prompts=["p", "p"], completions=["It is 4.", "It is 5."], trainer_state=object(), **rows)
    assert again == pytest.approx([0.9, 0.1])
    score = make_compute_score(ScriptedBackend("second"))
    info = {"question": "2+2?", "answer_1": "4", "answer_2": "5", "side": 1}
    assert score("oversight", "It is 5.", "1", info) == pytest.approx(0.9)
    with pytest.raises(DataError, match="missing answer_2, side"):
        score("oversight", "It is 5.", "1", {"question": "q", "answer_1": "a"})


def test_exports_round_trip_into_the_reward(tmp_path) -> None:
    protocol, transcripts = play("debate", ScriptedBackend("echo"), ScriptedBackend("echo"), rounds=1)
    rollouts = build_rollouts(transcripts, protocol, Tok())
    rows = [json.loads(line) for line in write_trl_jsonl(rollouts, tmp_path / "trl.jsonl").read_text().splitlines()]
    assert len(rows) == len(rollouts)
    assert rows[0]["prompt"] == rollouts[0].messages and rows[0]["completion"][0]["role"] == "assistant"
    # the exported columns are exactly what the reward function reads
    columns = {k: [r[k] for r in rows] for k in ("question", "answer_1", "answer_2", "side")}
    rewards = judge_reward_fn(ScriptedBackend("first"))([r["prompt"] for r in rows], [r["completion"] for r in rows],
                                                        **columns)
    assert rewards == pytest.approx([0.9 if r.meta["side"] == 0 else 0.1 for r in rollouts])
    frame = pd.read_parquet(write_verl_parquet(rollouts, tmp_path / "verl.parquet"))
    assert list(frame.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    first = frame.iloc[0]
    assert first["extra_info"]["side"] == rollouts[0].meta["side"] and first["reward_model"]["style"] == "model"
    assert list(first["prompt"][0].keys()) == ["role", "content"]
