"""Shared helpers of the local backends (hf, vllm): chat rendering and judge decisions.

A judge decision is read from the next-token distribution after the prompt, never parsed from text:

* `option_tokens(tokenizer, ("A", "B"))` -> for each option, the token ids that can start it
  (the label with and without a leading space, first token only; for tokenizers that split the
  space off a label, the token after the space too): an `OptionTokens`;
* `spec.queries()` -> which next-token log-probs a backend must compute (after the prompt, and
  after prompt + space when needed), and `choice_probs(spec, rows)` -> P(option) renormalised over
  the options plus the total unnormalised probability mass the model put on them (low mass = the
  judge wanted to say something else; protocols may treat that as invalid);
* `option_token_ids` / `option_probs`: the same for a single distribution (direct tokens only).

`render_prompt`/`encode_prompt` turn a Request's messages into the exact prompt both backends feed
the model, so hf and vllm see identical token ids.

No torch import here: log-probs may be a list, a numpy array, a torch tensor or a dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from oversight.errors import ConfigError
from oversight.types import Message, Reply, Request

LABEL_WORD = "Answer"
"""The word before the label in the judge's reply format "Answer: <1|2>" (prompts/*/judge*.j2)."""


@dataclass(frozen=True, slots=True)
class OptionTokens:
    """How each option of a choice can start, as tokens.

    `direct[i]`: tokens that start option i right after the prompt ("A", " A"). `space`: for
    tokenizers that split the space off a label (" 1" -> " ", "1", as SmolLM2's and Qwen's do for
    digits), that whitespace token; `after_space[i]`: the tokens that start option i after it. Then
    P(option i) = sum P(direct[i] | prompt) + P(space | prompt) * sum P(after_space[i] | prompt + space),
    the exact first-token probability of both spellings. Without this, a prompt ending in
    "Answer:" would put nearly all its mass on the space token and little on the digits.
    """

    options: tuple[str, ...]
    direct: tuple[tuple[int, ...], ...]
    space: int | None = None
    after_space: tuple[tuple[int, ...], ...] = ()
    echo: tuple[int, ...] = ()
    """First tokens of the label word itself ("Answer", " Answer"): a judge prompted to reply "Answer: <1|2>"
    and prefilled with "Answer:" may restate the word ("Answer: Answer 1", as Qwen2.5-0.5B does) before
    its label, so such a top token says nothing about validity (`top_is_option` gives None)."""

    def queries(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """The next-token log-probs a backend must supply: (suffix appended to the prompt, token ids
        needed from the distribution after prompt + suffix). Feed them back to `choice_probs` in
        this order."""
        first = {t for ids in self.direct for t in ids}
        if self.space is None:
            return [((), tuple(sorted(first)))]
        after = {t for ids in self.after_space for t in ids}
        return [((), tuple(sorted(first | {self.space}))), ((self.space,), tuple(sorted(after)))]


def option_tokens(tokenizer: Any, options: Sequence[str]) -> OptionTokens:
    """The tokens that start each option label (see OptionTokens).

    `label` and `" " + label` are tokenized without special tokens and their first token kept; when
    that first token is only whitespace, the token after it is kept as an after-space token.
    Raises ConfigError when an option yields no token or two options share a starting token (e.g.
    "10" and "12" under a tokenizer that splits digits): they could not be told apart.
    """
    options = tuple(options)
    if len(options) < 2:
        raise ConfigError(f"a choice needs at least two options, got {list(options)!r}")
    if len(set(options)) != len(options):
        raise ConfigError(f"choice options must be distinct, got {list(options)!r}")

    def blank(t: int) -> bool:
        return not tokenizer.decode([t]).strip()

    direct: list[tuple[int, ...]] = []
    after: list[tuple[int, ...]] = []
    spaces: set[int] = set()
    for label in options:
        if not label or not label.strip():
            raise ConfigError(f"choice option labels must be non-blank, got {label!r} in {list(options)!r}")
        d: list[int] = []
        a: list[int] = []
        for variant in (label, " " + label.lstrip()):
            toks = [int(t) for t in tokenizer.encode(variant, add_special_tokens=False)]
            if not toks:
                continue
            if not blank(toks[0]):
                if toks[0] not in d:
                    d.append(toks[0])
            elif len(toks) > 1 and not blank(toks[1]):
                spaces.add(toks[0])
                if toks[1] not in a:
                    a.append(toks[1])
        if not d and not a:
            raise ConfigError(f"choice option {label!r} does not tokenize to any usable token")
        direct.append(tuple(d))
        after.append(tuple(a))
    if len(spaces) > 1:
        raise ConfigError(f"choice options {list(options)!r} start with different whitespace tokens "
                          f"{sorted(spaces)}; use labels of one kind, e.g. ('A', 'B') or ('1', '2')")
    for kind, table in (("", direct), (" (after a space)", after)):
        owner: dict[int, str] = {}
        for label, ids in zip(options, table):
            for t in ids:
                if t in owner:
                    raise ConfigError(
                        f"choice options {owner[t]!r} and {label!r} start with the same token{kind} "
                        f"({tokenizer.decode([t])!r}, id {t}); use labels that differ in their first "
                        "character, e.g. ('A', 'B') or ('1', '2')"
                    )
                owner[t] = label
    space = spaces.pop() if spaces else None
    owned = {t for ids in (*direct, *after) for t in ids} | ({space} if space is not None else set())
    echo = set()
    for word in (LABEL_WORD, " " + LABEL_WORD):
        try:
            toks = tokenizer.encode(word, add_special_tokens=False)
        except (ValueError, KeyError):  # a toy vocabulary without the word
            continue
        if toks and int(toks[0]) not in owned and not blank(int(toks[0])):
            echo.add(int(toks[0]))
    return OptionTokens(options, tuple(direct), space, tuple(after) if space is not None else (), tuple(sorted(echo)))


def option_token_ids(tokenizer: Any, options: Sequence[str]) -> tuple[tuple[int, ...], ...]:
    """For each option label, the distinct token ids that start it right after the prompt."""
    return option_tokens(tokenizer, options).direct


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
    table = _lookup(logprobs, sorted({t for ids in option_ids for t in ids}))
    return _normalise([_logsumexp([table[t] for t in ids]) if ids else -math.inf for ids in option_ids])


def _lookup(logprobs: Any, ids: Sequence[int]) -> dict[int, float]:
    if isinstance(logprobs, Mapping):
        out = {}
        for t in ids:
            v = logprobs.get(t)
            out[t] = -math.inf if v is None else float(getattr(v, "logprob", v))
        return out
    if hasattr(logprobs, "detach"):
        logprobs = logprobs.detach().float().cpu()
    return {t: float(logprobs[t]) for t in ids}


def choice_probs(spec: OptionTokens, logprobs: Sequence[Any]) -> tuple[tuple[float, ...], float]:
    """(P(option) renormalised, total mass) from the log-probs answering `spec.queries()`, in order.

    Each element is a full-vocabulary vector or a mapping token_id -> logprob, as in `option_probs`.
    """
    queries = spec.queries()
    if len(logprobs) != len(queries):
        raise ValueError(f"expected {len(queries)} log-prob rows, got {len(logprobs)}")
    first = _lookup(logprobs[0], queries[0][1])
    per_option = []
    for i in range(len(spec.options)):
        parts = [first[t] for t in spec.direct[i]]
        if spec.space is not None and spec.after_space[i]:
            after = _lookup(logprobs[1], spec.after_space[i])
            parts.append(first[spec.space] + _logsumexp([after[t] for t in spec.after_space[i]]))
        per_option.append(_logsumexp(parts) if parts else -math.inf)
    return _normalise(per_option)


def _normalise(per_option: list[float]) -> tuple[tuple[float, ...], float]:
    total = _logsumexp(per_option)
    if total == -math.inf or math.isnan(total):
        n = len(per_option)
        return tuple(1.0 / n for _ in range(n)), 0.0
    return tuple(math.exp(x - total) for x in per_option), min(1.0, math.exp(total))


Row = tuple[int, list[int], tuple[int, ...]]
"""One next-token query of a choice: (request index, prompt token ids, token ids whose logprob is needed)."""


def choice_rows(prompts: Sequence[list[int]], specs: Sequence[OptionTokens]) -> list[Row]:
    """One row per (request, query): the prompt, plus prompt + space for split-space labels."""
    return [(i, list(p) + list(suffix), ids)
            for i, (p, spec) in enumerate(zip(prompts, specs)) for suffix, ids in spec.queries()]


def choice_replies(rows: Sequence[Row], tables: Sequence[Mapping[int, float]],
                   specs: Sequence[OptionTokens], tops: Sequence[int | None] | None = None) -> list[Reply]:
    """Gather each request's rows (token id -> logprob tables) into its choice Reply.

    `tops`, when the backend knows them: the most likely next token of each row, from which
    `Reply.top_is_option` says whether the model's first choice of label starts an option.
    """
    per_request: list[list[Mapping[int, float]]] = [[] for _ in specs]
    per_request_tops: list[list[int | None]] = [[] for _ in specs]
    for k, ((i, _, _), table) in enumerate(zip(rows, tables)):
        per_request[i].append(table)
        per_request_tops[i].append(tops[k] if tops is not None else None)
    replies = []
    for spec, request_tables, request_tops in zip(specs, per_request, per_request_tops):
        probs, mass = choice_probs(spec, request_tables)
        replies.append(Reply(option_probs=probs, option_mass=mass, top_is_option=top_is_option(spec, request_tops)))
    return replies


def top_is_option(spec: OptionTokens, tops: Sequence[int | None]) -> bool | None:
    """Whether the greedy label (the top token, or the top token after a top whitespace token) starts an
    option; None when the tops are unknown."""
    if not tops or tops[0] is None:
        return None
    first = tops[0]
    if any(first in ids for ids in spec.direct):
        return True
    if first in spec.echo:
        return None
    if spec.space is not None and first == spec.space:
        after = tops[1] if len(tops) > 1 else None
        return None if after is None else any(after in ids for ids in spec.after_space)
    return False


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
    images = sum(len(m.images) for m in messages)
    if images:
        name = getattr(tokenizer, "name_or_path", "?")
        raise ConfigError(
            f"the request carries {images} image(s) (a multimodal task such as mmmu), but model {name!r} is "
            "served text-only by the hf and vllm backends; judge and agents must be vision models, e.g. "
            "behind an OpenAI-compatible server (`vllm serve` of a vision-language model), or pick a text task"
        )
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
