"""The training loop of `oversight train CONFIG`: generate -> judge -> rollouts -> update, N iterations.

The task's questions are sampled once (`seed`) and split into `train_questions` and disjoint
`heldout_questions`, each played in both answer orders. The policy is loaded with the transformers
backend and trained in place, so every iteration generates with the current weights:

1. generate and judge: the protocol's episodes on the training questions, `samples` copies of each, at
   `temperature`, through the engine (one batched call per model per step); the policy is debater A
   against a frozen opponent as debater B (debate) or the consultant (consultancy), the fixed judge decides;
   the transcripts are written to `<out>/<name>/iter-NNN.jsonl` (the run store's line format);
2. rollouts: `build_rollouts` with the sampled token ids and behaviour log-probs recorded during generation;
3. update: one `PolicyTrainer.step` with the preset.

Before the first and after the last iteration (and every `eval_every`), the held-out questions are played
greedily and the mean reward of the policy's side is recorded (`metrics.jsonl`: one line per iteration and per
evaluation). The final weights go to `<out>/<name>/checkpoint`, a model folder a later run loads as `hf:<path>`.
"""

from __future__ import annotations

import dataclasses

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from oversight.engine import Engine
from oversight.errors import ConfigError
from oversight.models import load_backend
from oversight.specs import parse_model_spec
from oversight.models.base import Backend
from oversight.registry import lookup
from oversight.rl.config import TrainConfig
from oversight.rl.rollouts import GenerationLog, RecordingBackend, build_rollouts, episode_reward
from oversight.rl.trainer import LoraSettings, PolicyTrainer
from oversight.experiments.run import episode_key
from oversight.types import Question, Transcript
from protocols.base import Protocol, ProtocolOptions
from tasks.base import load_questions
from tasks.framing import apply_order


@dataclass
class TrainReport:
    folder: Path
    before: float
    """Held-out mean reward of the policy's side before training."""
    after: float
    curve: list[dict[str, Any]] = field(default_factory=list)
    """metrics.jsonl's records."""
    checkpoint: Path | None = None


def split_questions(config: TrainConfig) -> tuple[list[Question], list[Question]]:
    """(training, held-out) questions in both answer orders; disjoint by question id."""
    total = config.train_questions + config.heldout_questions
    questions = load_questions(config.task, limit=total, seed=config.seed, data=config.data)
    train, held = questions[:config.train_questions], questions[config.train_questions:]
    return apply_order(train, "both", config.seed), apply_order(held, "both", config.seed)


def policy_role(config: TrainConfig) -> str:
    return "debater_a" if config.protocol == "debate" else "consultant"


def make_protocol(config: TrainConfig, temperature: float, seed: int) -> Protocol:
    options = ProtocolOptions(rounds=config.rounds, word_limit=config.word_limit, max_tokens=config.max_tokens,
                              thinking_tokens=config.max_tokens, temperature=temperature, seed=seed, retries=0)
    return lookup("protocol", config.protocol)(options)


def play(engine: Engine, protocol: Protocol, questions: list[Question], copies: int) -> list[Transcript]:
    """`copies` independent plays of every episode: each copy is a protocol replica, so its samples differ."""
    replicas = [type(protocol)(dataclasses.replace(protocol.options, replica=k)) for k in range(copies)]
    episodes = [(f"{episode_key(q, variant)}~{k}", episode) for k, replica in enumerate(replicas) for q in questions
                for variant, episode in replica.episodes(q)]
    return list(engine.run(episodes).values())


def side_reward(config: TrainConfig, transcripts: list[Transcript]) -> float:
    """Mean reward of the policy's side over `transcripts`."""
    role = policy_role(config)
    values = [episode_reward(config.reward, t, t.assignment[role]) for t in transcripts if role in t.assignment]
    return sum(values) / max(1, len(values))


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def train(config: TrainConfig, console: Console | None = None,
          on_record: Callable[[dict[str, Any]], None] | None = None) -> TrainReport:
    """Run the loop of the module docstring; returns the held-out rewards before/after and the curve."""
    console = console or Console(stderr=True)
    train_qs, held_qs = split_questions(config)
    policy_spec = parse_model_spec(config.policy, "hf")
    if policy_spec.backend != "hf":
        raise ConfigError(f"policy {config.policy!r}: the trained model runs on the hf backend; use "
                          f"'hf:{policy_spec.model}' or a local model folder")
    policy = load_backend(policy_spec)
    judge = load_backend(parse_model_spec(config.judge, "hf"))
    opponent: Backend | None = None
    if config.protocol == "debate":
        opponent = load_backend(parse_model_spec(config.opponent or f"hf:{policy_spec.model}", "hf"))
    trainer = PolicyTrainer(policy.lm, policy.tokenizer, preset=config.preset, lr=config.lr,
                            micro_batch_size=config.micro_batch_size, max_new_tokens=config.max_tokens,
                            kl_coef=config.kl_coef, grad_clip=config.grad_clip,
                            lora=LoraSettings(**config.lora.model_dump()) if config.lora else None)
    policy.lm = trainer.model  # under LoRA the backend generates through the adapter
    log = GenerationLog()
    role = policy_role(config)
    models: dict[str, Backend] = {"judge": judge, role: RecordingBackend(policy, log)}
    if opponent is not None:
        models["debater_b"] = opponent
    engine = Engine(models)
    folder = config.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.jsonl").unlink(missing_ok=True)
    curve: list[dict[str, Any]] = []

    def record(entry: dict[str, Any]) -> None:
        curve.append(entry)
        write_jsonl(folder / "metrics.jsonl", [entry])
        if on_record is not None:
            on_record(entry)

    def evaluate(iteration: int) -> float:
        start = time.perf_counter()
        transcripts = play(engine, make_protocol(config, 0.0, config.seed), held_qs, 1)
        value = side_reward(config, transcripts)
        record({"kind": "heldout", "iteration": iteration, "reward": value, "episodes": len(transcripts),
                "seconds": time.perf_counter() - start})
        console.print(f"held-out reward after {iteration} iteration(s): {value:.4f}")
        return value

    try:
        before = evaluate(0)
        for it in range(1, config.iterations + 1):
            start = time.perf_counter()
            log.clear()
            protocol = make_protocol(config, config.temperature, config.seed * 1000 + it)
            transcripts = play(engine, protocol, train_qs, config.samples)
            write_jsonl(folder / f"iter-{it:03d}.jsonl",
                        [{"key": str(k), "transcript": t.to_dict()} for k, t in enumerate(transcripts)])
            generate_s = time.perf_counter() - start
            rollouts = build_rollouts(transcripts, protocol, policy.tokenizer, reward=config.reward, log=log,
                                      roles=(role,))
            stats = trainer.step(rollouts)
            record({"kind": "train", "iteration": it, **asdict(stats), "generate_seconds": generate_s,
                    "update_seconds": stats.seconds})
            console.print(f"iteration {it}: train reward {stats.reward_mean:.4f}, loss {stats.loss:+.4f}, "
                          f"{stats.rollouts} rollouts, generate {generate_s:.1f}s, update {stats.seconds:.1f}s, "
                          f"peak RSS {stats.peak_rss_mb:.0f} MB")
            if config.eval_every and it % config.eval_every == 0 and it < config.iterations:
                evaluate(it)
        after = evaluate(config.iterations)
        checkpoint = trainer.save(folder / "checkpoint") if config.save else None
    finally:
        for backend in {id(b): b for b in (policy, judge, opponent) if b is not None}.values():
            backend.close()
    return TrainReport(folder, before, after, curve, checkpoint)
