"""Multimodal questions: every request about the question, in every protocol, carries its images once."""

from __future__ import annotations

import dataclasses

import pytest

from oversight.engine import Engine
from oversight.models.scripted import ScriptedBackend
from oversight.registry import lookup, names
from tests.helpers import make_questions

IMAGES = ("data:image/png;base64,AAAA", "data:image/png;base64,BBBB")


class Watcher(ScriptedBackend):
    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.requests = []

    def generate(self, requests):
        self.requests += requests
        return super().generate(requests)

    def choice(self, requests):
        self.requests += requests
        return super().choice(requests)


@pytest.mark.parametrize("protocol", names("protocol"))
def test_every_request_carries_the_question_images(protocol):
    question = dataclasses.replace(make_questions(1)[0], images=IMAGES)
    agent, judge = Watcher("echo"), Watcher("first")
    impl = lookup("protocol", protocol)(rounds=2, best_of_n=2, bon_scorer="self", temperature=0.5, judge_cot=True)
    Engine({"debater": agent, "consultant": agent, "judge": judge}).run(
        (f"q{i}", episode) for i, (_, episode) in enumerate(impl.episodes(question)))
    requests = agent.requests + judge.requests
    assert requests
    for request in requests:
        attached = [m.images for m in request.messages if m.images]
        assert attached == [IMAGES], (request.role, request.kind)
