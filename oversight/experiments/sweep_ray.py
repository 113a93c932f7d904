"""Run a sweep's cells on an existing Ray cluster (`oversight sweep FILE --ray ADDRESS`).

Ray does the scheduling and the remote calls; this module only says what to place where:

- one **model actor** per model spec and replica (`ray.replicas`), holding the loaded backend
  (a vLLM engine on GPU machines). Each actor asks Ray for `ray.gpus_per_model` GPUs and
  `ray.cpus_per_model` CPUs; vLLM actors get `tensor_parallel_size = ray.tensor_parallel`. A `vllm:`
  model of a cell with `serve: true` runs as a managed `vllm serve` inside its actor, as in
  `oversight run --serve`: the openai path is the one that sends images, and the server admits as many
  images per request as the largest question of the cells it serves carries;
- one **cell task** per pending cell, spread over the nodes. It runs the cell exactly like
  `oversight run` (same episodes, same run folder), its model calls going to the actors; Ray
  retries a failed cell task `cell_retries` times (`retry_exceptions`), then the driver reports it.

Cells write their run folders under the sweep's output path, which must be a folder every node sees
(a shared filesystem); the driver resolves it to an absolute path. The driver's
`OVERSIGHT_DATA_DIR` is passed to the workers. Start the cluster first:

    ray start --head --port 6379                 # on the head node
    ray start --address HEAD_IP:6379             # on every other node
    oversight sweep configs/study.yaml --ray HEAD_IP:6379 --out /shared/runs
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from oversight.config import RunConfig
from oversight.errors import ConfigError
from oversight.models import ModelSpec, load_backend
from oversight.models.base import Backend
from oversight.experiments.sweep import Cell, RaySettings, Sweep
from oversight.types import Reply, Request

DATA_DIR_ENV = "OVERSIGHT_DATA_DIR"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'oversight[ray]' (on every node of the cluster)") from None
    return ray


class ModelActor:
    """Holds one loaded backend on a Ray node; becomes a Ray actor in `run_on_ray`.

    `served`: the run config of a cell whose `vllm:` model runs behind a managed `vllm serve` (the
    server stops with the actor, and the actor's process with the cluster's shutdown)."""

    def __init__(self, spec: ModelSpec, options: dict[str, Any], served: RunConfig | None = None) -> None:
        if served is not None:
            from oversight.models.serve import load_served

            self.backend: Backend = load_served(spec, options, served)
        else:
            self.backend = load_backend(spec, **options)

    def generate(self, requests: list[Request]) -> list[Reply]:
        return self.backend.generate(requests)

    def choice(self, requests: list[Request]) -> list[Reply]:
        return self.backend.choice(requests)

    def close(self) -> None:
        """Stop the backend (a managed server with its engine) before Ray ends this process: Ray kills an actor's
        direct children with it, the watchdog that would kill the engine of its server among them."""
        self.backend.close()


class ActorBackend(Backend):
    """A Backend whose calls go to a model actor (one batched remote call per engine call)."""

    def __init__(self, spec: ModelSpec, actor: Any) -> None:
        super().__init__(spec.model)
        self.name = spec.backend
        self.actor = actor

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        import ray

        return ray.get(self.actor.generate.remote(list(requests)))

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        import ray

        return ray.get(self.actor.choice.remote(list(requests)))


def run_cell(config: Any, actors: dict[str, tuple[ModelSpec, Any]]) -> int:
    """Play one cell on a worker with the given model actors; returns the episodes run."""
    from rich.console import Console

    from oversight.experiments.run import run_experiment

    models = {family: ActorBackend(spec, actor) for family, (spec, actor) in actors.items()}
    return run_experiment(config, console=Console(stderr=True, quiet=True), models=models).episodes_run


def actor_options(spec: ModelSpec, settings: RaySettings) -> dict[str, Any]:
    """Backend options of a model actor: tensor parallelism for vLLM."""
    return {"tensor_parallel_size": settings.tensor_parallel} if spec.backend == "vllm" else {}


ActorKey = tuple[ModelSpec, bool]
"""A model actor's identity: the spec, and whether it runs behind `vllm serve`."""


def plan_actors(configs: dict[str, RunConfig]) -> tuple[dict[str, dict[str, ActorKey]], dict[ActorKey, RunConfig | None]]:
    """Which actor each cell's role families use, and what each actor loads.

    Returns cell id -> family -> actor key, and actor key -> the config its server is started from
    (None: loaded in process). A served actor takes the config of its cells with the most images per
    question, so that its `--limit-mm-per-prompt` admits every question it will see."""
    from oversight.experiments.run import role_specs
    from oversight.models.serve import image_limit
    from oversight.registry import lookup

    needs: dict[str, dict[str, ActorKey]] = {}
    served: dict[ModelSpec, list[RunConfig]] = {}
    for cell_id, config in configs.items():
        by_family = role_specs(config, lookup("protocol", config.protocol).roles)
        needs[cell_id] = {}
        for family, spec in by_family.items():
            serve = bool(config.serve) and spec.backend == "vllm"
            needs[cell_id][family] = (spec, serve)
            if serve:
                served.setdefault(spec, []).append(config)
    keys = sorted({key for by_family in needs.values() for key in by_family.values()}, key=str)
    loads = {key: max(served[key[0]], key=lambda c: image_limit(key[0], c)) if key[1] else None for key in keys}
    return needs, loads


def run_on_ray(cells: list[Cell], sweep: Sweep, console: Console, address: str) -> dict[str, str]:
    """Run `cells` on the cluster at `address`; returns cell id -> error for cells that failed every try."""
    if not cells:
        return {}
    ray = import_ray()
    env = {DATA_DIR_ENV: str(Path(os.environ[DATA_DIR_ENV]).resolve())} if os.environ.get(DATA_DIR_ENV) else {}
    ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False, logging_level="ERROR")
    replicas: dict[ActorKey, list[Any]] = {}
    try:
        settings = sweep.settings.ray
        actor_cls = ray.remote(ModelActor)
        task = ray.remote(run_cell)
        out = str(sweep.path.resolve())
        configs = {cell.id: cell.config.model_copy(update={"out": out}) for cell in cells}
        needs, loads = plan_actors(configs)
        replicas = {key: [actor_cls.options(num_gpus=settings.gpus_per_model, num_cpus=settings.cpus_per_model)
                          .remote(key[0], actor_options(key[0], settings), served) for _ in range(settings.replicas)]
                    for key, served in loads.items()}
        console.print(f"[dim]Ray: {len(loads)} model(s) x {settings.replicas} replica(s), "
                      f"{len(cells)} cell(s) at {address}[/dim]")
        refs = {}
        for number, (cell_id, config) in enumerate(configs.items()):
            actors = {family: (key[0], replicas[key][number % settings.replicas])
                      for family, key in needs[cell_id].items()}
            refs[cell_id] = task.options(max_retries=sweep.settings.cell_retries, retry_exceptions=True,
                                         scheduling_strategy="SPREAD").remote(config, actors)
        errors = {}
        for cell_id, ref in refs.items():
            try:
                ray.get(ref)
            except Exception as exc:  # noqa: BLE001 — RayTaskError wraps the cell's own error
                cause = getattr(exc, "cause", None) or exc
                errors[cell_id] = f"{type(cause).__name__}: {cause}"
        return errors
    finally:
        close_actors(ray, [actor for actors in replicas.values() for actor in actors])
        ray.shutdown()


def close_actors(ray: Any, actors: list[Any], timeout: float = 120.0) -> None:
    """Close every model actor's backend; an actor that is gone or does not answer in time is left to Ray."""
    if not actors:
        return
    try:
        ray.get([actor.close.remote() for actor in actors], timeout=timeout)
    except Exception:  # noqa: BLE001 — a dead actor has nothing left to close
        pass
