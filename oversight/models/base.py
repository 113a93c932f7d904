"""The backend interface: two batched calls, nothing else.

`generate` answers a batch of chat conversations with text (and tokens/logprobs when the backend
has them). `choice` reads the judge's decision from the next-token distribution: for each request,
P(option) renormalised over the options — never parsed from generated text.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from oversight.types import Reply, Request


class Backend(abc.ABC):
    """One loaded model. Subclasses live in `oversight/models/<name>.py`."""

    name: str = "base"

    def __init__(self, model: str) -> None:
        self.model = model

    @abc.abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        """Answer every request (kind="generate") in one batch, replies in input order."""

    @abc.abstractmethod
    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        """For each request (kind="choice"), P(option) over `request.options`, in input order."""

    def close(self) -> None:
        """Release the model (memory, processes). Safe to call twice."""
