"""The transformers backend: any causal LM with a chat template, on CPU (float32) or CUDA (bf16).

`HFBackend("embedded:smollm2-135m")`, `HFBackend("Qwen/Qwen2.5-0.5B-Instruct")` (hub access needed)
or `HFBackend("/path/to/hf-dir")`. Generation is batched with left padding in micro-batches of
`batch_size`; `choice` is one forward pass per micro-batch, reading the last position's logits.

Sampling is defined by the Request alone (temperature, max_tokens, seed): the model's own
generation_config defaults (repetition penalty, top-k...) are not applied, so hf and vllm sample
from the same distribution. Token logprobs are the model's raw log-softmax (before temperature),
like vLLM's default `raw_logprobs`.

This module imports torch and transformers at import time; the engine imports it lazily.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LogitsProcessor

from oversight.errors import BackendError, ConfigError
from oversight.models import embedded
from oversight.models.base import Backend
from oversight.models.choice import OptionTokens, check_kind, choice_replies, choice_rows, encode_prompt, option_tokens
from oversight.registry import register
from oversight.types import Reply, Request

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


class _LogprobRecorder(LogitsProcessor):
    """Records the raw log-prob of each generated token without keeping every step's logits.

    Called at each decoding step with the scores for the next token (before temperature and other
    warpers, which transformers applies after custom processors). The token chosen at step t is the
    last column of `input_ids` at step t+1, so we gather it from the previous step's log-softmax.
    """

    def __init__(self) -> None:
        self.prev: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, last_tokens: torch.Tensor) -> torch.Tensor:
        """(batch, steps) log-probs, given the tokens chosen at the last step."""
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, last_tokens[:, None]).squeeze(1))
            self.prev = None
        return torch.stack(self.steps, dim=1) if self.steps else torch.empty(0)


class _RowSampler(LogitsProcessor):
    """Samples each row's next token with that row's own generator (its request's seed), then leaves only that
    token possible, so greedy decoding takes it. One batch, yet every request draws from its own random stream,
    whatever else shares the batch (transformers' own sampling shares one stream across the batch)."""

    def __init__(self, temperature: float, generators: list[torch.Generator | None]) -> None:
        self.temperature = temperature
        self.generators = generators

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        chosen = torch.stack([torch.multinomial(row, 1, generator=g)[0] for row, g in zip(probs, self.generators)])
        forced = torch.full_like(scores, float("-inf"))
        return forced.scatter(1, chosen[:, None], 0.0)


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to and including the first stop string in it (generation may run a few characters past it)."""
    ends = [text.index(s) + len(s) for s in stop if s in text]
    return text[:min(ends)] if ends else text


@register("backend", "hf")
class HFBackend(Backend):
    """One transformers model. Options: batch_size (8), device ("cuda" if available else "cpu"),
    dtype (float32 on CPU, bfloat16 on CUDA), seed (default sampling seed), trust_remote_code."""

    name = "hf"

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 8,
        device: str | None = None,
        dtype: str | None = None,
        seed: int | None = None,
        trust_remote_code: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(model)
        if options:
            raise ConfigError(
                f"unknown option(s) for the hf backend: {', '.join(sorted(options))}; known: "
                "batch_size, device, dtype, seed, trust_remote_code"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"hf backend: batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dtype in (None, "auto"):
            self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        elif dtype in _DTYPES:
            self.dtype = _DTYPES[dtype]
        else:
            raise ConfigError(f"hf backend: unknown dtype {dtype!r}; use one of {', '.join(_DTYPES)}")

        self.path = embedded.resolve_model_path(model) if embedded.is_embedded(model) else model
        t0 = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, trust_remote_code=trust_remote_code)
            self.lm = AutoModelForCausalLM.from_pretrained(
                self.path, dtype=self.dtype, trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError) as e:
            raise BackendError(
                f"transformers could not load model {model!r} ({self.path}): {e}. Pass a local model "
                "directory, a Hugging Face id (needs hub access or a filled HF cache), or an embedded "
                f"model: {', '.join('embedded:' + n for n in embedded.EMBEDDED)}"
            ) from e
        self.lm.to(self.device).eval()
        self.load_seconds = time.perf_counter() - t0

        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        gen = self.lm.generation_config
        eos = gen.eos_token_id if gen is not None and gen.eos_token_id is not None else tok.eos_token_id
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [eos]) - {None}
        # The Request's Sampling, not the checkpoint's generation_config (repetition penalty, top-k,
        # suppressed tokens...), decides sampling: generate() fills unset fields from the model's
        # config and then from global defaults (top_k=50), so the model gets a clean config holding
        # only the special tokens, and every call sets the sampling fields explicitly.
        self.lm.generation_config = GenerationConfig(
            eos_token_id=sorted(self.eos_ids) or None,
            pad_token_id=tok.pad_token_id,
            bos_token_id=gen.bos_token_id if gen is not None else None,
        )
        self.max_len = getattr(self.lm.config, "max_position_embeddings", None)
        self._option_cache: dict[tuple[str, ...], OptionTokens] = {}

    # ---------------------------------------------------------------------------------- helpers

    def _encode(self, requests: Sequence[Request], extra: int) -> list[list[int]]:
        out = []
        for r in requests:
            ids = encode_prompt(self.tokenizer, r.messages)
            if self.max_len and len(ids) + extra > self.max_len:
                raise BackendError(
                    f"prompt of role {r.role!r} is {len(ids)} tokens (+{extra} to generate), beyond "
                    f"the {self.max_len}-token context of {self.model}"
                )
            out.append(ids)
        return out

    def _batch(self, ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded input_ids and attention_mask."""
        width = max(len(x) for x in ids)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, x in enumerate(ids):
            if x:
                input_ids[i, width - len(x):] = torch.tensor(x, dtype=torch.long)
                mask[i, width - len(x):] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def _chunks(self, order: list[int]) -> list[list[int]]:
        return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _options(self, options: tuple[str, ...]) -> OptionTokens:
        if options not in self._option_cache:
            self._option_cache[options] = option_tokens(self.tokenizer, options)
        return self._option_cache[options]

    # ---------------------------------------------------------------------------------- calls

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        check_kind(requests, "generate")
        if not requests:
            return []
        self._require_open()
        prompts = self._encode(requests, extra=0)
        replies: list[Reply | None] = [None] * len(requests)
        # Requests that sample alike share micro-batches (each row keeps its own seed); shortest prompts first.
        groups: dict[tuple[float, tuple[str, ...]], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((float(r.sampling.temperature), tuple(r.sampling.stop)), []).append(i)
        for (temperature, stop), idx in groups.items():
            idx.sort(key=lambda i: len(prompts[i]))
            for chunk in self._chunks(idx):
                seeds = [requests[i].sampling.seed if requests[i].sampling.seed is not None else self.seed
                         for i in chunk]
                outs = self._generate_batch([prompts[i] for i in chunk],
                                            [requests[i].sampling.max_tokens for i in chunk],
                                            temperature, seeds, stop)
                for i, rep in zip(chunk, outs):
                    replies[i] = rep
        return [r for r in replies if r is not None]

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[list[int]], max_tokens: list[int], temperature: float,
                        seeds: list[int | None], stop: tuple[str, ...] = ()) -> list[Reply]:
        input_ids, mask = self._batch(prompts)
        budget = max(max_tokens)
        if self.max_len:  # never run past the model's context
            budget = max(1, min(budget, self.max_len - input_ids.shape[1]))
        # Decoding is greedy; sampling is done by _RowSampler, one generator per row (after the recorder, so
        # token logprobs stay the model's raw ones).
        cfg = GenerationConfig(max_new_tokens=budget, do_sample=False, repetition_penalty=1.0,
                               **({"stop_strings": list(stop)} if stop else {}))
        rec = _LogprobRecorder()
        processors: list[LogitsProcessor] = [rec]
        if temperature > 0:
            generators = [torch.Generator().manual_seed(s) if s is not None else None for s in seeds]
            processors.append(_RowSampler(temperature, generators))
        seqs = self.lm.generate(
            input_ids=input_ids, attention_mask=mask, generation_config=cfg,
            logits_processor=processors, **({"tokenizer": self.tokenizer} if stop else {}),
        )
        new = seqs[:, input_ids.shape[1]:]
        lps = rec.finish(new[:, -1]) if new.shape[1] else torch.empty((len(prompts), 0))
        new, lps = new.tolist(), lps.tolist()
        out = []
        for row, row_lp, limit in zip(new, lps, max_tokens):
            n = min(limit, len(row))
            ended = False  # by end of sequence or a stop string, not by the token budget
            for j in range(n):
                if row[j] in self.eos_ids:
                    n, ended = j + 1, True
                    break
            pad = self.tokenizer.pad_token_id
            while stop and n and row[n - 1] == pad and pad not in self.eos_ids:
                n -= 1  # a row a stop string ended is padded to the batch's length
            toks = row[:n]
            decoded = self.tokenizer.decode(toks, skip_special_tokens=True)
            text = _cut_at_stop(decoded, stop)
            ended = ended or text != decoded or any(text.endswith(s) for s in stop) or n < min(limit, budget)
            out.append(Reply(text=text, token_ids=tuple(toks), logprobs=tuple(row_lp[:n]),
                             finish_reason="stop" if ended else "length"))
        return out

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        check_kind(requests, "choice")
        if not requests:
            return []
        self._require_open()
        specs = [self._options(tuple(r.options)) for r in requests]
        prompts = self._encode(requests, extra=2)
        # One row per (request, query): the prompt, plus prompt + space for split-space labels.
        rows = choice_rows(prompts, specs)
        order = sorted(range(len(rows)), key=lambda k: len(rows[k][1]))
        found: list[dict[int, float]] = [{} for _ in rows]
        tops: list[int | None] = [None] * len(rows)
        for chunk in self._chunks(order):
            lps = self.next_token_logprobs([rows[k][1] for k in chunk])
            for k, lp in zip(chunk, lps):
                ids = list(rows[k][2])
                found[k] = dict(zip(ids, lp[ids].tolist()))
                tops[k] = int(lp.argmax())
        return choice_replies(rows, found, specs, tops)

    @torch.inference_mode()
    def next_token_logprobs(self, prompts: list[list[int]]) -> torch.Tensor:
        """(batch, vocab) float32 log-probs of the token after each prompt (one forward pass)."""
        input_ids, mask = self._batch(prompts)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.lm(input_ids=input_ids, attention_mask=mask, position_ids=position_ids,
                         logits_to_keep=1, use_cache=False)
        return torch.log_softmax(out.logits[:, -1, :].float(), dim=-1).cpu()

    def _require_open(self) -> None:
        if getattr(self, "lm", None) is None:
            raise BackendError(f"hf backend for {self.model!r} was closed")

    def close(self) -> None:
        if getattr(self, "lm", None) is None:
            return
        self.lm = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
