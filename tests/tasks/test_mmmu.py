"""tasks/mmmu.py and the multimodal path: images on the question, image parts in chat messages, and the
clear refusal of the text-only backends."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest

from oversight import prompts
from oversight.errors import ConfigError, DataError
from oversight.models.choice import render_prompt
from oversight.models.scripted import ScriptedBackend
from oversight.types import JudgeDecision, Message, Question, Transcript
from tasks import load_questions
from tests.tasks.checks import assert_well_formed


@pytest.fixture(scope="module")
def mmmu(data_dir: Path) -> list[Question]:
    return load_questions("mmmu")


def test_sample_loads_with_its_images(mmmu: list[Question], data_dir: Path) -> None:
    assert len(mmmu) == 21
    assert_well_formed(mmmu, "mmmu")
    assert all(q.images and all(Path(p).is_file() for p in q.images) for q in mmmu)
    assert sum(len(q.images) for q in mmmu) == 25
    music = next(q for q in mmmu if len(q.images) == 5)  # options are images themselves
    assert Path(music.images[0]).name == "test_Music_251_1.png"
    assert set(music.answers) <= {"<image 2>", "<image 3>", "<image 4>", "<image 5>"}
    assert music.answers[0] == "<image 4>"  # gold letter A
    first = mmmu[0]
    assert first.answers[0] == "The patient has a ruptured esophagus" and first.meta["gold_letter"] == "A"
    assert first.answers[1] == first.meta["options"]["ABCDEFGHIJ".index(first.meta["incorrect_letter"])]


def test_sample_is_deterministic(mmmu: list[Question]) -> None:
    a = load_questions("mmmu", limit=5, seed=4)
    assert [(q.id, q.answers, q.images) for q in a] == [(q.id, q.answers, q.images) for q in
                                                         load_questions("mmmu", limit=5, seed=4)]
    assert all(q.answers == mmmu[q.meta["source_index"]].answers for q in a)


def test_questions_with_images_round_trip_through_json(mmmu: list[Question]) -> None:
    q = mmmu[5]
    back = Question.from_dict(json.loads(json.dumps(q.to_dict())))
    assert back == q and back.images == q.images
    t = Transcript("debate", q, (), JudgeDecision((0.4, 0.6), 1))
    assert Transcript.from_dict(json.loads(json.dumps(t.to_dict()))).question.images == q.images
    plain = Question("x/1", "t", "Q?", ("a", "b"), 0)
    assert Question.from_dict({k: v for k, v in plain.to_dict().items() if k != "images"}) == plain  # old records


def test_images_become_openai_image_parts(mmmu: list[Question]) -> None:
    openai_types = pytest.importorskip("openai.types.chat")
    from pydantic import TypeAdapter

    part_schema = TypeAdapter(openai_types.ChatCompletionContentPartParam)
    q = next(q for q in mmmu if len(q.images) == 5)
    message = Message("user", "Look:", q.images).to_openai()
    assert message["role"] == "user" and message["content"][0] == {"type": "text", "text": "Look:"}
    parts = message["content"][1:]
    assert [p["text"] for p in parts[0::2]] == [f"<image {n}>" for n in range(1, 6)]
    for part, path in zip(parts[1::2], q.images):
        part_schema.validate_python(part)  # what the OpenAI API and vLLM's server accept
        url = part["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == Path(path).read_bytes()
    assert Message("user", "plain").to_openai() == {"role": "user", "content": "plain"}
    assert Message("user", "u", ("https://x/y.png",)).to_openai()["content"][2]["image_url"]["url"] == "https://x/y.png"
    with pytest.raises(DataError, match=r"image '/nowhere\.png' cannot be read"):
        Message("user", "u", ("/nowhere.png",)).to_openai()


def test_attach_images_puts_them_on_the_first_user_message_only(mmmu: list[Question]) -> None:
    q = mmmu[0]
    messages = (Message("system", "S"), Message("user", "first"), Message("assistant", "A"), Message("user", "more"))
    out = prompts.attach_images(messages, q.images)
    assert [m.images for m in out] == [(), q.images, (), ()]
    assert [m.content for m in out] == [m.content for m in messages]
    assert prompts.attach_images(messages, ()) is messages
    assert prompts.attach_images(out, q.images) == out  # attaching twice does not duplicate
    with pytest.raises(ConfigError, match="no user message"):
        prompts.attach_images((Message("system", "S"),), q.images)


def test_debate_requests_for_an_mmmu_question_carry_its_images(mmmu: list[Question]) -> None:
    """A debate episode on an MMMU question, driven by hand with the scripted backend: every request, once
    `attach_images(request.messages, question.images)` is applied (the protocols' hook), carries the
    question's images on its first user message, and converts to OpenAI image parts."""
    from oversight.registry import lookup
    from protocols.base import ProtocolOptions

    q = mmmu[0]
    episode = lookup("protocol", "debate")(ProtocolOptions(rounds=1, max_tokens=8)).run(q)
    backend, seen, replies = ScriptedBackend("echo"), [], None
    try:
        while True:
            step = episode.send(replies) if replies is not None else next(episode)
            step = [dataclasses.replace(r, messages=prompts.attach_images(r.messages, q.images)) for r in step]
            seen += step
            replies = [(backend.choice if r.kind == "choice" else backend.generate)([r])[0] for r in step]
    except StopIteration as stop:
        transcript = stop.value
    assert {r.role for r in seen} >= {"debater_a", "debater_b", "judge"}
    assert transcript.decision.verdict in (0, 1)
    for request in seen:
        first_user = next(m for m in request.messages if m.role == "user")
        assert first_user.images == q.images and "<image 1>" in first_user.content
        assert all(not m.images for m in request.messages if m is not first_user)
        payload = [m.to_openai() for m in request.messages]
        assert sum(p["type"] == "image_url" for m in payload if isinstance(m["content"], list)
                   for p in m["content"]) == len(q.images)


def test_text_only_backends_refuse_images_clearly() -> None:
    class Tokenizer:
        chat_template = "{{ messages }}"
        name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"

        def apply_chat_template(self, messages, **_: object) -> str:
            return str(messages)

    with pytest.raises(ConfigError, match=r"carries 2 image\(s\).*SmolLM2-135M-Instruct.*text-only"):
        render_prompt(Tokenizer(), (Message("user", "What is shown?", ("a.png", "b.png")),))
    assert render_prompt(Tokenizer(), (Message("user", "text"),))


@pytest.mark.parametrize("change, message", [
    ({"answer": "K"}, r"'answer' must be a letter A-D"),
    ({"image_1": "images/missing.png"}, r"image_1 'images/missing.png' not found"),
    ({"image_1": None}, r"no image"),
    ({"image_3": "images/x.png"}, r"without gaps"),
    ({"options": ["only one"]}, r"at least two non-empty 'options'"),
])
def test_malformed_items_name_file_and_line(tmp_path: Path, data_dir: Path, change: dict, message: str) -> None:
    image = data_dir / "mmmu_pro_tool_sample" / "images" / "ai2d_00002168.png"
    good = {"question": "<image 1> Ovum and sperm make what?", "options": ["Polyp", "Zygote", "Branch", "Planula"],
            "answer": "B", "image_1": str(image)}
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, **change}) + "\n")
    with pytest.raises(DataError, match=rf"{path}:2: .*{message}"):
        load_questions("mmmu", data=path)
