"""The agent models of live items, loaded once per server and shared by every live item that names them.

Each backend answers through a response cache (`--cache`), so replaying a live episode on a page view reads the
turns already generated instead of generating them again; the episode's requests are seeded as in any run.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from oversight.cache import CachedBackend, ResponseCache
from oversight.models.base import Backend
from oversight.specs import ModelSpec
from oversight.store import config_from_saved


class AgentPool:
    """Callable: a live item's source config -> its agent backends (role family -> backend), loaded on first use."""

    def __init__(self, cache: str | Path, console: Console | None = None) -> None:
        self.cache = ResponseCache(cache)
        self.console = console or Console(stderr=True)
        self.loaded: dict[ModelSpec, Backend] = {}
        self.lock = threading.Lock()

    def __call__(self, saved_config: Mapping[str, Any]) -> dict[str, Backend]:
        from oversight.experiments.run import load_models, role_specs
        from oversight.registry import lookup

        config = config_from_saved(dict(saved_config))
        specs = {family: spec for family, spec in role_specs(config, lookup("protocol", config.protocol).roles).items()
                 if family != "judge"}
        with self.lock:
            missing = {family: spec for family, spec in specs.items() if spec not in self.loaded}
            if missing:
                for family, backend in load_models(missing, self.console, config).items():
                    self.loaded[missing[family]] = CachedBackend(backend, self.cache)
            return {family: self.loaded[spec] for family, spec in specs.items()}

    def close(self) -> None:
        for backend in self.loaded.values():
            backend.close()
        self.cache.close()
