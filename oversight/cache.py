"""The response cache: a SQLite file (WAL) that answers repeated model calls, wrapped around any Backend.

`CachedBackend(backend, ResponseCache(path))` behaves like `backend`; each batch is looked up first
and only the misses go to the model, as one batch. A run keeps its cache beside its transcripts
(`runs/<run-id>/cache.sqlite`), so resuming a run — after Ctrl-C, kill -9 or a dead server — replays
every call that had been answered and recomputes nothing; the cache lives and dies with the run
folder (`--fresh` moves both aside).

Key: sha256 over the backend name and model, the messages (role, content, images), the request kind, the
options, the sampling parameters (max_tokens, temperature, seed) and, for sampled requests
(temperature > 0), a sample index: identical sampled requests in one batch (best-of-N sends N of
them) are numbered 0..N-1 by position, so each candidate keeps its own reply. Greedy requests and
choice requests are deterministic and share one entry. The server URL is not part of the key: a
managed server comes back on a new port. Stored: the whole Reply (text, token ids, logprobs, option
probabilities and mass) as JSON; floats round-trip exactly, so cached replays give identical results.

Each batch is one transaction; in WAL mode a committed batch survives kill -9. Failed batches that
carry partial replies (`exc.partial`, as the openai backend's PartialBatchError does) store those
before the error propagates.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from oversight.errors import DataError
from oversight.models.base import Backend
from oversight.types import Reply, Request

CACHE_FILE = "cache.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    reply TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def request_keys(backend: str, model: str, requests: Sequence[Request]) -> list[str]:
    """One cache key per request; identical sampled requests get their position among them as sample index."""
    seen: Counter[str] = Counter()
    keys = []
    for r in requests:
        body = json.dumps({
            "backend": backend, "model": model, "kind": r.kind, "options": list(r.options),
            "messages": [m.to_dict() for m in r.messages],
            # stop sequences join the key only when set, so keys of requests without them stay as they were
            "sampling": [r.sampling.max_tokens, r.sampling.temperature, r.sampling.seed,
                         *([list(r.sampling.stop)] if r.sampling.stop else [])],
        }, sort_keys=True, ensure_ascii=False)
        sampled = r.kind == "generate" and r.sampling.temperature > 0
        index = seen[body] if sampled else 0
        seen[body] += 1
        keys.append(hashlib.sha256(f"{body}#{index}".encode()).hexdigest())
    return keys


def reply_from_json(text: str) -> Reply:
    fields = Reply.__dataclass_fields__
    return Reply(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items() if k in fields})


@dataclass(frozen=True)
class CacheSummary:
    """What one cache file holds, per backend/model/kind."""

    path: Path
    bytes: int
    rows: tuple[tuple[str, str, str, int], ...]
    """(backend, model, kind, entries)."""

    @property
    def entries(self) -> int:
        return sum(row[3] for row in self.rows)


class ResponseCache:
    """One SQLite cache file (created on first use)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a killed process
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DataError(f"response cache {self.path} is not a readable SQLite file ({exc}); delete it "
                            f"(`oversight cache clear {self.path.parent}`) and rerun") from None

    def get_many(self, keys: Sequence[str]) -> dict[str, Reply]:
        found: dict[str, Reply] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # stay under SQLite's bound-variable limit
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, text in self._db.execute(f"SELECT key, reply FROM replies WHERE key IN ({marks})", chunk):
                found[key] = reply_from_json(text)
        return found

    def put_many(self, backend: str, model: str, items: Sequence[tuple[str, str, Reply]]) -> None:
        """Store (key, kind, reply) items in one transaction."""
        if not items:
            return
        now = time.time()
        rows = [(key, backend, model, kind, json.dumps(reply.to_dict()), now) for key, kind, reply in items]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?)", rows)

    def summary(self) -> CacheSummary:
        rows = self._db.execute("SELECT backend, model, kind, COUNT(*) FROM replies "
                                "GROUP BY backend, model, kind ORDER BY backend, model, kind").fetchall()
        size = sum(p.stat().st_size for p in cache_files(self.path) if p.exists())
        return CacheSummary(self.path, size, tuple((b, m, k, int(n)) for b, m, k, n in rows))

    def close(self) -> None:
        self._db.close()


def cache_files(path: Path) -> list[Path]:
    """The database and its WAL companions."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def find_caches(paths: Sequence[Path]) -> list[Path]:
    """Cache files in run folders: each path is a cache file, a run folder, or a parent of run folders."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif (path / CACHE_FILE).is_file():
            found.append(path / CACHE_FILE)
        elif path.is_dir():
            found.extend(sorted(path.glob(f"*/{CACHE_FILE}")))
    return found


def clear_cache(path: Path) -> int:
    """Delete one cache file (and its WAL files); returns the bytes freed."""
    freed = 0
    for file in cache_files(path):
        if file.exists():
            freed += file.stat().st_size
            file.unlink()
    return freed


class CachedBackend(Backend):
    """A Backend answered from a ResponseCache first; counts hits and misses (requests)."""

    def __init__(self, inner: Backend, cache: ResponseCache) -> None:
        super().__init__(inner.model)
        self.inner = inner
        self.name = inner.name  # reports and the engine's timing keys stay those of the real backend
        self.cache = cache
        self.hits = 0
        self.misses = 0

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        return self._answer(requests, "generate", self.inner.generate)

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        return self._answer(requests, "choice", self.inner.choice)

    def _answer(self, requests: Sequence[Request], kind: str,
                call: Callable[[Sequence[Request]], list[Reply]]) -> list[Reply]:
        keys = request_keys(self.inner.name, self.inner.model, requests)
        found = self.cache.get_many(keys)
        # Identical greedy requests share a key: the model answers each distinct key once.
        todo: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in found:
                todo.setdefault(key, i)
        missed = sum(key in todo for key in keys)
        self.misses += missed
        self.hits += len(keys) - missed
        if todo:
            batch = [requests[i] for i in todo.values()]
            try:
                replies = call(batch)
            except Exception as exc:
                partial: dict[int, Reply] = getattr(exc, "partial", None) or {}
                todo_keys = list(todo)
                self.cache.put_many(self.inner.name, self.inner.model,
                                    [(todo_keys[j], kind, reply) for j, reply in partial.items()])
                raise
            self.cache.put_many(self.inner.name, self.inner.model,
                                [(key, kind, reply) for key, reply in zip(todo, replies)])
            found.update(zip(todo, replies))
        return [found[key] for key in keys]

    def close(self) -> None:
        self.inner.close()
