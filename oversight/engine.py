"""The engine drives many episodes at once and batches their model requests.

Each episode is a protocol generator that yields a step (a list of Requests) and waits for the
replies. The engine repeatedly gathers the pending step of every live episode, groups the requests by
(backend, kind), sends each group as ONE backend call, and hands the replies back. A debate round
over 64 questions is therefore one batched call per model, not 64 calls — round-synchronous batching
is what lets a sweep run at the backend's speed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from oversight.errors import BackendError, ConfigError
from oversight.models.base import Backend
from oversight.types import Reply, Request, Transcript
from protocols.base import Episode

OnFinish = Callable[[str, Transcript], None]


@dataclass
class EngineStats:
    calls: int = 0
    requests: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Wall time spent inside each backend, keyed by `backend:model`."""


class Engine:
    """Runs episodes against the models assigned to their roles.

    Args:
        models: role -> backend. A role such as `debater_a` falls back to its family `debater`.
        progress: a callable advanced by one per finished episode (e.g. a rich progress task).
    """

    def __init__(self, models: Mapping[str, Backend], progress: Callable[[], None] | None = None) -> None:
        self.models = dict(models)
        self.progress = progress
        self.stats = EngineStats()

    def backend_for(self, role: str) -> Backend:
        for key in (role, role.split("_")[0]):
            if key in self.models:
                return self.models[key]
        raise ConfigError(f"no model assigned to role {role!r}; assigned roles: {', '.join(sorted(self.models))}")

    def run(self, episodes: Iterable[tuple[str, Episode]], on_finish: OnFinish | None = None) -> dict[str, Transcript]:
        """Play every episode to the end; returns key -> transcript (also passed to `on_finish`)."""
        finished: dict[str, Transcript] = {}
        live: dict[str, tuple[Episode, list[Request]]] = {}

        def advance(key: str, episode: Episode, replies: list[Reply] | None) -> None:
            try:
                step = next(episode) if replies is None else episode.send(replies)
            except StopIteration as stop:
                finished[key] = stop.value
                live.pop(key, None)
                if on_finish is not None:
                    on_finish(key, stop.value)
                if self.progress is not None:
                    self.progress()
                return
            live[key] = (episode, list(step))

        for key, episode in episodes:
            advance(key, episode, None)
        while live:
            replies = self._answer_all({key: step for key, (_, step) in live.items()})
            for key, (episode, _) in list(live.items()):
                advance(key, episode, replies[key])
        return finished

    def _answer_all(self, steps: Mapping[str, list[Request]]) -> dict[str, list[Reply]]:
        """One backend call per (backend, kind) covering every pending request."""
        groups: dict[tuple[int, str], list[tuple[str, int, Request]]] = defaultdict(list)
        for key, step in steps.items():
            for index, request in enumerate(step):
                groups[(id(self.backend_for(request.role)), request.kind)].append((key, index, request))
        out: dict[str, list[Reply | None]] = {key: [None] * len(step) for key, step in steps.items()}
        for (_, kind), members in groups.items():
            backend = self.backend_for(members[0][2].role)
            batch = [request for _, _, request in members]
            start = time.perf_counter()
            replies = backend.generate(batch) if kind == "generate" else backend.choice(batch)
            self.stats.seconds[f"{backend.name}:{backend.model}"] += time.perf_counter() - start
            self.stats.calls += 1
            self.stats.requests += len(batch)
            if len(replies) != len(batch):
                raise BackendError(f"backend {backend.name}:{backend.model} returned {len(replies)} replies "
                                   f"for {len(batch)} requests; this is a backend bug, please report it")
            for (key, index, _), reply in zip(members, replies):
                out[key][index] = reply
        return out  # type: ignore[return-value]
