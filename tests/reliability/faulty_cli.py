"""The `oversight` command with faults injected into the scripted backend (for kill -9 soak runs).

`python -m tests.reliability.faulty_cli run debate ...` behaves like `oversight run debate ...`, except
that every scripted backend call goes through `Faults` configured from the environment:
`FAULT_RATE` (probability a call raises), `FAULT_DELAY` (max seconds of sleep per call),
`FAULT_INVALID` (share of judge requests answered with a malformed reply), `FAULT_SEED`, and every
finished episode is stored after `FAULT_APPEND_SECONDS` (so a kill lands between appends).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from typing import Any

from oversight import cli
from oversight.models.scripted import ScriptedBackend
from oversight.store import RunStore
from oversight.types import Reply, Request
from tests.reliability.faults import Faults


def main() -> None:
    faults = Faults(fail_rate=float(os.environ.get("FAULT_RATE", "0")),
                    max_delay=float(os.environ.get("FAULT_DELAY", "0")),
                    invalid_rate=float(os.environ.get("FAULT_INVALID", "0")),
                    seed=int(os.environ.get("FAULT_SEED", "0")))
    append_delay = float(os.environ.get("FAULT_APPEND_SECONDS", "0"))
    generate, choice, append = ScriptedBackend.generate, ScriptedBackend.choice, RunStore.append

    @functools.wraps(generate)
    def faulty_generate(self: ScriptedBackend, requests: Sequence[Request]) -> list[Reply]:
        faults.before_call()
        return generate(self, requests)

    @functools.wraps(choice)
    def faulty_choice(self: ScriptedBackend, requests: Sequence[Request]) -> list[Reply]:
        faults.before_call()
        return faults.judge_replies(requests, choice(self, requests))

    @functools.wraps(append)
    def slow_append(self: RunStore, *args: Any, **kwargs: Any) -> None:
        time.sleep(append_delay)
        return append(self, *args, **kwargs)

    ScriptedBackend.generate, ScriptedBackend.choice, RunStore.append = faulty_generate, faulty_choice, slow_append
    cli.main()


if __name__ == "__main__":
    main()
