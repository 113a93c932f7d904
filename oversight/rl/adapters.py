"""Adapters to the big RL stacks: the judge as a reward function, rollouts as their datasets.

* `judge_reward_fn(judge, template=...)` -> a TRL `reward_funcs` entry: `fn(prompts, completions, **columns)
  -> list[float]`, the judge's probability of the answer each completion argues. The dataset rows carry the
  question (`question`, `answer_1`, `answer_2`, and `side`, 0 or 1, the answer the policy argues), as the
  TRL rows of `rollouts_to_trl_rows` do; completions may be strings or conversational message lists.
* `make_compute_score(judge)` -> verl's `compute_score(data_source, solution_str, ground_truth, extra_info)`
  returning the same probability for one response; `extra_info` carries the question like the TRL columns.
* `rollouts_to_trl_rows` / `write_trl_jsonl`: rollouts as TRL conversational rows (`prompt`, `completion` message
  lists, plus `reward`, `group` and the question columns); `write_verl_parquet`: verl's RL dataset layout
  (`data_source`, `prompt` messages, `ability`, `reward_model` {style, ground_truth}, `extra_info`).

The judge sees the argument as a one-round consultancy transcript on the policy's side (the consultancy judge
prompt), and its decision is read like every judge decision in the harness: the label probabilities.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from oversight.errors import DataError
from oversight.models.base import Backend
from oversight.registry import lookup
from oversight.rl.rollouts import Rollout
from oversight.types import Question, Turn
from protocols.base import ProtocolOptions, decision_from
from protocols.consultancy import NAMES

QUESTION_KEYS = ("question", "answer_1", "answer_2", "side")
ROW_KEYS = (*QUESTION_KEYS, "question_id", "task", "correct_index")
"""The dataset columns a reward row reads (`_question`)."""


def _question(info: dict[str, Any], where: str) -> tuple[Question, int]:
    missing = [k for k in QUESTION_KEYS if info.get(k) is None]
    if missing:
        raise DataError(f"{where}: missing {', '.join(missing)}; each row needs question, answer_1, answer_2 and side "
                        "(0 or 1: the answer the policy argues), as rollouts_to_trl_rows writes them")
    side = int(info["side"])
    if side not in (0, 1):
        raise DataError(f"{where}: side must be 0 or 1, got {info['side']!r}")
    q = Question(id=str(info.get("question_id", "")), task=str(info.get("task", "rl")), question=str(info["question"]),
                 answers=(str(info["answer_1"]), str(info["answer_2"])), correct_index=int(info.get("correct_index", 0)))
    return q, side


def _text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise DataError(f"a completion must be a string or a list of chat messages, got {type(completion).__name__}")


def judge_probabilities(judge: Backend, items: Sequence[tuple[Question, int, str]]) -> list[float]:
    """P(judge picks the argued answer) for each (question, side, argument), in one batched choice call."""
    protocol = lookup("protocol", "consultancy")(ProtocolOptions(rounds=1))
    requests = [protocol.judge_request("consultancy/judge", q, position=side, names=NAMES, rounds=1,
                                       quotes=False, open=False, transcript=[Turn("consultant", 0, text)])
                for q, side, text in items]
    replies = judge.choice(requests) if requests else []
    out = []
    for (_, side, _), reply in zip(items, replies):
        p = decision_from(reply).probs[side]
        out.append(float(p) if math.isfinite(p) else 0.0)  # NaN (invalid decision) -> 0
    return out


def judge_reward_fn(judge: Backend) -> Callable[..., list[float]]:
    """A TRL `reward_funcs` entry scoring each completion by the judge (module docstring)."""

    def judge_reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
        # TRL also passes non-column keywords (e.g. `trainer_state`): only the question's columns are read
        items = []
        for i, completion in enumerate(completions):
            row = {k: columns[k][i] for k in ROW_KEYS
                   if isinstance(columns.get(k), (list, tuple)) and i < len(columns[k])}
            q, side = _question(row, f"reward row {i}")
            items.append((q, side, _text(completion)))
        return judge_probabilities(judge, items)

    judge_reward.__name__ = "judge_reward"
    return judge_reward


def make_compute_score(judge: Backend) -> Callable[..., float]:
    """verl's `compute_score(data_source, solution_str, ground_truth, extra_info)` for one response."""

    def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None) -> float:
        q, side = _question(extra_info or {}, f"verl sample of {data_source!r}: extra_info")
        return judge_probabilities(judge, [(q, side, solution_str)])[0]

    return compute_score


def _question_columns(r: Rollout) -> dict[str, Any]:
    q = r.meta.get("question") or {}
    return {"question": q.get("question"), "answer_1": (q.get("answers") or [None, None])[0],
            "answer_2": (q.get("answers") or [None, None])[1], "side": r.meta.get("side"),
            "question_id": r.meta.get("question_id"), "correct_index": q.get("correct_index")}


def rollouts_to_trl_rows(rollouts: Sequence[Rollout]) -> list[dict[str, Any]]:
    """TRL conversational rows: `prompt` (messages), `completion` (one assistant message), reward, group, question."""
    return [{"prompt": r.messages, "completion": [{"role": "assistant", "content": r.completion}],
             "reward": r.reward, "group": r.group, **_question_columns(r)} for r in rollouts]


def write_trl_jsonl(rollouts: Sequence[Rollout], path: str | Path) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rollouts_to_trl_rows(rollouts))
    return path


def write_verl_parquet(rollouts: Sequence[Rollout], path: str | Path, data_source: str = "oversight") -> Path:
    """verl's RL dataset layout, one row per rollout (module docstring)."""
    import pandas as pd

    rows = []
    for i, r in enumerate(rollouts):
        extra = {**_question_columns(r), "index": i, "group": r.group, "reward": r.reward, "response": r.completion}
        rows.append({"data_source": data_source, "prompt": r.messages, "ability": "debate",
                     "reward_model": {"style": "model", "ground_truth": str(r.meta.get("side"))},
                     "extra_info": extra})
    path = Path(path)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path
