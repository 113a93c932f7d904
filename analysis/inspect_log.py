"""One run folder as an Inspect eval log (`oversight export RUN --format inspect`).

Inspect (UK AI Security Institute's evaluation framework) reads transcripts in its own log format; this
module writes a run in it with Inspect's own types and writer, so `inspect view` and `read_eval_log` open it.

The mapping:
- one sample per episode (id: the episode key, e.g. `gsm8k/test/17#original`);
- input: one user message with the question, the source text (when the task has one) and the two answers,
  labelled as the judge saw them; target: the correct answer's label (`1` or `2`);
- messages: the input, then every turn as an assistant message from the model that spoke it, its text as the
  judge saw it (private thinking is in the message's metadata, `raw`), then the judge's decision;
- scores: `correct` (C/I, from the episode's verdict; the verdict's label is the answer) and `p_correct` (the
  judge's probability of the correct answer), with the rest of the decision in their metadata;
- sample metadata: the episode's results row; log metadata: the run id, config.yaml, the model per role and
  the harness version. Inspect's `model` is the judge, the evaluated model; every role's is in `model_roles`.
"""

from __future__ import annotations

import importlib.metadata
import math
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from analysis.load import _read_yaml
from analysis.report import SPEAKERS
from oversight.errors import ConfigError
from oversight.store import CONFIG, TRANSCRIPTS, RunStore
from protocols.base import JUDGE_OPTIONS

FORMATS = {".eval": "eval", ".json": "json"}
"""Inspect's two log formats by file extension: `.eval` (compressed, what `inspect eval` writes) and `.json`."""
INSTALL_HINT = "pip install 'oversight[inspect]'"


def _inspect() -> None:
    """Fail with the fix when inspect_ai (an optional extra) is not installed."""
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        raise ConfigError(f"exporting to Inspect needs the inspect_ai package, which is not installed; "
                          f"run `{INSTALL_HINT}`") from None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _timestamp(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).isoformat()


def check_run_folder(run_folder: Path) -> None:
    """Raise ConfigError unless `run_folder` is one run written by `oversight run`."""
    if not run_folder.is_dir():
        raise ConfigError(f"run folder {run_folder} does not exist; pass a folder written by `oversight run` "
                          "(e.g. runs/debate-math-1a2b3c4d)")
    missing = [name for name in (CONFIG, TRANSCRIPTS) if not (run_folder / name).is_file()]
    if missing:
        raise ConfigError(f"{run_folder} is not a run folder (no {' or '.join(missing)}); pass one folder written "
                          "by `oversight run` (a sweep's or tournament's cell, not their parent)")


def model_of(role: str, models: dict[str, str]) -> str | None:
    """The model spec behind a protocol role (`debater_a` -> its own spec, else the `debater` family's)."""
    return models.get(role) or models.get(role.split("_")[0])


def json_safe(value: Any) -> Any:
    """`value` with NaN (a missing number in a results row) as None: JSON has no NaN, and a log holding it is
    not valid JSON to other readers."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def _label(index: Any) -> str | None:
    return None if index is None or (isinstance(index, float) and math.isnan(index)) else JUDGE_OPTIONS[int(index)]


def question_text(question: dict[str, Any]) -> str:
    """The question as the judge was asked it: question, source text if any, the two labelled answers."""
    parts = [f"Question: {question.get('question', '')}"]
    if question.get("context"):
        parts.append(f"Source text:\n{question['context']}")
    parts += [f"Answer {label}: {answer}" for label, answer in zip(JUDGE_OPTIONS, question.get("answers", []))]
    return "\n\n".join(parts)


def _turn_message(turn: dict[str, Any], models: dict[str, str]) -> Any:
    from inspect_ai.model import ChatMessageAssistant

    meta = dict(turn.get("meta") or {})
    role = str(turn.get("role", ""))
    member = meta.get("member")  # a panel member's reasoning: member 0 plays `judge`, member i `judge_<i+1>`
    model_role = f"judge_{member + 1}" if role == "judge" and member else role
    header = f"{SPEAKERS.get(role, role)}, round {int(turn.get('round', 0)) + 1}:"
    if meta.get("kind") == "reasoning":  # the judge's chain of thought, after the last round: no round of its own
        swapped = " (answer labels swapped)" if meta.get("labels") == "swapped" else ""
        header = f"{SPEAKERS['judge']}{'' if member is None else f' {member + 1}'} reasoning{swapped}:"
    facts = {**meta, "role": role, "round": turn.get("round", 0), "raw": turn.get("raw", "")}
    return ChatMessageAssistant(content=f"{header}\n{turn.get('text', '')}", model=model_of(model_role, models),
                                source="generate", metadata=json_safe(facts))


def _decision_message(decision: dict[str, Any], row: dict[str, Any], judge: str) -> Any:
    """The judge's decision as a message: it is read from the label probabilities, not generated as text."""
    from inspect_ai.model import ChatMessageAssistant

    label = _label(row.get("verdict"))
    probs = ", ".join(f"P(answer {lab}) = {float(p):.3f}" for lab, p in zip(JUDGE_OPTIONS, decision.get("probs", [])))
    verdict = f"answer {label}" if label else "invalid"
    return ChatMessageAssistant(content=f"{SPEAKERS['judge']}, decision: {verdict} ({probs})", model=judge,
                                source="generate", metadata={"role": "judge", "decision": json_safe(decision)})


DECISION_FACTS = ("verdict", "invalid", "p_answer1", "p_answer2", "debiased", "p_correct_raw", "verdict_raw",
                  "correct_raw", "invalid_raw", "p_correct_swapped", "decision_method", "judge_mass")
"""Results columns of the judge's decision that each score carries in its metadata."""


def _scores(row: dict[str, Any]) -> dict[str, Any]:
    from inspect_ai.scorer import CORRECT, INCORRECT, Score

    answer = _label(row.get("verdict"))
    facts = json_safe({key: row[key] for key in DECISION_FACTS if key in row})
    explanation = "invalid verdict: counted incorrect" if row.get("invalid") else None
    return {"correct": Score(value=CORRECT if row.get("correct") else INCORRECT, answer=answer,
                             explanation=explanation, metadata=facts),
            "p_correct": Score(value=float(row["p_correct"]), answer=answer, metadata=facts)}


def _sample(record: dict[str, Any], models: dict[str, str], run_id: str) -> Any:
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ChatMessageUser, ModelOutput

    key, row, transcript = record["key"], record["row"], record.get("transcript") or {}
    question = transcript.get("question") or {}
    judge = row.get("judge") or model_of("judge", models) or ""
    prompt = ChatMessageUser(content=question_text(question), source="input")
    turns = [_turn_message(turn, models) for turn in transcript.get("turns", [])]
    decision = _decision_message(transcript.get("decision") or {}, row, judge)
    extra = {"question_meta": question.get("meta", {}), "images": question.get("images", []),
             "transcript_meta": transcript.get("meta", {})}
    return EvalSample(
        id=key, epoch=1, uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"oversight/{run_id}/{key}")),  # stable re-exports
        input=[prompt], target=JUDGE_OPTIONS[int(question.get("correct_index", row["correct_index"]))],
        messages=[prompt, *turns, decision], scores=_scores(row), metadata=json_safe({**row, **extra}),
        output=ModelOutput.from_content(model=judge, content=_label(row.get("verdict")) or ""))


def _results(samples: list[Any], total: int) -> Any:
    """Accuracy and mean P(correct) over the samples (no score for a run with no finished episode)."""
    from inspect_ai.log import EvalMetric, EvalResults, EvalScore
    from inspect_ai.scorer import CORRECT

    scores = []
    if samples:
        accuracy = sum(s.scores["correct"].value == CORRECT for s in samples) / len(samples)
        p_correct = sum(float(s.scores["p_correct"].value) for s in samples) / len(samples)
        scores = [EvalScore(name="correct", scorer="judge", scored_samples=len(samples),
                            metrics={"accuracy": EvalMetric(name="accuracy", value=accuracy)}),
                  EvalScore(name="p_correct", scorer="judge", scored_samples=len(samples),
                            metrics={"mean": EvalMetric(name="mean", value=p_correct)})]
    return EvalResults(total_samples=total, completed_samples=len(samples), scores=scores)


def to_eval_log(run_folder: str | Path) -> Any:
    """The run in `run_folder` as an `inspect_ai.log.EvalLog` (see the module docstring for the mapping)."""
    _inspect()
    from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalPlan, EvalPlanStep, EvalSpec, EvalStats
    from inspect_ai.model import ModelConfig

    folder = Path(run_folder)
    check_run_folder(folder)
    config = _read_yaml(folder / CONFIG)
    records = list(RunStore(folder).records())
    models = {str(role): str(spec) for role, spec in (config.get("models") or {}).items()}
    run_id = str(config.get("run_id") or folder.name)
    samples = [_sample(record, models, run_id) for record in records]
    judge = (records[0]["row"].get("judge") if records else None) or model_of("judge", models) or "unknown"
    protocol, task = str(config.get("protocol", "")), str(config.get("task", ""))
    total = int(config.get("episodes") or len(samples))
    harness = {"oversight": _version("oversight"), "inspect_ai": _version("inspect_ai")}
    spec = EvalSpec(
        eval_id=run_id, run_id=run_id, task_id=run_id, task=f"{protocol}/{task}", task_display_name=run_id,
        created=_timestamp(folder / CONFIG), solver=protocol,
        dataset=EvalDataset(name=task, samples=len(samples), sample_ids=[s.id for s in samples]),
        model=judge, model_roles={role: ModelConfig(model=model) for role, model in models.items()},
        config=EvalConfig(limit=config.get("limit"), epochs=1),
        packages={name: version for name, version in harness.items() if version},
        metadata={"run_id": run_id, "config": json_safe(config), "models": models,
                  "harness_version": harness["oversight"], "run_folder": str(folder)})
    return EvalLog(
        # A run cut off before its last episode keeps the finished ones; Inspect calls such a log cancelled.
        status="success" if len(samples) >= total else "cancelled",
        eval=spec, plan=EvalPlan(name=protocol, steps=[EvalPlanStep(solver=protocol, params={})]),
        results=_results(samples, total), samples=samples,
        stats=EvalStats(started_at=_timestamp(folder / CONFIG), completed_at=_timestamp(folder / TRANSCRIPTS)))


def default_path(run_folder: str | Path) -> Path:
    """Where `oversight export` writes by default: `RUN/inspect/<run id>.eval`."""
    folder = Path(run_folder)
    run_id = _read_yaml(folder / CONFIG).get("run_id") or folder.name
    return folder / "inspect" / f"{run_id}.eval"


def write_inspect_log(run_folder: str | Path, out_path: str | Path | None = None) -> Path:
    """Write the run as an Inspect log at `out_path` (`.eval` or `.json`; default `default_path`); returns it."""
    folder = Path(run_folder)
    check_run_folder(folder)
    path = Path(out_path) if out_path is not None else default_path(folder)
    if path.suffix not in FORMATS:
        raise ConfigError(f"Inspect log path {path} must end in {' or '.join(FORMATS)} (Inspect's two log formats)")
    _inspect()
    from inspect_ai.log import write_eval_log

    log = to_eval_log(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_eval_log(log, path.resolve(), format=FORMATS[path.suffix])
    return path
