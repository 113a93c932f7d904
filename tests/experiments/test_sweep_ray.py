"""`oversight sweep --ray`: a two-node Ray cluster on 127.0.0.1 gives the same results as a local run."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # starts Ray processes (~30 s)

RAY = Path(sys.executable).with_name("ray")
CLI = (sys.executable, "-m", "oversight.cli")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, capture_output=True, text=True, env=env, timeout=300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    """Head + one worker node, each started with `ray start --block` in its own process group."""
    port = free_port()
    temp = Path("/tmp") / f"ray-{os.getpid()}-{port}"  # Ray's socket paths must stay short
    common = ["--num-cpus", "2", "--disable-usage-stats", "--block"]
    scratch = temp.with_name(temp.name + "-tmp")  # the nodes' temporary files (a managed server's log among
    scratch.mkdir()                                # them); short, as vLLM's socket paths live there too
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "TMPDIR": str(scratch)}
    head = ["--head", "--port", str(port), "--temp-dir", str(temp), "--include-dashboard=false"]
    nodes = [subprocess.Popen([str(RAY), "start", *head, "--node-ip-address", "127.0.0.1", *common], env=env,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while run(str(RAY), "status", "--address", address).returncode != 0:
            assert time.time() < deadline, "the Ray head did not start"
            time.sleep(1)
        nodes.append(subprocess.Popen([str(RAY), "start", "--address", address, "--node-ip-address", "127.0.0.1",
                                       *common], env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while _alive_nodes(address) < 2:
            assert time.time() < deadline, "the Ray worker node did not join"
            time.sleep(1)
        yield address, scratch
    finally:
        for node in reversed(nodes):  # only the process groups started here; Ray's servers may outlive SIGTERM
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(node.pid, sig)
                    node.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _alive_nodes(address: str) -> int:
    status = run(str(RAY), "status", "--address", address).stdout
    active = status.partition("Active:")[2].partition("Pending:")[0]
    return active.count("node_")


def test_ray_sweep_matches_the_local_run(cluster, write_sweep, tmp_path):
    cluster, _ = cluster
    sweep = {"product": {"protocol": ["direct", "debate", "consultancy"], "seed": [0, 1]}}
    path = write_sweep(sweep)
    local = run(*CLI, "sweep", str(path), "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    remote = run(*CLI, "sweep", str(path), "--ray", cluster, "--out", str(tmp_path / "ray"))
    assert remote.returncode == 0, remote.stderr
    a = pd.read_parquet(tmp_path / "local" / "grid" / "results.parquet").sort_values(["cell", "episode"])
    b = pd.read_parquet(tmp_path / "ray" / "grid" / "results.parquet").sort_values(["cell", "episode"])
    assert len(a) == 16 and a["cell"].nunique() == 6  # 2 questions; consultancy plays each one twice
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    status = run(*CLI, "status", str(tmp_path / "ray" / "grid"), env={**os.environ, "COLUMNS": "200"})
    assert "6 cells: 6 done, 0 pending, 0 failed" in status.stdout


def test_a_serve_cell_runs_its_vllm_model_behind_vllm_serve_in_its_actor(cluster, write_sweep, tmp_path):
    """The real embedded judge behind a managed `vllm serve` started by its Ray actor, against the same
    server started by a local run: the same decisions, and no server left once the sweep ends."""
    cluster, scratch = cluster
    base = {"judge": "embedded:smollm2-135m", "serve": True, "backend": "auto", "max_model_len": 2048}
    path = write_sweep({"product": {"seed": [0, 1]}}, base={**base, "protocol": "direct"})
    local = run(*CLI, "sweep", str(path), "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    remote = run(*CLI, "sweep", str(path), "--ray", cluster, "--out", str(tmp_path / "ray"))
    assert remote.returncode == 0, remote.stdout + remote.stderr
    assert "1 model(s)" in remote.stderr
    logs = list(scratch.glob("vllm-serve-*.log"))  # written by the actor's managed server
    assert len(logs) == 1 and "/v1/chat/completions" in logs[0].read_text(errors="replace")
    a = pd.read_parquet(tmp_path / "local" / "grid" / "results.parquet").sort_values(["cell", "episode"])
    b = pd.read_parquet(tmp_path / "ray" / "grid" / "results.parquet").sort_values(["cell", "episode"])
    assert len(a) == len(b) == 4
    assert list(a["verdict"]) == list(b["verdict"])
    assert b["p_correct"].to_numpy() == pytest.approx(a["p_correct"].to_numpy(), abs=1e-3)
    assert not vllm_processes(scratch), "a vllm serve or its engine outlived its sweep"


def vllm_processes(scratch: Path) -> list[str]:
    """The vLLM processes (server, engine core, workers) started by the cluster's nodes (their TMPDIR)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"TMPDIR={scratch}".encode() in environ and "vllm" in command.lower():
            found.append(f"{proc.name}: {command[:80]}")
    return found
