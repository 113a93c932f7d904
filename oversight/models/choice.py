"""Shared helpers of the local backends (hf, vllm): chat rendering and judge decisions.

A judge decision is read from the next-token distribution after the prompt, never parsed from text:

* `option_token_ids(tokenizer, ("A", "B"))` -> for each option, the token ids that can start it
  (the label with and without a leading space, first token only);
* `option_probs(logprobs, ids)` -> P(option) renormalised over the options, plus the total
  unnormalised probability mass the model put on them (low mass = the judge wanted to say
  something else; protocols may treat that as invalid).

`render_prompt`/`encode_prompt` turn a Request's messages into the exact prompt both backends feed
the model, so hf and vllm see identical token ids.

No torch import here: log-probs may be a list, a numpy array, a torch tensor or a dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from oversight.errors import ConfigError
from oversight.types import Message, Request


def option_token_ids(tokenizer: Any, options: Sequence[str]) -> tuple[tuple[int, ...], ...]:
    """For each option label, the distinct token ids that start it.

    Both `label` and `" " + label` are tokenized (no special tokens) and the first token kept,
    unless that token is only whitespace (tokenizers that split the space off, e.g. Qwen's digits):
    a bare-space token says nothing about which option follows. Raises ConfigError when an option
    yields no token or two options share a starting token (e.g. "10" and "12" under a tokenizer that
    splits digits): their probabilities could not be told apart.
    """
    if len(options) < 2:
        raise ConfigError(f"a choice needs at least two options, got {list(options)!r}")
    if len(set(options)) != len(options):
        raise ConfigError(f"choice options must be distinct, got {list(options)!r}")
    result: list[tuple[int, ...]] = []
    owner: dict[int, str] = {}
    for label in options:
        if not label or not label.strip():
            raise ConfigError(f"choice option labels must be non-blank, got {label!r} in {list(options)!r}")
        ids: list[int] = []
        for variant in (label, " " + label.lstrip()):
            toks = tokenizer.encode(variant, add_special_tokens=False)
            if not toks:
                continue
            first = int(toks[0])
            if not tokenizer.decode([first]).strip():
                continue
            if first not in ids:
                ids.append(first)
        if not ids:
            raise ConfigError(f"choice option {label!r} does not tokenize to any usable token")
        for t in ids:
            if t in owner and owner[t] != label:
                raise ConfigError(
                    f"choice options {owner[t]!r} and {label!r} start with the same token "
                    f"({tokenizer.decode([t])!r}, id {t}); use labels that differ in their first "
                    "character, e.g. ('A', 'B') or ('1', '2')"
                )
            owner[t] = label
        result.append(tuple(ids))
    return tuple(result)


def _logsumexp(xs: Sequence[float]) -> float:
    m = max(xs)
    if m == -math.inf:
        return -math.inf
    return m + math.log(sum(math.exp(x - m) for x in xs))


def option_probs(
    logprobs: Any, option_ids: Sequence[Sequence[int]]
) -> tuple[tuple[float, ...], float]:
    """(P(option) renormalised over the options, in option order; total mass on the options).

    `logprobs` is a full-vocabulary log-prob vector (list, numpy array, 1-D torch tensor) or a
    mapping token_id -> logprob (missing ids count as probability 0; values may be vLLM `Logprob`
    objects). The probability of an option is the sum over its starting tokens. When the options
    carry no mass at all the probabilities are uniform and the mass is 0.0.
    """
    if isinstance(logprobs, Mapping):
        def lp(t: int) -> float:
            v = logprobs.get(t)
            if v is None:
                return -math.inf
            return float(getattr(v, "logprob", v))
    else:
        if hasattr(logprobs, "detach"):  # torch tensor: one gather, then plain floats
            logprobs = logprobs.detach().float().cpu()
        flat = sorted({t for ids in option_ids for t in ids})
        table = {t: float(logprobs[t]) for t in flat}

        def lp(t: int) -> float:
            return table[t]

    per_option = [_logsumexp([lp(t) for t in ids]) for ids in option_ids]
    total = _logsumexp(per_option)
    if total == -math.inf or math.isnan(total):
        n = len(option_ids)
        return tuple(1.0 / n for _ in range(n)), 0.0
    probs = tuple(math.exp(x - total) for x in per_option)
    return probs, min(1.0, math.exp(total))


def continues_final(messages: Sequence[Message]) -> bool:
    """True when the last message is an assistant message, which is continued, not closed."""
    return bool(messages) and messages[-1].role == "assistant"


def render_prompt(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The chat prompt text for `messages`.

    A trailing assistant message (e.g. "Answer:" for a judge's choice, or a prefilled opening for a
    generation) is continued: `continue_final_message=True, add_generation_prompt=False`, so the
    next token is the continuation. Otherwise the prompt ends with the assistant generation prompt.
    """
    if not messages:
        raise ConfigError("a request needs at least one message")
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "?")
        raise ConfigError(
            f"the tokenizer of model {name!r} has no chat template; use an instruct/chat model "
            "(e.g. embedded:smollm2-135m) or one whose tokenizer_config carries a chat_template"
        )
    cont = continues_final(messages)
    return tokenizer.apply_chat_template(
        [m.to_dict() for m in messages],
        tokenize=False,
        add_generation_prompt=not cont,
        continue_final_message=cont,
    )


def encode_prompt(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """Token ids of `render_prompt` (the template already holds any BOS: no special tokens added)."""
    return list(tokenizer.encode(render_prompt(tokenizer, messages), add_special_tokens=False))


def check_kind(requests: Sequence[Request], kind: str) -> None:
    for r in requests:
        if r.kind != kind:
            raise ConfigError(f"a {r.kind!r} request was sent to the backend's {kind} call (role {r.role!r})")
