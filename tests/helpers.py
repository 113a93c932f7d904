"""Small builders shared by the fast tests."""

from __future__ import annotations

from collections.abc import Sequence

from oversight.models.base import Backend
from oversight.models.scripted import ScriptedBackend
from oversight.types import Question, Reply, Request


def make_questions(n: int, context: str | None = None) -> list[Question]:
    return [Question(id=f"q{i}", task="toy", question=f"What is {i} + {i}?",
                     answers=(f"It is {2 * i}.", f"It is {2 * i + 1}."), correct_index=0, context=context)
            for i in range(n)]


class Recorder(Backend):
    """Answers like a debater with a private thought and records every prompt it was shown."""

    name = "recorder"

    def __init__(self, judge_pick: int = 0) -> None:
        super().__init__("recorder")
        self.seen: list[Request] = []
        self.judge_pick = judge_pick

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        self.seen += requests
        return [Reply(text=f"<thinking>SECRET-{r.role}</thinking><argument>PUBLIC-{r.role}</argument>")
                for r in requests]

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        self.seen += requests
        probs = [0.2, 0.2]
        probs[self.judge_pick] = 0.8
        return [Reply(option_probs=tuple(probs), option_mass=1.0) for _ in requests]


def prompt(request: Request) -> str:
    return "\n".join(m.content for m in request.messages)


class CountingScripted(ScriptedBackend):
    """The scripted backend, counting the requests it answers."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.requests = 0

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        self.requests += len(requests)
        return super().generate(requests)

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        self.requests += len(requests)
        return super().choice(requests)


class PromptSpy(ScriptedBackend):
    """The scripted backend, remembering the prompt of every generate request by its role and reply text."""

    def __init__(self, model: str = "echo") -> None:
        super().__init__(model)
        self.prompts: dict[tuple[str, str], tuple] = {}

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        replies = super().generate(requests)
        for request, reply in zip(requests, replies):
            self.prompts[(request.role, reply.text)] = request.messages
        return replies
