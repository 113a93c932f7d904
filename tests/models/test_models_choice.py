"""Fast tests of oversight.models.choice with a fake tokenizer (no model, no torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oversight.errors import ConfigError
from oversight.models.choice import (
    choice_probs,
    continues_final,
    encode_prompt,
    option_probs,
    option_token_ids,
    option_tokens,
    render_prompt,
)
from oversight.types import Message


class FakeTokenizer:
    """Greedy longest-match tokenizer over a fixed vocabulary; records chat-template calls."""

    def __init__(self, vocab: list[str], chat_template: str | None = "fake") -> None:
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.inv = dict(enumerate(vocab))
        self.chat_template = chat_template
        self.name_or_path = "fake"
        self.calls: list[dict] = []

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        assert add_special_tokens is False
        out, i = [], 0
        while i < len(text):
            for j in range(len(text), i, -1):
                if text[i:j] in self.vocab:
                    out.append(self.vocab[text[i:j]])
                    i = j
                    break
            else:
                raise ValueError(f"untokenizable {text[i:]!r}")
        return out

    def decode(self, ids: list[int]) -> str:
        return "".join(self.inv[i] for i in ids)

    def apply_chat_template(self, messages, tokenize, add_generation_prompt, continue_final_message):
        self.calls.append(dict(add_generation_prompt=add_generation_prompt,
                               continue_final_message=continue_final_message))
        text = "".join(f"<{m['role']}>{m['content']}" for m in messages)
        if continue_final_message:
            return text
        text += "</end>"
        return text + ("<assistant>" if add_generation_prompt else "")


# GPT-2 style: " A" is one token.
BPE = FakeTokenizer(["A", "B", " A", " B", " ", "1", "2", "0", "C", "x"])
# Qwen style: digits never merge with the preceding space.
SPLIT = FakeTokenizer(["1", "2", "0", " ", "A", "B"])


def test_labels_with_and_without_space():
    ids = option_token_ids(BPE, ("A", "B"))
    assert ids == ((BPE.vocab["A"], BPE.vocab[" A"]), (BPE.vocab["B"], BPE.vocab[" B"]))


def test_bare_space_first_token_is_ignored():
    # " 1" -> [" ", "1"]: the space token says nothing about the option, so it is skipped.
    assert option_token_ids(SPLIT, ("1", "2")) == ((SPLIT.vocab["1"],), (SPLIT.vocab["2"],))


def test_split_space_labels_get_an_after_space_route():
    spec = option_tokens(SPLIT, ("1", "2"))
    one, two, sp = SPLIT.vocab["1"], SPLIT.vocab["2"], SPLIT.vocab[" "]
    assert spec.direct == ((one,), (two,))
    assert spec.space == sp
    assert spec.after_space == ((one,), (two,))
    assert spec.queries() == [((), tuple(sorted({one, two, sp}))), ((sp,), (one, two))]


def test_merged_space_labels_need_one_query():
    spec = option_tokens(BPE, ("A", "B"))
    assert spec.space is None and spec.after_space == ()
    assert spec.queries() == [((), tuple(sorted({0, 1, 2, 3})))]


def test_choice_probs_marginalises_over_both_spellings():
    spec = option_tokens(SPLIT, ("1", "2"))
    one, two, sp = SPLIT.vocab["1"], SPLIT.vocab["2"], SPLIT.vocab[" "]
    first = {one: math.log(0.1), two: math.log(0.05), sp: math.log(0.5)}
    # Full vector over SPLIT's vocabulary ("1", "2", "0", " ", "A", "B") after prompt + " ".
    after = np.log(np.array([0.6, 0.2, 0.01, 0.19, 1e-9, 1e-9]))
    probs, mass = choice_probs(spec, [first, after])
    # P(1) = 0.1 + 0.5 * 0.6 = 0.4 ; P(2) = 0.05 + 0.5 * 0.2 = 0.15
    assert mass == pytest.approx(0.55)
    assert probs == pytest.approx((0.4 / 0.55, 0.15 / 0.55))
    with pytest.raises(ValueError):
        choice_probs(spec, [first])


def test_choice_probs_single_query_equals_option_probs():
    spec = option_tokens(BPE, ("A", "B"))
    lp = np.log(np.array([0.1, 0.2, 0.3, 0.1, 0.1, 0.05, 0.05, 0.05, 0.04, 0.01]))
    (p1, m1), (p2, m2) = choice_probs(spec, [lp]), option_probs(lp, spec.direct)
    assert p1 == pytest.approx(p2) and m1 == pytest.approx(m2)
    assert m1 == pytest.approx(0.7)


def test_shared_first_token_is_rejected():
    with pytest.raises(ConfigError, match="same token"):
        option_token_ids(SPLIT, ("10", "12"))


@pytest.mark.parametrize("options", [("A",), ("A", "A"), ("A", " ")])
def test_bad_option_sets(options):
    with pytest.raises(ConfigError):
        option_token_ids(BPE, options)


def test_probs_from_full_vector_sum_over_variants():
    ids = ((0, 2), (1, 3))
    p = np.full(10, 0.0)
    p[[0, 2, 1, 3]] = [0.1, 0.3, 0.05, 0.15]  # A: 0.4, B: 0.2, rest elsewhere
    p[9] = 0.4
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    probs, mass = option_probs(lp, ids)
    assert probs == pytest.approx((2 / 3, 1 / 3))
    assert sum(probs) == pytest.approx(1.0)
    assert mass == pytest.approx(0.6)
    # A plain list works the same.
    probs2, mass2 = option_probs(list(lp), ids)
    assert probs2 == pytest.approx(probs) and mass2 == pytest.approx(mass)


def test_probs_from_dict_missing_tokens_are_zero():
    class Logprob:  # like vllm.logprobs.Logprob
        def __init__(self, v):
            self.logprob = v

    ids = ((5,), (6, 7))
    probs, mass = option_probs({5: math.log(0.2), 6: Logprob(math.log(0.05)), 42: 0.0}, ids)
    assert probs == pytest.approx((0.8, 0.2))
    assert mass == pytest.approx(0.25)


def test_probs_in_option_order():
    probs, _ = option_probs({1: math.log(0.9), 0: math.log(0.1)}, ((1,), (0,)))
    assert probs == pytest.approx((0.9, 0.1))


def test_no_mass_gives_uniform_and_zero():
    probs, mass = option_probs({}, ((1,), (2,), (3,)))
    assert probs == pytest.approx((1 / 3,) * 3)
    assert mass == 0.0


def test_tiny_mass_is_still_renormalised_exactly():
    probs, mass = option_probs({1: -200.0, 2: -201.0}, ((1,), (2,)))
    assert probs[0] == pytest.approx(1 / (1 + math.exp(-1)))
    assert 0.0 <= mass < 1e-80


def test_render_continues_a_final_assistant_message():
    tok = FakeTokenizer(["x"])
    msgs = (Message("user", "Q?"), Message("assistant", "Answer:"))
    assert continues_final(msgs)
    text = render_prompt(tok, msgs)
    assert text.endswith("<assistant>Answer:")
    assert tok.calls[-1] == dict(add_generation_prompt=False, continue_final_message=True)


def test_render_opens_a_new_turn_after_user():
    tok = FakeTokenizer(["x"])
    text = render_prompt(tok, (Message("system", "S"), Message("user", "Q?")))
    assert text.endswith("</end><assistant>")
    assert tok.calls[-1] == dict(add_generation_prompt=True, continue_final_message=False)


def test_encode_prompt_adds_no_special_tokens():
    tok = FakeTokenizer(list("<>abcdefghijklmnopqrstuvwxyzAQ:?/ "))
    ids = encode_prompt(tok, (Message("user", "Q?"),))
    assert tok.decode(ids) == "<user>Q?</end><assistant>"


def test_missing_chat_template_is_a_config_error():
    with pytest.raises(ConfigError, match="chat template"):
        render_prompt(FakeTokenizer(["x"], chat_template=None), (Message("user", "hi"),))
    with pytest.raises(ConfigError):
        render_prompt(FakeTokenizer(["x"]), ())


def test_top_is_option_follows_the_greedy_label():
    from oversight.models.choice import top_is_option

    spec = option_tokens(SPLIT, ("1", "2"))
    one, sp, a = SPLIT.vocab["1"], SPLIT.vocab[" "], SPLIT.vocab["A"]
    assert top_is_option(spec, [one, None]) is True
    assert top_is_option(spec, [a, one]) is False  # wanted to say "A"
    assert top_is_option(spec, [sp, one]) is True  # " 1", split
    assert top_is_option(spec, [sp, a]) is False  # " A"
    assert top_is_option(spec, [None, None]) is None and top_is_option(spec, []) is None
    merged = option_tokens(BPE, ("A", "B"))
    assert top_is_option(merged, [BPE.vocab[" B"]]) is True and top_is_option(merged, [BPE.vocab["x"]]) is False


def test_a_judge_restating_the_label_word_is_not_called_invalid():
    """"Answer: Answer 1" (Qwen2.5-0.5B's habit): the top token " Answer" says nothing about the label."""
    from types import SimpleNamespace

    from oversight.models.choice import OptionTokens, top_is_option
    from oversight.models.openai import greedy_is_option

    spec = OptionTokens(("1", "2"), ((5,), (6,)), echo=(9,))
    assert top_is_option(spec, [5]) is True and top_is_option(spec, [7]) is False
    assert top_is_option(spec, [9]) is None
    positions = [SimpleNamespace(token=" Answer"), SimpleNamespace(token=" 1")]
    assert greedy_is_option(positions, ("1", "2")) is None
    assert greedy_is_option([SimpleNamespace(token=" The")], ("1", "2")) is False
