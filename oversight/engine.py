"""The engine drives many episodes at once and batches their model requests.

Each episode is a protocol generator that yields a step (a list of Requests) and waits for the
replies. The engine repeatedly gathers the pending step of every live episode, groups the requests by
(backend, kind), sends each group as ONE backend call, and hands the replies back. A debate round
over 64 questions is therefore one batched call per model, not 64 calls — round-synchronous batching
is what lets a sweep run at the backend's speed.

An episode may bring its own role -> backend map (`(key, episode, models)`): a sweep plays the
episodes of several runs in one engine, and requests of different runs that use the same loaded
backend still go out as one call. With `on_error`, an episode whose protocol code raises is dropped
and reported instead of stopping the others (a failing backend call still raises: it belongs to no
single episode).

A backend call that raises an unexpected exception (a crash inside the backend, not one of the
project's errors) is sent again, up to `call_retries` more times: the same requests, so a deterministic backend gives the same
replies and the run's results do not depend on the fault. If it still fails, the engine raises one
BackendError naming the backend and the cause. Episodes that finished before (already passed to
`on_finish`, i.e. on disk) are kept; the runner's resume replays only the rest. Errors the user must
fix, and a BackendError (the backend has already retried what it could, e.g. HTTP with backoff), are
raised at once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from oversight.errors import BackendError, ConfigError, OversightError
from oversight.models.base import Backend
from oversight.types import Episode, Reply, Request, Transcript

OnFinish = Callable[[str, Transcript], None]
OnError = Callable[[str, Exception], None]
EpisodeEntry = tuple[str, Episode] | tuple[str, Episode, Mapping[str, Backend]]


@dataclass
class EngineStats:
    calls: int = 0
    requests: int = 0
    failed_calls: int = 0
    """Backend calls that raised and were retried or reported."""
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Wall time spent inside each backend, keyed by `backend:model`."""


class Engine:
    """Runs episodes against the models assigned to their roles.

    Args:
        models: role -> backend. A role such as `debater_a` falls back to its family `debater`.
        progress: a callable advanced by one per finished episode (e.g. a rich progress task).
        call_retries: extra attempts of a backend call that failed unexpectedly (see the module docstring).
    """

    def __init__(self, models: Mapping[str, Backend], progress: Callable[[], None] | None = None,
                 call_retries: int = 2) -> None:
        self.models = dict(models)
        self.progress = progress
        self.call_retries = call_retries
        self.stats = EngineStats()
        self._episode_models: dict[str, Mapping[str, Backend]] = {}
        """Per-episode role maps of the current `run` (episodes without one use `models`)."""

    def backend_for(self, role: str, models: Mapping[str, Backend] | None = None) -> Backend:
        models = self.models if models is None else models
        for key in (role, role.split("_")[0]):
            if key in models:
                return models[key]
        raise ConfigError(f"no model assigned to role {role!r}; assigned roles: {', '.join(sorted(models))}")

    def run(self, episodes: Iterable[EpisodeEntry], on_finish: OnFinish | None = None,
            on_error: OnError | None = None, *, keep: bool = True, window: int | None = None) -> dict[str, Transcript]:
        """Play every episode to the end; returns key -> transcript (also passed to `on_finish`).

        Streaming (flat memory however many episodes): `keep=False` hands each transcript to
        `on_finish` only and returns nothing, and `window=N` keeps at most N episodes live, taking the
        next ones from the `episodes` iterator as others finish (batches stay N requests wide).
        """
        finished: dict[str, Transcript] = {}
        if window is not None and window < 1:
            raise ConfigError(f"engine window must be at least 1 episode, got {window}")
        live: dict[str, tuple[Episode, list[Request]]] = {}
        self._episode_models = {}

        def advance(key: str, episode: Episode, replies: list[Reply] | None) -> None:
            try:
                step = next(episode) if replies is None else episode.send(replies)
            except StopIteration as stop:
                if keep:
                    finished[key] = stop.value
                live.pop(key, None)
                if on_finish is not None:
                    on_finish(key, stop.value)
                if self.progress is not None:
                    self.progress()
                return
            except Exception as exc:  # the protocol's own code failed on this episode
                if on_error is None:
                    raise
                live.pop(key, None)
                on_error(key, exc)
                return
            live[key] = (episode, list(step))

        pending = iter(episodes)

        def start_more() -> None:
            while window is None or len(live) < window:
                entry = next(pending, None)
                if entry is None:
                    return
                key, episode, *models = entry
                if models:
                    self._episode_models[key] = models[0]
                advance(key, episode, None)

        start_more()
        while live:
            replies = self._answer_all({key: step for key, (_, step) in live.items()})
            for key, (episode, _) in list(live.items()):
                advance(key, episode, replies[key])
                if key not in live:  # finished: forget its role map too
                    self._episode_models.pop(key, None)
            start_more()
        return finished

    def _answer_all(self, steps: Mapping[str, list[Request]]) -> dict[str, list[Reply]]:
        """One backend call per (backend, kind) covering every pending request."""
        groups: dict[tuple[int, str], list[tuple[str, int, Request]]] = defaultdict(list)
        backends: dict[int, Backend] = {}
        for key, step in steps.items():
            for index, request in enumerate(step):
                backend = self.backend_for(request.role, self._episode_models.get(key))
                backends[id(backend)] = backend
                groups[(id(backend), request.kind)].append((key, index, request))
        out: dict[str, list[Reply | None]] = {key: [None] * len(step) for key, step in steps.items()}
        for (backend_id, kind), members in groups.items():
            backend = backends[backend_id]
            batch = [request for _, _, request in members]
            start = time.perf_counter()
            replies = self._call(backend, kind, batch)
            self.stats.seconds[f"{backend.name}:{backend.model}"] += time.perf_counter() - start
            self.stats.calls += 1
            self.stats.requests += len(batch)
            if len(replies) != len(batch):
                raise BackendError(f"backend {backend.name}:{backend.model} returned {len(replies)} replies "
                                   f"for {len(batch)} requests; this is a backend bug, please report it")
            for (key, index, _), reply in zip(members, replies):
                out[key][index] = reply
        return out  # type: ignore[return-value]

    def _call(self, backend: Backend, kind: str, batch: list[Request]) -> list[Reply]:
        """One backend call, retried on unexpected faults (see the module docstring)."""
        last: Exception | None = None
        for _ in range(self.call_retries + 1):
            try:
                return backend.generate(batch) if kind == "generate" else backend.choice(batch)
            except OversightError:
                raise  # the backend's own report (it already retried what it could), or bad input
            except Exception as exc:  # noqa: BLE001 — a backend fault: retried, then reported as a BackendError
                self.stats.failed_calls += 1
                last = exc
        raise BackendError(
            f"backend {backend.name}:{backend.model} failed on a {kind} call of {len(batch)} request(s) "
            f"{self.call_retries + 1} times; last error: {type(last).__name__}: {last}. Episodes finished so far "
            "are saved: fix the cause and rerun the same command to resume") from last
