"""Options shared by several commands, each written once; their defaults come from RunConfig."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from oversight.config import RunConfig


def _default(field: str) -> object:
    """CLI defaults come from RunConfig, where each option is documented once."""
    return RunConfig.model_fields[field].default


Limit = Annotated[Optional[int], typer.Option(help="Number of questions (seeded sample); default all.",
                                              rich_help_panel="Data")]
Seed = Annotated[int, typer.Option(help="Seed for the question sample, answer order and sampling.",
                                   rich_help_panel="Data")]
Task = Annotated[str, typer.Option("--task", "-t", help="Task name (see `oversight tasks`).", rich_help_panel="Data")]
Data = Annotated[Optional[str], typer.Option(help="Local data file or folder (default: $OVERSIGHT_DATA_DIR, "
                                             "else the Hugging Face hub).", rich_help_panel="Data")]
Fields = Annotated[Optional[str], typer.Option(help="Columns of a --task file:PATH, PART=COLUMN,... (parts: question, "
                                               "correct, incorrect, answers, correct_index, context, images, id).",
                                               rich_help_panel="Data")]
Order = Annotated[str, typer.Option(help="Answer order: random | both | fixed.", rich_help_panel="Protocol")]
Rounds = Annotated[int, typer.Option(help="Debate rounds.", rich_help_panel="Protocol")]
WordLimit = Annotated[int, typer.Option(help="Words per argument; longer ones are cut (the study: 150).",
                                        rich_help_panel="Protocol")]
Turns = Annotated[str, typer.Option(help="Debate turns: simultaneous | sequential.", rich_help_panel="Protocol")]
BestOfN = Annotated[int, typer.Option("--best-of", help="Candidate arguments per agent turn; the best-scored is "
                                      "kept (needs --temperature > 0).", rich_help_panel="Protocol")]
BonScorer = Annotated[str, typer.Option(help="Best-of-N scorer: judge (judge model's P(agent's answer)) | self "
                                        "(the agent picks).", rich_help_panel="Protocol")]
Retries = Annotated[int, typer.Option(help="Retries of an agent turn with no argument before it counts invalid.",
                                      rich_help_panel="Protocol")]
JudgeCot = Annotated[bool, typer.Option("--judge-cot/--no-judge-cot", help="Judge reasons before deciding.",
                                        rich_help_panel="Protocol")]
Quotes = Annotated[bool, typer.Option("--quotes/--no-quotes", help="Verify agents' <quote>s against the article.",
                                      rich_help_panel="Protocol")]
QuoteMatch = Annotated[str, typer.Option(help="How a quote must match the article: strict (normalised, exact) | "
                                         "fuzzy (one changed word may pass; numbers and negations must match; "
                                         "the judge sees the article's words).", rich_help_panel="Protocol")]
Debias = Annotated[bool, typer.Option("--debias/--no-debias", help="Order-debiased judging: the judge decides each "
                                      "episode in both answer-label orders and the log-odds are averaged.",
                                      rich_help_panel="Protocol")]
JudgeQuestions = Annotated[bool, typer.Option(
    "--judge-questions", help="Interactive debate (Khan et al. 2024): the judge asks the debaters a question "
    "between rounds.", rich_help_panel="Protocol")]
Judge = Annotated[str, typer.Option(help="Judge model spec, backend:model.", rich_help_panel="Models")]
JudgePanel = Annotated[Optional[list[str]], typer.Option(
    "--judge", help="Judge model spec, backend:model; repeat it for a judge panel (member options ?prompt=TEMPLATE, "
    "?seed=N). Default: the embedded weak judge.", rich_help_panel="Models")]
PanelAggregate = Annotated[str, typer.Option(help="Judge panel aggregation: majority | mean | logmean.",
                                             rich_help_panel="Models")]
JudgeTemperature = Annotated[float, typer.Option(help="Sampling temperature of the judge's reasoning (--judge-cot).",
                                                 rich_help_panel="Protocol")]
Debater = Annotated[str, typer.Option(help="Debater model spec, backend:model.", rich_help_panel="Models")]
Consultant = Annotated[Optional[str], typer.Option(help="Consultant model spec (default: the debater model).",
                                                   rich_help_panel="Models")]
Backend = Annotated[str, typer.Option(help="Backend for specs without one: auto | vllm | hf | openai | scripted.",
                                      rich_help_panel="Models")]
MaxTokens = Annotated[int, typer.Option(help="Token budget per agent turn.", rich_help_panel="Models")]
ThinkingTokens = Annotated[Optional[int], typer.Option(
    help="Tokens a turn may think before its argument is forced (default: half of --max-tokens; equal to it: "
    "off).", rich_help_panel="Models")]
Temperature = Annotated[float, typer.Option(help="Agent sampling temperature.", rich_help_panel="Models")]
Out = Annotated[str, typer.Option(help="Parent folder of run folders.", rich_help_panel="Output")]
Name = Annotated[Optional[str], typer.Option(help="Run folder name (default: derived from the config; "
                                             "rerunning resumes).", rich_help_panel="Output")]
DebaterA = Annotated[Optional[str], typer.Option("--debater-a", help="Debater A's model spec (overrides --debater).",
                                                 rich_help_panel="Models")]
DebaterB = Annotated[Optional[str], typer.Option("--debater-b", help="Debater B's model spec (overrides --debater).",
                                                 rich_help_panel="Models")]
Fresh = Annotated[bool, typer.Option("--fresh/--resume", help="Start over (the old run folder is moved aside) or "
                                     "resume it.", rich_help_panel="Output")]
CacheFlag = Annotated[bool, typer.Option("--cache/--no-cache", help="Answer repeated model calls from the run's "
                                         "response cache.", rich_help_panel="Serving")]
BaseUrl = Annotated[Optional[str], typer.Option(help="Server of openai: specs (default: $OPENAI_BASE_URL, else "
                                                "the OpenAI API).", rich_help_panel="Serving")]
MaxConnections = Annotated[int, typer.Option(help="Requests in flight per openai: model.", rich_help_panel="Serving")]
RequestTimeout = Annotated[float, typer.Option(help="Seconds per HTTP request before it is retried.",
                                               rich_help_panel="Serving")]
ServeFlag = Annotated[bool, typer.Option("--serve", help="Run each vllm: model in its own managed `vllm serve`.",
                                         rich_help_panel="Serving")]
TensorParallel = Annotated[Optional[int], typer.Option(help="vLLM: GPUs per model.", rich_help_panel="Serving")]
GpuMemory = Annotated[Optional[float], typer.Option(help="vLLM: GPU memory fraction per model.",
                                                    rich_help_panel="Serving")]
MaxModelLen = Annotated[Optional[int], typer.Option(help="vLLM: context length.", rich_help_panel="Serving")]


ConfigFile = Annotated[Optional[str], typer.Option("--config", help="YAML file of run settings (keys as in "
                                                    "config.yaml); options given here override it.")]


def _given(ctx: typer.Context, convert: dict | None = None) -> dict:
    """Options typed on the command line, by RunConfig field name: they override a --config file."""
    renamed = {"out_dir": "out"}
    values = {renamed.get(k, k): v for k, v in ctx.params.items()
              if k != "config_file" and getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"}
    return {k: (convert or {}).get(k, lambda v: v)(v) for k, v in values.items()}


AllowCodeExec = Annotated[bool, typer.Option("--allow-code-exec", help="Let tasks run code in the sandbox while "
                                              "loading (e.g. `code` from the raw dataset).", rich_help_panel="Data")]


RunPaths = Annotated[list[str], typer.Argument(help="Run folders, or folders holding runs (sweeps, tournaments).")]
