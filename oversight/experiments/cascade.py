"""Judge cascades over a saved run: a cheap judge decides every episode, a stronger one only the deferred.

    oversight cascade RUN --judge hf:embedded:smollm2-135m --judge hf:embedded:qwen2.5-coder-0.5b \\
        --rule confidence --threshold 0.8

Deferral reuses the saved transcripts: every stage is a re-judging (`oversight.experiments.rejudge`), so no agent
is called, and each judge's decisions land in its judged set `RUN/judged/<judge>/`, which also makes
a cascade resumable and a rerun free. Stage k+1 is asked only about the episodes the rule defers at
stage k (its model calls are counted in the summary). Rules are in `oversight.experiments.deferral`; a learned
rule (or a `budget`) is fitted on a calibration split of the questions, and accuracy is reported on
the test split too, the only one the rule's fit never saw.

Output: `RUN/cascades/<name>/cascade.parquet` (one row per episode: the deciding judge's row plus
`stage`, `stage_judge`, `split`, `p_correct_<k>` of every stage that judged it and the summed
`cascade_prompt_tokens`) and `cascade.json` (the rule as fitted, and per stage: the episodes the
cascade sent to that judge and their prompt tokens, and `judged_now`, the episodes this command newly
judged (the rest came from the judged set); accuracy overall and on the test split).
`all_stages=True` also judges every episode with every judge, which the cost-accuracy curves need
(`analysis.cascade`), and always makes a calibration split, on which the curves' learned rule is fitted.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from oversight.experiments.deferral import DeferralRule, calibration_questions, features
from oversight.errors import ConfigError, DataError
from oversight.models.base import Backend
from oversight.experiments.rejudge import rejudge
from oversight.store import RunStore, atomic_write

CASCADES = "cascades"


@dataclass
class CascadeReport:
    path: Path
    results: pd.DataFrame
    summary: dict[str, Any]
    stages: list[pd.DataFrame]
    """Each judge's decisions as judged (indexed by episode): every episode with `all_stages`, else those it saw."""
    features: pd.DataFrame
    """Stage 0's deferral features of every episode."""


def cascade_name(judges: Sequence[str], rule: DeferralRule) -> str:
    setting = f"t{rule.threshold:g}" if rule.threshold is not None else f"b{rule.budget:g}"
    name = "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", j).strip("-") for j in judges)
    return f"{rule.kind}-{setting}-{name}"


def run_cascade(run: str | Path, judges: Sequence[str], rule: DeferralRule, *, calibration: float = 0.3,
                seed: int = 0, all_stages: bool = False, name: str | None = None, backend: str | None = None,
                console: Console | None = None, models: Mapping[str, Backend] | None = None) -> CascadeReport:
    """Cascade `judges` (cheapest first) over the saved episodes of `run` (see the module docstring).

    `models` maps a judge spec (as given in `judges`) to an already-loaded backend.
    """
    console = console or Console(stderr=True)
    folder = Path(run)
    if len(judges) < 2:
        raise ConfigError("a cascade needs at least two judges, cheapest first (--judge CHEAP --judge STRONG)")
    if not 0 < calibration < 1:
        raise ConfigError(f"--calibration is the fraction of questions to fit the rule on, in (0, 1); got {calibration}")
    transcripts = {r["key"]: r["transcript"] for r in RunStore(folder).records()}
    if not transcripts:
        raise DataError(f"{folder} holds no finished episodes to judge; run it first")
    models = dict(models or {})

    def judged(stage: int, keys: Sequence[str] | None) -> tuple[pd.DataFrame, int]:
        judge = judges[stage]
        given = {"judge": models[judge]} if judge in models else None
        if keys is not None and not keys:
            return pd.DataFrame(), 0
        report = rejudge(folder, judge, backend=backend, console=console, models=given, keys=keys)
        frame = report.results.set_index("episode", drop=False)
        return (frame if keys is None else frame.loc[list(keys)]), report.episodes_run

    first, calls = judged(0, None)
    everything = list(first.index)
    calibrated = rule.needs_calibration or all_stages  # the curves' learned rule is fitted on it too
    cal_questions = calibration_questions(first["question_id"], calibration, seed) if calibrated else set()
    split = pd.Series(np.where(first["question_id"].astype(str).isin(cal_questions), "calibration", "test"),
                      index=first.index)
    stage_frames = [first]
    feats0 = features(first.reset_index(drop=True), transcripts)
    decider = pd.Series(0, index=first.index)
    tokens = first["judge_prompt_tokens"].astype(float).copy()
    stages = [{"judge": judges[0], "episodes": len(first), "judged_now": calls,
               "prompt_tokens": int(first["judge_prompt_tokens"].sum())}]
    rules = []
    current, undecided = first, everything
    for k in range(1, len(judges)):
        feats = (feats0 if k == 1 else features(current.reset_index(drop=True), transcripts)).loc[undecided]
        cal_keys = [key for key in undecided if split[key] == "calibration"]
        fitted = copy.deepcopy(rule)
        target, cal_calls = None, 0
        if rule.kind == "learned":
            wrong = ~current.loc[cal_keys, "correct"].astype(bool).to_numpy()
            if rule.target == "gain":
                nxt_cal, cal_calls = judged(k, cal_keys)
                target = wrong & nxt_cal.loc[cal_keys, "correct"].astype(bool).to_numpy()
            else:
                target = wrong
        if rule.needs_calibration:
            fitted.fit(feats.loc[cal_keys], target)
        defer = fitted.defer(feats)
        deferred = [key for key, d in zip(undecided, defer) if d]
        # What the cascade itself needs from this judge; --curve (all_stages) asks it about everything.
        needed = sorted(set(deferred) | (set(cal_keys) if rule.kind == "learned" and rule.target == "gain" else set()))
        nxt, calls = judged(k, everything if all_stages else needed)
        stage_frames.append(nxt)
        decider[deferred] = k
        spent = nxt.loc[needed, "judge_prompt_tokens"].astype(float) if needed else pd.Series(dtype=float)
        tokens.loc[spent.index] += spent
        rules.append({**fitted.describe(), "deferred": len(deferred), "of": len(undecided),
                      "calibration_episodes": len(cal_keys)})
        stages.append({"judge": judges[k], "episodes": len(needed), "judged_now": calls + cal_calls,
                       "prompt_tokens": int(spent.sum())})
        current, undecided = nxt, deferred
    final = pd.concat([frame.loc[decider.index[decider == k]] for k, frame in enumerate(stage_frames)
                       if (decider == k).any()]).reindex(first.index)
    final["stage"] = decider
    final["stage_judge"] = [judges[int(s)] for s in decider]
    for k, frame in enumerate(stage_frames):
        final[f"p_correct_{k}"] = frame["p_correct"].reindex(final.index) if len(frame) else np.nan
    final["split"] = split
    final["cascade_prompt_tokens"] = tokens
    final = final.reset_index(drop=True)
    summary = _summary(final, judges, stages, rules, calibration if calibrated else None, seed)
    path = folder / CASCADES / (name or cascade_name(judges, rule))
    path.mkdir(parents=True, exist_ok=True)
    atomic_write(path / "cascade.parquet", lambda tmp: final.to_parquet(tmp, index=False))
    atomic_write(path / "cascade.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))
    return CascadeReport(path, final, summary, stage_frames, feats0)


def _accuracy(frame: pd.DataFrame) -> float | None:
    return float(frame["correct"].astype(bool).mean()) if len(frame) else None


def _summary(final: pd.DataFrame, judges: Sequence[str], stages: list[dict], rules: list[dict],
             calibration: float | None, seed: int) -> dict[str, Any]:
    test = final[final["split"] == "test"]
    return {
        "judges": list(judges), "episodes": len(final), "calibration_fraction": calibration, "seed": seed,
        "accuracy": _accuracy(final), "accuracy_test": _accuracy(test), "test_episodes": len(test),
        "deferred_fraction": float((final["stage"] > 0).mean()),
        "decided_by": {judge: int((final["stage"] == k).sum()) for k, judge in enumerate(judges)},
        "prompt_tokens": int(final["cascade_prompt_tokens"].sum()),
        "stages": stages, "rules": rules,
    }
