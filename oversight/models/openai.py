"""The `openai` backend: any OpenAI-compatible chat server (`vllm serve`, hosted APIs).

`OpenAIBackend("Qwen/Qwen2.5-7B-Instruct", base_url="http://127.0.0.1:8000/v1")`. The base URL comes
from the option, else `$OPENAI_BASE_URL`, else the OpenAI API; the key from the environment variable
named by `api_key_env` (default `OPENAI_API_KEY`). Keys never enter config files or caches.

Batching: the Backend interface is synchronous and batched, so each `generate`/`choice` call sends
its requests concurrently from a private event loop (one thread per backend, so the HTTP connection
pool lives on one loop), at most `max_connections` in flight, and returns the replies in input order.

Failures: connection errors, timeouts (`timeout` seconds per request), 408/409/429/5xx and malformed
replies are retried up to `max_attempts` times with exponential backoff and jitter (`backoff` *
2^(attempt-1) seconds, capped at `backoff_max`, the wait drawn from the upper half of that interval);
a `Retry-After` (or `retry-after-ms`) header overrides the backoff. The `openai` client's own retries
are off, so every retry goes through this one tested policy. Other errors (400, 401, 404) are not
retried. The final failure is one BackendError naming the server, the status and the fix; replies
that did arrive are attached to it (`PartialBatchError.partial`) so the response cache keeps them.
A server that answered earlier (a 5xx, or any reply) and then refuses connections went down during the
run: the error says so and gives the fix, including the one for the usual cause on CPU (`vllm serve`
with chunked prefill dies on seeded requests: `--no-enable-chunked-prefill --max-num-batched-tokens N`).

Generation requests send `Sampling.stop` as the request's `stop` list (the server drops the stop string
from the reply text).

Judge decisions (`kind="choice"`): the trailing assistant message ("Answer:") is continued
(`continue_final_message=True, add_generation_prompt=False`, vLLM's chat extensions), greedy, two
tokens, `top_logprobs=20`. P(option) is read from the first position's top log-probs (tokens whose
stripped text is the label); when the first token is whitespace (SmolLM2 and Qwen write " 1" as " "
then "1"), the second position gives P(label | space), weighted by P(space) — the same decomposition
as the offline backends (see `oversight.models.choice`), up to the top-20 cut. When the greedy first
token is a label but whitespace still ranks in the top 20, one more request continuing "Answer: "
adds that path. Probabilities are renormalised over the options; `option_mass` is their raw total.

Servers without logprobs: `choice_method="auto"` (default; the same as `"logprobs"`) refuses with a
BackendError naming the server, the model and the fix, rather than reading verdicts from text behind the
user's back. Only when asked for (`choice_method="structured"`: vLLM's `structured_outputs={"choice":
options}`; `"guided"`: the pre-0.12 `guided_choice`) is the verdict read from the constrained reply text:
a one-hot probability, `option_mass=None`, and `decision_method="structured"` on every such Reply, so
each episode records how its decision was made.

Messages with images go out as OpenAI content parts (`Message.to_openai`: local files inlined as
base64 `data:` URLs), for vision models behind the server.

vLLM extensions (`continue_final_message`, `return_token_ids`, structured outputs) are sent only to
vLLM servers (detected once from `GET /version`, or forced with `vllm_extensions=True/False`);
hosted APIs reject unknown fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import os
import random
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from oversight.errors import BackendError, ConfigError
from oversight.models.base import Backend
from oversight.models.choice import LABEL_WORD, check_kind
from oversight.registry import register
from oversight.types import Message, Reply, Request

OPENAI_URL = "https://api.openai.com/v1"
CHOICE_METHODS = ("auto", "logprobs", "structured", "guided")
TOP_LOGPROBS = 20
RETRY_STATUSES = (408, 409, 429)
_WHITESPACE_MIN_P = 1e-4  # below this, the space -> label path cannot move a decision: skip its extra request


class PartialBatchError(BackendError):
    """A batch failed; `partial` maps request index -> Reply for the requests that did succeed."""

    def __init__(self, message: str, partial: dict[int, Reply]) -> None:
        super().__init__(message, retryable=True)
        self.partial = partial


class NoLogprobsError(BackendError):
    """The server gave no logprobs for a judge decision and structured output was not asked for."""


@dataclass(frozen=True)
class _Failure:
    """One failed attempt: what happened, whether to retry, and the server's requested wait."""

    what: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    connection: bool = False
    """No HTTP reply at all: refused, reset or closed before answering."""


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds a server asked us to wait: `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Wait before retry number `attempt` (1-based): Retry-After when given, else jittered exponential."""
    if retry_after is not None:
        return retry_after
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def classify(exc: BaseException, timeout: float) -> _Failure:
    """Map an exception of the openai client (or a malformed reply) to a retry decision."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return _Failure(f"no reply within {timeout:g} s", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return _Failure(f"connection failed ({type(cause).__name__}: {cause})", retryable=True, connection=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = _short(getattr(exc, "body", None) or exc.message)
        return _Failure(f"HTTP {status}: {body}", retryable=status in RETRY_STATUSES or status >= 500,
                        status=status, retry_after=retry_after_seconds(exc.response.headers))
    if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError, IndexError, openai.APIResponseValidationError)):
        return _Failure(f"malformed reply ({type(exc).__name__}: {_short(exc)})", retryable=True)
    raise exc


def _short(value: Any, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _fix_for(failure: _Failure, base_url: str, model: str) -> str:
    if failure.status == 401:
        return "set the API key in the environment variable named by api_key_env (default OPENAI_API_KEY)"
    if failure.status == 404:
        return f"check the model name: `curl {base_url}/models` lists what the server serves"
    if failure.status == 400:
        return "the server rejected the request; check the model's limits (max_model_len, max_logprobs)"
    if failure.status == 429:
        return "the server is rate limiting: lower max_connections or raise max_attempts"
    return (f"check that the server is up (`curl {base_url}/models`); rerun the same command to resume "
            "(finished work is kept), or raise the request timeout / max_attempts")


def _server_down_fix(base_url: str) -> str:
    return (f"restart the server (`curl {base_url}/models` answers when it is up) and rerun the same command: the "
            "run resumes where it stopped (finished work is kept). A `vllm serve` on CPU started with its defaults "
            "dies this way on seeded requests (its log shows \"CPU Generator does not use offset\": chunked "
            "prefill); start it with `--no-enable-chunked-prefill --max-num-batched-tokens N`, N at least its "
            "`--max-model-len`, as `oversight serve` does")


def _label_index(token: str, options: Sequence[str]) -> int | None:
    """Which option a token starts (its stripped text is a prefix of exactly one label), if any."""
    text = token.strip()
    if not text:
        return None
    hits = [i for i, option in enumerate(options) if option == text or option.startswith(text)]
    return hits[0] if len(hits) == 1 else None


def _top_table(position: Any) -> dict[str, float]:
    """token text -> logprob at one position (its top list plus the sampled token)."""
    table = {entry.token: float(entry.logprob) for entry in (position.top_logprobs or [])}
    table.setdefault(position.token, float(position.logprob))
    return table


def _mass(table: dict[str, float], options: Sequence[str]) -> list[float]:
    per_option = [0.0] * len(options)
    for token, logprob in table.items():
        i = _label_index(token, options)
        if i is not None:
            per_option[i] += math.exp(logprob)
    return per_option


def greedy_is_option(positions: Sequence[Any], options: Sequence[str]) -> bool | None:
    """Whether the greedy label (first token, or the token after a whitespace first token) starts an option."""
    first = positions[0].token
    if first.strip().lower() == LABEL_WORD.lower():
        return None  # the judge restates "Answer" before its label (see OptionTokens.echo)
    if first.strip():
        return _label_index(first, options) is not None
    return _label_index(positions[1].token, options) is not None if len(positions) > 1 else None


def choice_from_positions(positions: Sequence[Any], options: Sequence[str],
                          after_space: dict[str, float] | None = None) -> tuple[tuple[float, ...], float, str | None]:
    """(P(option) renormalised, raw mass, whitespace token still to follow up or None) from chat logprobs.

    `positions` are the response's logprob positions (first two used); `after_space` is the top table
    after a whitespace token that was not the greedy first token (from a follow-up request).
    """
    first = _top_table(positions[0])
    per_option = _mass(first, options)
    follow_up = None
    sampled = positions[0].token
    if not sampled.strip() and len(positions) > 1:
        weight = math.exp(first[sampled])
        per_option = [p + weight * q for p, q in zip(per_option, _mass(_top_table(positions[1]), options))]
    else:
        spaces = [t for t in first if t and not t.strip() and math.exp(first[t]) >= _WHITESPACE_MIN_P]
        if spaces:
            space = max(spaces, key=first.__getitem__)
            if after_space is None:
                follow_up = space
            else:
                weight = math.exp(first[space])
                per_option = [p + weight * q for p, q in zip(per_option, _mass(after_space, options))]
    total = sum(per_option)
    if total <= 0:
        return tuple(1 / len(options) for _ in options), 0.0, follow_up
    return tuple(p / total for p in per_option), min(1.0, total), follow_up


@register("backend", "openai")
class OpenAIBackend(Backend):
    """A model behind an OpenAI-compatible `/v1/chat/completions`. Options: base_url, api_key_env,
    max_connections, timeout, max_attempts, backoff, backoff_max, choice_method, vllm_extensions."""

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_connections: int = 32,
        timeout: float = 120.0,
        max_attempts: int = 6,
        backoff: float = 1.0,
        backoff_max: float = 60.0,
        choice_method: str = "auto",
        vllm_extensions: bool | None = None,
    ) -> None:
        super().__init__(model)
        import openai

        if choice_method not in CHOICE_METHODS:
            raise ConfigError(f"openai backend: choice_method must be one of {CHOICE_METHODS}, got {choice_method!r}")
        if max_connections < 1 or max_attempts < 1 or timeout <= 0:
            raise ConfigError(f"openai backend: max_connections and max_attempts must be >= 1 and timeout > 0, got "
                              f"{max_connections}, {max_attempts}, {timeout}")
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
        if urlparse(self.base_url).scheme not in ("http", "https"):
            raise ConfigError(f"openai backend: base URL {self.base_url!r} is not an http(s) URL; "
                              "use e.g. http://127.0.0.1:8000/v1")
        api_key = os.environ.get(api_key_env)
        if not api_key:
            if self.base_url == OPENAI_URL:
                raise ConfigError(f"openai backend: no API key for {OPENAI_URL}; set ${api_key_env}, or point "
                                  "base_url (or $OPENAI_BASE_URL) at your own server")
            api_key = "EMPTY"  # local servers started without --api-key accept any key
        self.max_connections = max_connections
        self.timeout = float(timeout)
        self.max_attempts = max_attempts
        self.backoff, self.backoff_max = float(backoff), float(backoff_max)
        self.choice_method = choice_method
        self._vllm = vllm_extensions
        self.attempts = 0
        """HTTP requests sent, retries included (for tests and reports)."""
        self._answered = False
        """Whether the server has sent any HTTP reply (to tell a server that went down from one never up)."""
        self._last_5xx: str | None = None
        """The last server error seen (a dying vLLM engine answers 500 before its server exits)."""

        # The client's retries are off: one policy, ours, handles every retry (and honours Retry-After).
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"openai-{model}", daemon=True)
        self._thread.start()
        self.client = openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key, timeout=self.timeout, max_retries=0)
        self._semaphore = self._run_sync(self._make_semaphore())

    async def _make_semaphore(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(self.max_connections)

    def _run_sync(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._loop.is_closed():
            coro.close()
            raise BackendError(f"openai backend for {self.model!r} was closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    # ------------------------------------------------------------------------------ server facts

    @property
    def vllm_extensions(self) -> bool:
        """Whether the server is vLLM (accepts its chat extensions): asked once, via GET /version."""
        if self._vllm is None:
            self._vllm = bool(self._run_sync(self._probe_vllm()))
        return self._vllm

    async def _probe_vllm(self) -> bool:
        import httpx

        root = self.base_url.removesuffix("/v1")
        try:
            async with httpx.AsyncClient(timeout=min(self.timeout, 10.0)) as http:
                response = await http.get(f"{root}/version")
            return response.status_code == 200 and "version" in response.json()
        except Exception:  # noqa: BLE001 - any failure means "not a vLLM server we can tell apart"
            return False

    # ------------------------------------------------------------------------------ one request

    async def _create(self, payload: dict[str, Any]) -> Any:
        """POST one chat completion with retries; returns the parsed response or raises BackendError."""
        failure: _Failure | None = None
        for attempt in range(1, self.max_attempts + 1):
            async with self._semaphore:
                self.attempts += 1
                try:
                    response = await self.client.chat.completions.create(**payload)
                    if isinstance(response, str) or not response.choices:
                        raise ValueError(f"no choices in reply {_short(response)!r}")
                    response.choices[0].message  # noqa: B018 - a reply without a message is malformed
                    self._answered = True
                    return response
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - classified just below; unknown ones re-raise
                    failure = classify(exc, self.timeout)
                    if failure.status is not None:
                        self._answered = True
                        if failure.status >= 500:
                            self._last_5xx = failure.what
            if not failure.retryable or attempt == self.max_attempts:
                break
            await asyncio.sleep(backoff_delay(attempt, self.backoff, self.backoff_max, failure.retry_after))
        assert failure is not None
        tries = f"after {self.max_attempts} attempts" if failure.retryable else "(not retried)"
        if failure.connection and self._answered:
            before = f"answered {self._last_5xx}" if self._last_5xx else "answered earlier requests"
            raise BackendError(f"openai backend: the server at {self.base_url} (model {self.model!r}) went down "
                               f"during the run: it {before}, then {failure.what} {tries}. "
                               f"Fix: {_server_down_fix(self.base_url)}", retryable=True)
        raise BackendError(f"openai backend: {self.base_url}/chat/completions for model {self.model!r} failed "
                           f"{tries}: {failure.what}. Fix: {_fix_for(failure, self.base_url, self.model)}",
                           retryable=failure.retryable)

    def _payload(self, request: Request, **fields: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model,
                                   "messages": [m.to_openai() for m in request.messages]}
        payload.update(fields)
        return payload

    def _continue_final(self, request: Request) -> dict[str, Any]:
        """vLLM extra_body that continues a trailing assistant message instead of closing it."""
        if self._vllm and request.messages and request.messages[-1].role == "assistant":
            return {"continue_final_message": True, "add_generation_prompt": False}
        return {}

    async def _generate_one(self, request: Request) -> Reply:
        s = request.sampling
        extra = {**self._continue_final(request), **({"return_token_ids": True} if self._vllm else {})}
        fields: dict[str, Any] = {"max_tokens": s.max_tokens, "temperature": s.temperature, "logprobs": True}
        if s.seed is not None and s.temperature > 0:
            fields["seed"] = s.seed
        if s.stop:
            fields["stop"] = list(s.stop)
        response = await self._create(self._payload(request, **fields, extra_body=extra or None))
        choice = response.choices[0]
        positions = choice.logprobs.content if choice.logprobs is not None and choice.logprobs.content else []
        token_ids = tuple(int(t) for t in (getattr(choice, "token_ids", None) or ()))
        return Reply(text=choice.message.content or "", token_ids=token_ids,
                     logprobs=tuple(float(p.logprob) for p in positions), finish_reason=choice.finish_reason)

    async def _choice_one(self, request: Request) -> Reply:
        if self.choice_method in ("auto", "logprobs"):
            response = await self._create(self._payload(
                request, max_tokens=2, temperature=0.0, logprobs=True, top_logprobs=TOP_LOGPROBS,
                extra_body=self._continue_final(request) or None))
            logprobs = response.choices[0].logprobs
            positions = logprobs.content if logprobs is not None else None
            if positions:
                return await self._choice_from_logprobs(request, positions)
            raise NoLogprobsError(
                f"openai backend: {self.base_url} returned no logprobs for model {self.model!r}, so the judge's "
                "decision cannot be read from its next-token distribution. Fix: use a server that returns logprobs "
                "(`vllm serve`, `oversight serve`), or accept verdicts read from generated text with "
                f"`choice_method=structured` on the spec (`openai:{self.model}?choice_method=structured`; vLLM "
                "structured outputs, `guided` before vLLM 0.12); each such decision is recorded per episode as "
                "decision_method=structured")
        return await self._choice_structured(request)

    async def _choice_from_logprobs(self, request: Request, positions: Sequence[Any]) -> Reply:
        probs, mass, space = choice_from_positions(positions, request.options)
        if space is not None and self._continue_final(request):
            last = request.messages[-1]
            follow = Request(role=request.role, messages=(*request.messages[:-1],
                                                          Message("assistant", last.content + space)),
                             kind="choice", options=request.options)
            response = await self._create(self._payload(
                follow, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=TOP_LOGPROBS,
                extra_body=self._continue_final(follow)))
            after = response.choices[0].logprobs
            table = _top_table(after.content[0]) if after is not None and after.content else {}
            probs, mass, _ = choice_from_positions(positions, request.options, after_space=table)
        return Reply(text=request.options[max(range(len(probs)), key=probs.__getitem__)],
                     option_probs=probs, option_mass=mass, top_is_option=greedy_is_option(positions, request.options))

    async def _choice_structured(self, request: Request) -> Reply:
        key = "guided_choice" if self.choice_method == "guided" else "structured_outputs"
        value = list(request.options) if key == "guided_choice" else {"choice": list(request.options)}
        messages = request.messages
        if messages and messages[-1].role == "assistant":
            messages = messages[:-1]  # the constrained reply is a fresh assistant message
        plain = Request(role=request.role, messages=messages, kind="choice", options=request.options)
        response = await self._create(self._payload(
            plain, max_tokens=max(8, max(len(o) for o in request.options)), temperature=0.0,
            extra_body={key: value}))
        text = (response.choices[0].message.content or "").strip()
        if text not in request.options:  # no probabilities: the judge's decision is recorded as invalid
            return Reply(text=text, decision_method="structured")
        return Reply(text=text, option_probs=tuple(1.0 if o == text else 0.0 for o in request.options),
                     option_mass=None, decision_method="structured")

    # ------------------------------------------------------------------------------ batches

    async def _gather(self, requests: Sequence[Request], one: Any) -> list[Reply]:
        if self._vllm is None:
            self._vllm = await self._probe_vllm()
        results = await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        refusal = next((e for e in errors if isinstance(e, NoLogprobsError)), None)
        if refusal is not None:
            raise refusal  # a setting to change, not a fault to retry
        if errors:
            partial = {i: r for i, r in enumerate(results) if isinstance(r, Reply)}
            first = next((e for e in errors if isinstance(e, BackendError)), errors[0])
            if not isinstance(first, BackendError):
                raise first
            raise PartialBatchError(f"{first} ({len(errors)} of {len(requests)} requests of the batch failed)",
                                    partial) from first
        return list(results)  # type: ignore[arg-type]

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        check_kind(requests, "generate")
        return self._run_sync(self._gather(requests, self._generate_one)) if requests else []

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        check_kind(requests, "choice")
        return self._run_sync(self._gather(requests, self._choice_one)) if requests else []

    def close(self) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):  # closing must not raise
            self._run_sync(self.client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
