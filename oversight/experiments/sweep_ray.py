"""Run a sweep's cells on an existing Ray cluster (`oversight sweep FILE --ray ADDRESS`).

Ray does the scheduling and the remote calls; this module only says what to place where:

- one **model actor** per model spec and replica (`ray.replicas`), holding the loaded backend
  (a vLLM engine on GPU machines). Each actor asks Ray for `ray.gpus_per_model` GPUs and
  `ray.cpus_per_model` CPUs; vLLM actors get `tensor_parallel_size = ray.tensor_parallel`;
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
    """Holds one loaded backend on a Ray node; becomes a Ray actor in `run_on_ray`."""

    def __init__(self, spec: ModelSpec, options: dict[str, Any]) -> None:
        self.backend = load_backend(spec, **options)

    def generate(self, requests: list[Request]) -> list[Reply]:
        return self.backend.generate(requests)

    def choice(self, requests: list[Request]) -> list[Reply]:
        return self.backend.choice(requests)


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


def run_on_ray(cells: list[Cell], sweep: Sweep, console: Console, address: str) -> dict[str, str]:
    """Run `cells` on the cluster at `address`; returns cell id -> error for cells that failed every try."""
    if not cells:
        return {}
    ray = import_ray()
    env = {DATA_DIR_ENV: str(Path(os.environ[DATA_DIR_ENV]).resolve())} if os.environ.get(DATA_DIR_ENV) else {}
    ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False, logging_level="ERROR")
    try:
        settings = sweep.settings.ray
        actor_cls = ray.remote(ModelActor)
        task = ray.remote(run_cell)
        out = str(sweep.path.resolve())
        configs = {cell.id: cell.config.model_copy(update={"out": out}) for cell in cells}
        from oversight.registry import lookup
        from oversight.experiments.run import role_specs

        needs = {cell_id: role_specs(config, lookup("protocol", config.protocol).roles)
                 for cell_id, config in configs.items()}
        specs = sorted({spec for by_family in needs.values() for spec in by_family.values()}, key=str)
        replicas = {spec: [actor_cls.options(num_gpus=settings.gpus_per_model, num_cpus=settings.cpus_per_model)
                           .remote(spec, actor_options(spec, settings)) for _ in range(settings.replicas)]
                    for spec in specs}
        console.print(f"[dim]Ray: {len(specs)} model(s) x {settings.replicas} replica(s), "
                      f"{len(cells)} cell(s) at {address}[/dim]")
        refs = {}
        for number, (cell_id, config) in enumerate(configs.items()):
            actors = {family: (spec, replicas[spec][number % settings.replicas])
                      for family, spec in needs[cell_id].items()}
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
        ray.shutdown()
