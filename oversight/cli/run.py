"""`oversight run`: one protocol on one task, every episode judged."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from oversight.cli.console import err, interrupted, out
from oversight.cli.options import (
    AllowCodeExec, Backend, BaseUrl, BestOfN, BonScorer, CacheFlag, ConfigFile, Consultant, Data, Debater, DebaterA,
    DebaterB, Debias, Fields, Fresh, GpuMemory, JudgeCot, JudgePanel, JudgeQuestions, JudgeTemperature, Limit,
    MaxConnections, MaxModelLen, MaxTokens, Name, Order, PanelAggregate, QuoteMatch, Quotes, RequestTimeout, Retries,
    Rounds, Seed, ServeFlag, Task, Temperature, TensorParallel, ThinkingTokens, Turns, WordLimit, _default, _given,
)
from oversight.config import RunConfig
from oversight.errors import ConfigError


def run(
    ctx: typer.Context,
    protocol: Annotated[Optional[str], typer.Argument(help="Protocol (see `oversight protocols`); "
                                                      "optional with --config.")] = None,
    task: Task = "math", limit: Limit = None, seed: Seed = _default("seed"), data: Data = None,
    order: Order = _default("order"), rounds: Rounds = _default("rounds"), turns: Turns = _default("turns"),
    word_limit: WordLimit = _default("word_limit"), best_of_n: BestOfN = _default("best_of_n"),
    bon_scorer: BonScorer = _default("bon_scorer"), retries: Retries = _default("retries"),
    judge_cot: JudgeCot = _default("judge_cot"), quotes: Quotes = _default("quotes"),
    quote_match: QuoteMatch = _default("quote_match"),
    debias: Debias = _default("debias"), judge_questions: JudgeQuestions = False, judge: JudgePanel = None,
    panel_aggregate: PanelAggregate = _default("panel_aggregate"),
    judge_temperature: JudgeTemperature = _default("judge_temperature"),
    debater: Debater = _default("debater"), consultant: Consultant = None, backend: Backend = _default("backend"),
    max_tokens: MaxTokens = _default("max_tokens"), thinking_tokens: ThinkingTokens = None,
    temperature: Temperature = _default("temperature"),
    out_dir: Annotated[str, typer.Option("--out", help="Parent folder of run folders.",
                                         rich_help_panel="Output")] = "runs",
    name: Name = None,
    debater_a: DebaterA = None, debater_b: DebaterB = None, fresh: Fresh = False, cache: CacheFlag = True,
    base_url: BaseUrl = None, max_connections: MaxConnections = _default("max_connections"),
    request_timeout: RequestTimeout = _default("request_timeout"), serve: ServeFlag = False,
    tensor_parallel_size: TensorParallel = None, gpu_memory_utilization: GpuMemory = None,
    max_model_len: MaxModelLen = None, fields: Fields = None, config_file: ConfigFile = None,
    allow_code_exec: AllowCodeExec = False,
) -> None:
    """Run PROTOCOL on a task, judge every episode, and print judge accuracy."""
    from oversight.cli.report import print_summary
    from oversight.experiments.api import execute

    config = run_config(ctx, protocol, config_file, dict(
        task=task, limit=limit, seed=seed, data=data, order=order, rounds=rounds, turns=turns, word_limit=word_limit,
        judge=judge, panel_aggregate=panel_aggregate, judge_temperature=judge_temperature, debater=debater,
        consultant=consultant, backend=backend, max_tokens=max_tokens, thinking_tokens=thinking_tokens,
        temperature=temperature, best_of_n=best_of_n, bon_scorer=bon_scorer, retries=retries, judge_cot=judge_cot,
        quotes=quotes, quote_match=quote_match, debias=debias, judge_questions=judge_questions, out=out_dir, name=name, debater_a=debater_a,
        debater_b=debater_b, fresh=fresh,
        cache=cache, base_url=base_url, max_connections=max_connections, request_timeout=request_timeout,
        serve=serve, tensor_parallel_size=tensor_parallel_size, gpu_memory_utilization=gpu_memory_utilization,
        max_model_len=max_model_len, fields=fields, allow_code_exec=allow_code_exec))
    try:
        report = execute(config, console=err)
    except KeyboardInterrupt:
        interrupted()
    print_summary(report, out)


def run_config(ctx: typer.Context, protocol: str | None, config_file: str | None, options: dict[str, Any]
               ) -> RunConfig:
    """The run's settings: a --config file with the options typed on the command line over it, or the options."""
    from oversight.config import config_from_file, make_config
    from tasks.custom import parse_fields

    if protocol is None and config_file is None:
        raise ConfigError("give a PROTOCOL (see `oversight protocols`), or --config FILE naming one")
    if config_file:
        return config_from_file(config_file, **_given(ctx, {"fields": parse_fields}))
    return make_config(protocol=protocol, **{**options, "judge": options["judge"] or _default("judge"),
                                             "fields": parse_fields(options["fields"])})
