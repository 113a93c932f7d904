"""Model serving and its caches: `oversight serve` and `oversight cache info|clear`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from oversight.cli.console import err, out
from oversight.cli.options import GpuMemory, MaxModelLen, TensorParallel

cache_app = typer.Typer(no_args_is_help=True, help="The response caches of run folders (<run>/cache.sqlite).")
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
