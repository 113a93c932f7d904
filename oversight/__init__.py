"""oversight: scalable-oversight protocols (debate, consultancy, direct QA) judged by weak models.

From Python, what the commands do:

    import oversight
    run = oversight.run("debate", task="math", limit=8, rounds=1)   # as `oversight run`; rerunning resumes
    run.results, run.transcripts(), run.path
    oversight.sweep("configs/laptop.yaml")                          # as `oversight sweep FILE` (or a dict)
    oversight.load("runs/debate-math-1a2b3c4d")                     # a finished run folder; runs nothing

They live in `oversight.experiments.api`, imported on first use, so `import oversight` stays light and this
package's own modules never import the experiment drivers.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = ("run", "sweep", "load", "Run", "SweepRuns")
__all__ = list(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module("oversight.experiments.api"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
