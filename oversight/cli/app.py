"""The `oversight` command line. It only wires: parsing here, work in the library.

Heavy imports (torch, vLLM, pandas) happen inside command bodies so `oversight --help` stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.console import Console

from oversight.config import RunConfig
from oversight.errors import EXIT_BAD_INPUT, ConfigError, OversightError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Scalable-oversight experiments: debate, consultancy and direct QA with weak judges.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)



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
Debias = Annotated[bool, typer.Option("--debias/--no-debias", help="Order-debiased judging: the judge decides each "
                                      "episode in both answer-label orders and the log-odds are averaged.",
                                      rich_help_panel="Protocol")]
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


@app.command()
def run(
    ctx: typer.Context,
    protocol: Annotated[Optional[str], typer.Argument(help="Protocol (see `oversight protocols`); "
                                                      "optional with --config.")] = None,
    task: Task = "math", limit: Limit = None, seed: Seed = _default("seed"), data: Data = None,
    order: Order = _default("order"), rounds: Rounds = _default("rounds"), turns: Turns = _default("turns"),
    word_limit: WordLimit = _default("word_limit"), best_of_n: BestOfN = _default("best_of_n"),
    bon_scorer: BonScorer = _default("bon_scorer"), retries: Retries = _default("retries"),
    judge_cot: JudgeCot = _default("judge_cot"), quotes: Quotes = _default("quotes"),
    debias: Debias = _default("debias"), judge: JudgePanel = None, panel_aggregate: PanelAggregate = _default("panel_aggregate"),
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
    from oversight.config import config_from_file
    from oversight.errors import ConfigError
    from oversight.config import make_config
    from tasks.custom import parse_fields
    from oversight.cli.report import print_summary
    from oversight.experiments.run import run_experiment

    if protocol is None and config_file is None:
        raise ConfigError("give a PROTOCOL (see `oversight protocols`), or --config FILE naming one")
    config = config_from_file(config_file, **_given(ctx, {"fields": parse_fields})) if config_file else \
        make_config(protocol=protocol, task=task, limit=limit, seed=seed, data=data, order=order,
                         rounds=rounds, turns=turns, word_limit=word_limit, judge=judge or _default("judge"),
                         panel_aggregate=panel_aggregate, judge_temperature=judge_temperature, debater=debater,
                         consultant=consultant, backend=backend, max_tokens=max_tokens, thinking_tokens=thinking_tokens,
                         temperature=temperature, best_of_n=best_of_n, bon_scorer=bon_scorer, retries=retries, judge_cot=judge_cot, quotes=quotes,
                         debias=debias, out=out_dir, name=name, debater_a=debater_a, debater_b=debater_b, fresh=fresh,
                         cache=cache, base_url=base_url, max_connections=max_connections,
                         request_timeout=request_timeout, serve=serve, tensor_parallel_size=tensor_parallel_size,
                         gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                         fields=parse_fields(fields), allow_code_exec=allow_code_exec)
    from oversight.sandbox import code_execution

    try:
        with code_execution(config.allow_code_exec):
            report = run_experiment(config, console=err)
    except KeyboardInterrupt:
        err.print("interrupted: finished episodes are saved; rerun the same command to resume")
        raise typer.Exit(130) from None
    print_summary(report, out)


tasks_app = typer.Typer(help="The tasks: `oversight tasks` lists them, `oversight tasks build` builds a binary set.")
app.add_typer(tasks_app, name="tasks", invoke_without_command=True)


@tasks_app.callback()
def tasks(ctx: typer.Context) -> None:
    """List the tasks (the default), or build a task's binary set (`build`)."""
    if ctx.invoked_subcommand is None:
        tasks_list()


@tasks_app.command("build")
def tasks_build(
    task: Annotated[str, typer.Argument(help="Task to build: math, code or code-mbpp.")],
    out_file: Annotated[str, typer.Option("--out", help="JSONL file to write (load it with --data FILE).")],
    source: Annotated[str, typer.Option(help="mutate (programs/solutions with one mistake) or sample "
                                        "(math: programs sampled from --model).")] = "mutate",
    model: Annotated[Optional[str], typer.Option(help="Agent model spec for --source sample.")] = None,
    samples: Annotated[int, typer.Option(help="Programs sampled per problem (the study: 32).")] = 32,
    limit: Limit = None, seed: Seed = 0, data: Data = None,
    max_tokens: Annotated[int, typer.Option(help="Token budget per sampled program.")] = 320,
    temperature: Annotated[float, typer.Option(help="Sampling temperature for --source sample.")] = 0.8,
    backend: Backend = "auto",
    allow_code_exec: AllowCodeExec = False,
) -> None:
    """Build TASK's binary set, verify every item by running it in the sandbox, and write it to --out."""
    from tasks.build import build_task
    from oversight.sandbox import code_execution

    with code_execution(allow_code_exec):
        report = build_task(task, out=out_file, source=source, limit=limit, seed=seed,  # type: ignore[arg-type]
                            data=data, model=model, samples=samples, max_tokens=max_tokens,
                            temperature=temperature, backend=backend, progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    counts = ", ".join(f"{k}: {v}" for k, v in report.counts.items())
    out.print(f"{report.task} ({report.source}): wrote {report.written} of {report.problems} problems to "
              f"{report.out} in {report.seconds:.1f} s ({counts})")


@tasks_app.command("list")
def tasks_list() -> None:
    """List the tasks: family, where the data comes from (a local copy is counted) and size."""
    from rich.table import Column, Table

    from tasks.base import task_infos, task_source

    table = Table("family", "source", "size", "description")
    table.columns.insert(0, Column("task", no_wrap=True))
    for info in task_infos():
        table.add_row(info.name, info.family, *task_source(info.name), info.description)
    out.print(table)


@app.command()
def protocols() -> None:
    """List the protocols."""
    import protocols as registered  # noqa: F401
    from oversight.registry import lookup, names

    for name in names("protocol"):
        out.print(f"[bold]{name}[/bold]  {(lookup('protocol', name).__doc__ or '').strip().splitlines()[0]}")


@app.command()
def models() -> None:
    """List the embedded models and the backends."""
    from rich.table import Table

    from oversight.models import BACKENDS, default_backend
    from oversight.models.embedded import EMBEDDED

    table = Table("model spec", "role", "description")
    for name, model in EMBEDDED.items():
        table.add_row(f"embedded:{name}", model.role, model.description)
    out.print(table)
    out.print(f"backends: {', '.join(BACKENDS)} (default here: {default_backend()}); "
              "any HF model id or local folder works as backend:model, e.g. vllm:Qwen/Qwen2.5-7B-Instruct")


cache_app = typer.Typer(no_args_is_help=True, help="The response caches of run folders (<run>/cache.sqlite).")
app.add_typer(cache_app, name="cache")
CachePaths = Annotated[Optional[list[str]], typer.Argument(help="Run folders, cache files, or parents of run "
                                                             "folders (default: runs).")]


@cache_app.command("info")
def cache_info(paths: CachePaths = None) -> None:
    """Entries and size of each run's response cache, per model and request kind."""
    from pathlib import Path

    from rich.table import Table

    from oversight.cache import ResponseCache, find_caches

    table = Table("cache", "model", "kind", "entries", "size")
    for file in find_caches([Path(p) for p in paths or ["runs"]]):
        cache = ResponseCache(file)
        summary = cache.summary()
        cache.close()
        for backend, model, kind, entries in summary.rows or (("-", "-", "-", 0),):
            table.add_row(str(file), f"{backend}:{model}", kind, str(entries), f"{summary.bytes / 1e6:.2f} MB")
    out.print(table if table.rows else "no response caches found")


@cache_app.command("clear")
def cache_clear(paths: CachePaths = None,
                yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False) -> None:
    """Delete response caches (transcripts and results stay); the next run recomputes what it needs."""
    from pathlib import Path

    from oversight.cache import clear_cache, find_caches

    files = find_caches([Path(p) for p in paths or ["runs"]])
    if not files:
        out.print("no response caches found")
        return
    for file in files:
        out.print(f"{file} ({file.stat().st_size / 1e6:.2f} MB)")
    if not yes and not typer.confirm(f"delete these {len(files)} cache file(s)?"):
        raise typer.Exit(1)
    freed = sum(clear_cache(file) for file in files)
    out.print(f"deleted {len(files)} cache file(s), {freed / 1e6:.2f} MB")


@app.command()
def serve(
    model: Annotated[str, typer.Argument(help="Model: embedded:NAME, a hub id or a local folder (vllm: prefix "
                                               "optional).")],
    port: Annotated[Optional[int], typer.Option(help="Port (default: a free one).")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    served_name: Annotated[Optional[str], typer.Option(help="Model name clients use (default: MODEL).")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="vLLM dtype, e.g. float32, bfloat16.")] = None,
    tensor_parallel_size: TensorParallel = None, gpu_memory_utilization: GpuMemory = None,
    max_model_len: MaxModelLen = None,
) -> None:
    """Start `vllm serve` for MODEL, print its URL, and stop it on Ctrl-C."""
    from oversight.errors import BackendError
    from oversight.models.serve import ManagedServer

    server = ManagedServer(model.removeprefix("vllm:"), host=host, port=port, served_name=served_name, dtype=dtype,
                           tensor_parallel_size=tensor_parallel_size, gpu_memory_utilization=gpu_memory_utilization,
                           max_model_len=max_model_len)
    err.print(f"starting vllm serve for {model} (log: {server.log_path}) ...")
    with server:
        out.print(f"serving {server.served_name} at {server.base_url} (ready in {server.startup_seconds:.0f} s); "
                  f"Ctrl-C stops it. Use it with:\n  oversight run debate --judge openai:{server.served_name} "
                  f"--base-url {server.base_url}")
        try:
            code = server.process.wait() if server.process else 0
        except KeyboardInterrupt:
            return
    raise BackendError(f"vllm serve for {model} exited with code {code}; see {server.log_path}:\n{server.log_tail()}")


RunPaths = Annotated[list[str], typer.Argument(help="Run folders, or folders holding runs (sweeps, tournaments).")]


@app.command()
def analyze(
    runs: RunPaths,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="Folder for figures and CSV tables (default: "
                                                   "RUN/analysis for one run, else ./analysis).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write figures (PNG + SVG).")] = True,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples per confidence interval.", min=100)] = 2000,
) -> None:
    """Print judge accuracy, raw and order-debiased side by side with their paired difference (95% CIs), invalid
    and degraded-path shares, protocol tests, consultancy split, position bias, calibration on valid verdicts, Elo,
    judge panels by size and judge cascades' accuracy-deferral curves."""
    import pandas as pd

    from analysis.load import load_runs
    from pathlib import Path

    from analysis.summary import default_out, print_tables, summarize, write_figures, write_tables

    from analysis.cascade import curve_table, load_cascade_curves, plot_cascade
    from analysis.load import find_runs

    results = load_runs(runs)
    tables = summarize(results, n_boot=n_boot)
    curves = load_cascade_curves(find_runs(runs))
    if not curves.empty:  # `oversight cascade --curve` results saved in the run folders
        tables["cascade"] = pd.concat([pd.concat({(r, k): curve_table(c)}, names=["run", "cascade"])
                                       for (r, k), c in curves.groupby(["run", "cascade"], sort=False)]
                                      ).reset_index(level=[0, 1])
    print_tables(tables, out)
    folder = Path(out_dir) if out_dir else default_out(runs, "analysis")
    write_tables(tables, folder)
    if plots:
        write_figures(results, folder, tables, n_boot=n_boot)
        for (run, name), rows in ([] if curves.empty else curves.groupby(["run", "cascade"], sort=False)):
            plot_cascade(rows, folder / f"cascade-{run}-{name}".replace(".", "_"))
    out.print(f"\n{len(results)} episodes from {results['run'].nunique()} run(s); tables and figures in {folder}")


@app.command()
def power(
    runs: RunPaths,
    delta: Annotated[float, typer.Option(help="Accuracy difference to detect, as a share (0.05 = 5 points).")] = 0.05,
    a: Annotated[Optional[str], typer.Option("--a", help="First protocol (default: every pair).")] = None,
    b: Annotated[Optional[str], typer.Option("--b", help="Second protocol, compared with --a.")] = None,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    target: Annotated[float, typer.Option("--power", help="Power to reach.")] = 0.8,
) -> None:
    """How many questions a paired comparison of two protocols needs to detect DELTA, from the variance of the
    runs' paired differences (per task and judge, raw and order-debiased; clustered by article on extractive
    tasks), with the minimum difference the runs themselves can detect."""
    from analysis.load import load_runs
    from analysis.power import TITLE, power_table
    from analysis.summary import format_table

    table = power_table(load_runs(runs), delta=delta, a=a, b=b, alpha=alpha, power=target)
    out.print(f"[bold]{TITLE}[/bold] (delta {delta}, alpha {alpha}, power {target})")
    out.print(format_table(table).to_string(index=False), highlight=False)


@app.command()
def view(
    runs: RunPaths,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="Report folder (default: RUN/report for one run, "
                                                   "else ./report).")] = None,
    page_size: Annotated[int, typer.Option(help="Episodes per transcript page.", min=1)] = 200,
) -> None:
    """Write a static HTML report: summary tables, figures, and every transcript (paginated)."""
    from pathlib import Path

    from analysis.report import write_report
    from analysis.summary import default_out

    index = write_report(runs, Path(out_dir) if out_dir else default_out(runs, "report"), page_size=page_size)
    out.print(f"report: {index}")


@app.command()
def tournament(
    debaters: Annotated[list[str], typer.Option("--debater", help="A debater, NAME=SPEC or SPEC; repeat for each "
                                                "(at least two).", rich_help_panel="Models")],
    task: Task = "math", limit: Limit = None, seed: Seed = _default("seed"), data: Data = None,
    rounds: Annotated[int, typer.Option(help="Debate rounds (the study's Elo debates: 1).",
                                        rich_help_panel="Protocol")] = 1,
    word_limit: WordLimit = _default("word_limit"), judge: Judge = _default("judge"),
    backend: Backend = _default("backend"), max_tokens: MaxTokens = _default("max_tokens"),
    temperature: Temperature = _default("temperature"),
    self_play: Annotated[bool, typer.Option("--self-play/--no-self-play", help="Also debate each debater against "
                                            "itself (judge accuracy vs Elo).", rich_help_panel="Protocol")] = True,
    out_dir: Annotated[str, typer.Option("--out", help="Parent folder of the tournament folder.",
                                         rich_help_panel="Output")] = "runs",
    name: Annotated[Optional[str], typer.Option(help="Tournament folder name (default: derived from the options; "
                                                "rerunning resumes).", rich_help_panel="Output")] = None,
) -> None:
    """Cross-play debates between debaters (every ordered pair, both answer orders), then the Elo ladder."""
    from analysis.elo import ladder
    from analysis.load import load_runs
    from analysis.plots import plot_accuracy_vs_elo
    from analysis.summary import format_table
    from oversight.experiments.tournament import default_name, parse_entrants, run_tournament

    entrants = parse_entrants(debaters)
    options = dict(task=task, limit=limit, seed=seed, data=data, rounds=rounds, word_limit=word_limit, judge=judge,
                   backend=backend, max_tokens=max_tokens, temperature=temperature)
    report = run_tournament(entrants, name=name or default_name(entrants, self_play, options), out=out_dir,
                            self_play=self_play, console=err, **options)
    table = ladder(load_runs(report.path))
    table.to_csv(report.path / "ladder.csv", index=False)
    if not table.empty:
        plot_accuracy_vs_elo(table, report.path / "accuracy_vs_elo")
    out.print("[bold]Elo ladder (scale 500, 95% bootstrap CI; correct/incorrect: Elo when arguing that side)[/bold]")
    out.print(format_table(table).to_string(index=False), highlight=False)
    out.print(f"{report.episodes_run} debates run; runs, ladder.csv and accuracy_vs_elo.png in {report.path}")


SweepPath = Annotated[str, typer.Argument(help="Sweep file (YAML), e.g. configs/laptop.yaml.")]


@app.command()
def sweep(
    file: SweepPath,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan and stop.")] = False,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Run the valid cells even when some cannot "
                                               "be prepared (bad config or missing data); default: stop first.")
                            ] = False,
    ray: Annotated[Optional[str], typer.Option("--ray", help="Run the cells on the Ray cluster at ADDRESS "
                                               "(e.g. 127.0.0.1:6379; `ray start --head` starts one).",
                                               rich_help_panel="Scheduling")] = None,
    cell_retries: Annotated[Optional[int], typer.Option(help="Extra attempts for a failed cell (file: "
                                                        "cell_retries).", rich_help_panel="Scheduling")] = None,
    max_models: Annotated[Optional[int], typer.Option(help="Models loaded at once (file: max_models; default: "
                                                      "all the sweep needs).", rich_help_panel="Scheduling")] = None,
    window: Annotated[Optional[int], typer.Option(help="Episodes in flight at once (file: window; default: all). "
                                                  "Episodes are saved as they finish, so a smaller window loses "
                                                  "less when cut off.", min=1, rich_help_panel="Scheduling")] = None,
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="Task of every cell.",
                                                rich_help_panel="Overrides")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Questions per cell.", rich_help_panel="Overrides")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of every cell.", rich_help_panel="Overrides")] = None,
    data: Data = None,
    order: Annotated[Optional[str], typer.Option(help="Answer order.", rich_help_panel="Overrides")] = None,
    rounds: Annotated[Optional[int], typer.Option(help="Rounds.", rich_help_panel="Overrides")] = None,
    judge: Annotated[Optional[str], typer.Option(help="Judge of every cell.", rich_help_panel="Overrides")] = None,
    debater: Annotated[Optional[str], typer.Option(help="Agent model of every cell.",
                                                   rich_help_panel="Overrides")] = None,
    consultant: Consultant = None,
    backend: Annotated[Optional[str], typer.Option(help="Backend for specs without one.",
                                                   rich_help_panel="Overrides")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="Tokens per agent turn.",
                                                      rich_help_panel="Overrides")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Agent temperature.",
                                                         rich_help_panel="Overrides")] = None,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="Parent of the sweep folder (file: out).",
                                                   rich_help_panel="Output")] = None,
) -> None:
    """Expand a sweep file into runs (cells), show the plan, and run every pending cell (rerun resumes)."""
    from oversight.experiments.schedule import plan_sweep, run_sweep
    from oversight.experiments.sweep import load_sweep
    from oversight.cli.sweep_report import print_plan, print_sweep_report

    overrides = dict(task=task, limit=limit, seed=seed, data=data, order=order, rounds=rounds, judge=judge,
                     debater=debater, consultant=consultant, backend=backend, max_tokens=max_tokens,
                     temperature=temperature)
    spec = load_sweep(file, overrides, out=out_dir)
    if cell_retries is not None:
        spec.settings.cell_retries = cell_retries
    if max_models is not None:
        spec.settings.max_models = max_models
    if window is not None:
        spec.settings.window = window
    plans, _ = plan_sweep(spec)
    print_plan(spec, plans, out)
    if dry_run:
        return
    invalid = [plan for plan in plans if plan.error]
    if invalid and not skip_invalid:
        # Nothing is written: a bad data file or setting is fixed before any cell runs.
        first = invalid[0]
        raise ConfigError(f"{len(invalid)} of {len(plans)} cells of {file} cannot run (cell {first.cell.id}: "
                          f"{first.error}); fix the sweep file or data, or pass --skip-invalid to run the rest")
    dispatch = None
    if ray:
        from oversight.experiments.sweep_ray import run_on_ray

        def dispatch(cells, sweep_, console):  # noqa: ANN001, ANN202
            return run_on_ray(cells, sweep_, console, ray)
    try:
        report = run_sweep(spec, console=err, plans=plans, dispatch=dispatch)
    except KeyboardInterrupt:
        err.print("interrupted: finished episodes are saved; rerun the same command to resume")
        raise typer.Exit(130) from None
    print_sweep_report(report, out)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def status(sweep: Annotated[str, typer.Argument(help="Sweep folder (runs/<name>) or sweep file.")]) -> None:
    """Done, pending and failed cells of a sweep (read from its folder; loads no model)."""
    from pathlib import Path

    from oversight.cli.sweep_report import print_status
    from oversight.experiments.sweep_state import sweep_status

    folder = Path(sweep)
    if folder.is_file():
        from oversight.experiments.sweep import load_sweep

        folder = load_sweep(folder).path
    print_status(folder, sweep_status(folder), out)


@app.command()
def judge(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run folder holding transcripts.jsonl.")],
    judge_spec: Annotated[str, typer.Option("--judge", help="The new judge's model spec.",
                                            rich_help_panel="Models")],
    backend: Annotated[Optional[str], typer.Option(help="Backend for a spec without one (default: the run's).",
                                                   rich_help_panel="Models")] = None,
) -> None:
    """Judge a run's saved transcripts with another judge (no agent is called); writes RUN/judged/<judge>/."""
    from oversight.cli.report import print_summary
    from oversight.experiments.rejudge import rejudge

    print_summary(rejudge(run_dir, judge_spec, backend=backend, console=err), out)


@app.command()
def cascade(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run folder holding transcripts.jsonl.")],
    judges: Annotated[list[str], typer.Option("--judge", help="Judge model specs, cheapest first; repeat the option "
                                              "(at least two).", rich_help_panel="Models")],
    rule: Annotated[str, typer.Option(help="Deferral rule: confidence (max probability below --threshold) | entropy "
                                      "(answer-token entropy above --threshold, nats) | learned (logistic "
                                      "regression fitted on the calibration split).")] = "confidence",
    threshold: Annotated[Optional[float], typer.Option(help="The rule's threshold (see --rule).")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Fraction of episodes to defer, instead of a threshold "
                                                    "(set on the calibration split). Default 0.3 when no "
                                                    "--threshold is given.")] = None,
    target: Annotated[str, typer.Option(help="Learned rule's target: error (cheap judge wrong) | gain (cheap "
                                        "wrong and next right; judges the calibration split twice).")] = "error",
    calibration: Annotated[float, typer.Option(help="Fraction of questions in the calibration split.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the calibration split.")] = 0,
    curve: Annotated[bool, typer.Option("--curve", help="Judge every episode with every judge and write the "
                                        "accuracy-deferral curves of every rule and the oracle (curve.csv, "
                                        "cascade.png).")] = False,
    name: Annotated[Optional[str], typer.Option(help="Folder name under RUN/cascades/.")] = None,
    backend: Annotated[Optional[str], typer.Option(help="Backend for specs without one (default: the run's).",
                                                   rich_help_panel="Models")] = None,
) -> None:
    """Judge a run's saved transcripts with a cascade: the cheap judge first, the next only where the rule defers."""
    from oversight.experiments.cascade import run_cascade
    from oversight.experiments.deferral import DeferralRule

    chosen = DeferralRule(rule, threshold=threshold, budget=budget if budget is not None or threshold is not None
                          else 0.3, target=target)  # type: ignore[arg-type]
    report = run_cascade(run_dir, judges, chosen, calibration=calibration, seed=seed, all_stages=curve, name=name,
                         backend=backend, console=err)
    s = report.summary
    out.print(f"Cascade {' -> '.join(judges)} on {run_dir}: {s['episodes']} episodes, "
              f"{s['deferred_fraction']:.1%} deferred past the first judge")
    for stage in s["stages"]:
        out.print(f"  {stage['judge']}: {stage['episodes']} episodes judged ({stage['judged_now']} new), "
                  f"{stage['prompt_tokens']:,} prompt tokens")
    test = f", {s['accuracy_test']:.3f} on the {s['test_episodes']} test-split episodes" \
        if s["calibration_fraction"] and s["accuracy_test"] is not None else ""
    out.print(f"accuracy {s['accuracy']:.3f}{test}; results: {report.path / 'cascade.parquet'}")
    if curve:
        from analysis.cascade import cascade_curves, curve_table, plot_cascade
        from analysis.summary import format_table

        split = report.results.set_index("episode")["split"]
        curves = cascade_curves(report.stages[0], report.stages[1], report.features, split)
        curves.to_csv(report.path / "curve.csv", index=False)
        table = curve_table(curves)
        table.to_csv(report.path / "curve_table.csv", index=False)
        plot_cascade(curves, report.path / "cascade", labels=judges[:2])
        out.print(format_table(table).to_string(index=False))
        out.print(f"curves: {report.path / 'curve.csv'}, figure: {report.path / 'cascade.png'}")


@app.command()
def train(
    config_file: Annotated[str, typer.Argument(metavar="CONFIG", help="Training config (YAML; docs/rl.md).")],
    iterations: Annotated[Optional[int], typer.Option(help="Override the config's iterations.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Override the config's seed.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Override the output folder name.")] = None,
) -> None:
    """RL-train a debater or consultant against a fixed judge: generate -> judge -> rollouts -> update."""
    from oversight.rl.config import train_config_from_file
    from oversight.rl.train import train as run_training

    report = run_training(train_config_from_file(config_file, iterations=iterations, seed=seed, name=name), err)
    out.print(f"held-out reward: {report.before:.4f} -> {report.after:.4f} ({report.after - report.before:+.4f}); "
              f"metrics in {report.folder / 'metrics.jsonl'}"
              + (f"; checkpoint: hf:{report.checkpoint}" if report.checkpoint else ""))


BENCHMARKS = ("overhead", "batching", "server", "prefix", "judge_prefix", "cost", "memory", "cpu_engine")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=f"Benchmark: {', '.join(BENCHMARKS)}; further arguments go to it "
                                        "(`oversight bench cost -- --help`).")],
) -> None:
    """Run a performance benchmark from the checkout's benchmarks/ (same as `python -m benchmarks.NAME`)."""
    import importlib

    from oversight.errors import ConfigError

    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # the checkout, as `python -m benchmarks.NAME` would see it
    try:
        module = importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as exc:
        raise ConfigError(f"benchmarks are not installed with the package; run `oversight bench` from the "
                          f"repository checkout (the folder holding benchmarks/): {exc}") from exc
    module.main(list(ctx.args))


def main() -> None:
    try:
        app()  # usage errors (unknown option, bad type) exit 2 inside typer
    except OversightError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(EXIT_BAD_INPUT)


if __name__ == "__main__":
    main()
