"""The `oversight` command with the scripted backend slowed down, so a test can kill it midway.

`python -m tests.serving.slow_cli run debate ...` behaves like `oversight run debate ...`, except that
every scripted backend call sleeps `$SLOW_CALL_SECONDS` and every finished episode is stored after
`$SLOW_APPEND_SECONDS` (so a kill can land between two episodes as well as inside a model call).
"""

from __future__ import annotations

import functools
import os
import time

from oversight import cli
from oversight.models.scripted import ScriptedBackend
from oversight.store import RunStore


def _slowed(method, seconds: float):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        time.sleep(seconds)
        return method(*args, **kwargs)

    return wrapper


if __name__ == "__main__":
    call, append = float(os.environ.get("SLOW_CALL_SECONDS", "0")), float(os.environ.get("SLOW_APPEND_SECONDS", "0"))
    ScriptedBackend.generate = _slowed(ScriptedBackend.generate, call)
    ScriptedBackend.choice = _slowed(ScriptedBackend.choice, call)
    RunStore.append = _slowed(RunStore.append, append)
    cli.main()
