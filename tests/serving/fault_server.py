"""A local OpenAI-compatible chat server that misbehaves on a schedule, for fault-injection tests.

`FaultServer(["429", "500", "ok"])` answers its first request with 429 (and a Retry-After header),
the second with 500, the third normally; after the schedule, every request gets `default`.
`die_after=N` makes it drop every connection after N answered requests (a crashed server).

Actions: `ok`, `429`, `500`, `503`, `404`, `hang` (no reply for `hang_seconds`), `garbage` (200 with a
body that is not JSON), `drop` (close the connection without a reply), `crash` (stop listening, then
answer 500 and close: every later connection is refused, as when a `vllm serve` engine dies).

Normal replies are deterministic functions of the messages, like the scripted backend: a generation
is `<argument>... note <hash></argument>`; a choice request (`top_logprobs` set) gets the vLLM shape
the judge reads — a whitespace first token, then the digits with P("1") = a stable fraction of the
prompt — and a structured-output request (`structured_outputs`/`guided_choice`) gets one option.
With `logprobs=False` the server leaves logprobs out, like servers that do not support them.
A generation request's `stop` strings end its text before the first of them, as OpenAI servers do.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def stable_fraction(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def prompt_of(body: dict[str, Any]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in body.get("messages", []))


def judge_p1(body: dict[str, Any]) -> float:
    """P("1") the server's judge puts on a prompt: in (0.05, 0.95)."""
    return 0.05 + 0.9 * stable_fraction(prompt_of(body))


def _entry(token: str, p: float) -> dict[str, Any]:
    return {"token": token, "logprob": math.log(p), "bytes": list(token.encode())}


class FaultServer:
    def __init__(self, schedule: list[str] | tuple[str, ...] = (), *, default: str = "ok", retry_after: str = "1",
                 hang_seconds: float = 3.0, logprobs: bool = True, vllm: bool = True, delay: float = 0.0,
                 die_after: int | None = None) -> None:
        self.schedule = list(schedule)
        self.default = default
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.logprobs = logprobs
        self.vllm = vllm
        self.delay = delay
        self.die_after = die_after
        self.requests: list[dict[str, Any]] = []
        """Every chat request body received, in arrival order."""
        self.events: list[tuple[float, str]] = []
        """(arrival time, action taken) per chat request."""
        self.answered: list[dict[str, Any]] = []
        """Bodies answered with a normal (200, JSON) reply."""
        self.in_flight = 0
        self.max_in_flight = 0
        self.crashed = False
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests."""
        times = [t for t, _ in self.events]
        return [b - a for a, b in itertools.pairwise(times)]

    def _next_action(self, body: dict[str, Any]) -> str:
        with self._lock:
            self.requests.append(body)
            # Counted at admission, not at reply: concurrent requests must not slip past the death.
            admitted = sum(1 for _, a in self.events if a == "ok")
            if self.crashed or (self.die_after is not None and admitted >= self.die_after):
                action = "drop"  # kept-alive connections of a crashed server get no reply either
            else:
                action = self.schedule.pop(0) if self.schedule else self.default
            self.events.append((time.monotonic(), action))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return action

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = prompt_of(body)
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", "logprobs": None}
        structured = (body.get("structured_outputs") or {}).get("choice") or body.get("guided_choice")
        if structured:
            choice["message"] = {"role": "assistant", "content": structured[0 if judge_p1(body) > 0.5 else 1]}
        elif body.get("top_logprobs"):
            p1 = judge_p1(body)
            # The split-space shape of SmolLM2/Qwen: " " first (P 0.9, labels 0.05 each directly), then the digit.
            first = {"token": " ", "logprob": math.log(0.9), "bytes": [32],
                     "top_logprobs": [_entry(" ", 0.9), _entry("1", 0.05), _entry("2", 0.05)]}
            label = "1" if p1 > 0.5 else "2"
            second = {**_entry(label, max(p1, 1 - p1)), "top_logprobs": [_entry("1", p1), _entry("2", 1 - p1)]}
            choice["message"] = {"role": "assistant", "content": " " + label}
            if self.logprobs:
                choice["logprobs"] = {"content": [first, second][: body.get("max_tokens", 2)]}
        else:
            text = f"<argument>My side is right (note {stable_fraction(prompt):.6f}).</argument>"
            for stop in body.get("stop") or ():
                text = text.split(stop)[0]
            words = text.split()
            if len(words) > body.get("max_tokens", 256):
                words, choice["finish_reason"] = words[: body["max_tokens"]], "length"
            choice["message"] = {"role": "assistant", "content": " ".join(words)}
            if self.logprobs and body.get("logprobs"):
                choice["logprobs"] = {"content": [_entry(w, 0.5) | {"top_logprobs": []} for w in words]}
            if body.get("return_token_ids"):
                choice["token_ids"] = list(range(len(words)))
        return {"id": "chatcmpl-fault", "object": "chat.completion", "created": 0, "model": body.get("model"),
                "choices": [choice], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                if self.path == "/version" and server.vllm:
                    self._send(200, b'{"version": "fault"}')
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                action = server._next_action(body)
                try:
                    self._act(action, body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _act(self, action: str, body: dict[str, Any]) -> None:
                error = {"error": {"message": f"injected {action}", "type": "fault", "code": action}}
                if action == "ok":
                    time.sleep(server.delay)
                    payload = json.dumps(server.reply(body)).encode()
                    with server._lock:
                        server.answered.append(body)
                    self._send(200, payload)
                elif action == "429":
                    self._send(429, json.dumps(error).encode(), {"Retry-After": server.retry_after})
                elif action in ("500", "503", "404"):
                    self._send(int(action), json.dumps(error).encode())
                elif action == "garbage":
                    self._send(200, b'{"choices": [{"message": {"content": "trunc')
                elif action == "hang":
                    time.sleep(server.hang_seconds)
                    self.close_connection = True
                elif action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                elif action == "crash":
                    with server._lock:
                        server.crashed = True
                    server._httpd.shutdown()  # from a handler thread: waits for the accept loop to end
                    server._httpd.server_close()  # no longer listening: new connections are refused
                    self.close_connection = True
                    self._send(500, json.dumps(error).encode(), {"Connection": "close"})
                else:
                    raise ValueError(f"unknown action {action!r}")

        return Handler
