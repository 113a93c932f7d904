"""The model processes of a run die with it, however it dies (`oversight.models.lifetime`).

Fast tests play the run with a small owner process that starts children the ways vLLM does (spawn, fork,
plain exec; each with a child of its own) and is then killed with SIGKILL; the slow test kills a real
`oversight run` while its vLLM engines (engine core + worker per model) are generating.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from oversight.models import lifetime

ROOT = Path(__file__).resolve().parents[2]

OWNER = """
import multiprocessing as mp, subprocess, sys, time
from oversight.models import lifetime

if __name__ == "__main__":
    lease = lifetime.guard()
    free = subprocess.Popen(["sleep", "600"], start_new_session=True)  # not marked: must survive
    with lease.marking():
        for method in ("spawn", "fork"):  # vLLM's engine core: spawn on CPU, fork by default on GPUs
            mp.get_context(method).Process(target=subprocess.call, args=(["sleep", "600"],)).start()
        subprocess.Popen(["sleep", "600"])
    print(free.pid, flush=True)
    time.sleep(600)
"""


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(processes: list[psutil.Process], limit: float) -> tuple[float, list[psutil.Process]]:
    """Seconds until every process is gone (zombies count as gone), or the ones left after `limit`."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        left = [p for p in processes if not gone(p)]
        if not left:
            return time.monotonic() - start, []
        time.sleep(0.05)
    return time.monotonic() - start, [p for p in processes if not gone(p)]


def describe(processes: list[psutil.Process]) -> list[str]:
    out = []
    for p in processes:
        try:
            out.append(f"{p.pid} {p.name()} {' '.join(p.cmdline())[:80]}")
        except psutil.Error:
            out.append(str(p.pid))
    return out


def exec_done(pid: int) -> None:
    """Wait until `pid` shows its environment (empty for a moment while it execs)."""
    for _ in range(100):
        if Path(f"/proc/{pid}/environ").read_bytes():
            return
        time.sleep(0.01)


def cleanup(processes: list[psutil.Process]) -> None:
    """Kill what a failed test left behind (only the processes it recorded)."""
    for p in processes:
        try:
            p.kill()
        except psutil.Error:
            pass


def tree_when(pid: int, ready, limit: float = 60.0) -> list[psutil.Process]:
    """The descendants of `pid` once `ready(descendants)` holds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        tree = psutil.Process(pid).children(recursive=True)
        if ready(tree):
            return tree
        time.sleep(0.1)
    pytest.fail(f"the processes never came up: {describe(psutil.Process(pid).children(recursive=True))}")


def test_marked_processes_and_their_children_die_with_a_killed_owner():
    owner = subprocess.Popen([sys.executable, "-c", OWNER], cwd=ROOT, stdout=subprocess.PIPE)
    tree: list[psutil.Process] = []
    try:
        free = psutil.Process(int(owner.stdout.readline()))
        # free sleep, resource tracker, spawned + its sleep, forked + its sleep, plain sleep (+ the watchdog)
        tree = tree_when(owner.pid, lambda t: sum(p.name() == "sleep" for p in t) == 4 and len(t) >= 7)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        took, left = wait_gone([p for p in tree if p.pid != free.pid], limit=10)
        assert not left, f"still running {took:.1f} s after the kill: {describe(left)}"
        assert took < 3
        assert not gone(free)  # started outside marking: not the watchdog's business
        assert psutil.Process().is_running() and not gone(psutil.Process(os.getppid()))  # pytest, its shell
    finally:
        owner.kill()
        owner.wait()
        cleanup(tree)


def test_release_stops_the_watchdog_and_leaves_the_environment_as_it_was(monkeypatch):
    monkeypatch.setenv(lifetime.ENV_VAR, "outer")  # this process belongs to another owner
    # models loaded by earlier tests of this session may hold this process's watchdog: this test starts its own
    monkeypatch.setattr(lifetime, "_dog", None)
    lease = lifetime.guard()
    dog = lifetime._dog
    assert dog is not None and dog.process.poll() is None
    second = lifetime.guard()  # one watchdog per process, however many leases
    assert lifetime._dog is dog
    with lease.marking():
        assert os.environ[lifetime.ENV_VAR] == f"outer:{dog.token}"
        child = subprocess.Popen(["sleep", "600"])
    try:
        assert os.environ[lifetime.ENV_VAR] == "outer"
        exec_done(child.pid)
        assert lifetime._carries(child.pid, dog.token) and lifetime._carries(child.pid, "outer")
        assert lease.env({}) == {lifetime.ENV_VAR: dog.token}
        lease.release()
        lease.release()  # idempotent: the other lease still holds the watchdog
        assert dog.process.poll() is None
        second.release()
        assert dog.process.wait(timeout=30) == 0 and lifetime._dog is None
        time.sleep(0.3)
        assert child.poll() is None  # a normal end kills nothing: the backends' own close() did the work
    finally:
        child.kill()
        child.wait()


def test_kill_marked_spares_what_it_must_not_touch():
    token = "test-token"
    marked = subprocess.Popen(["sleep", "600"], env={**os.environ, lifetime.ENV_VAR: f"other:{token}"})
    unmarked = subprocess.Popen(["sleep", "600"], env={**os.environ, lifetime.ENV_VAR: f"{token}x"})
    try:
        for p in (marked, unmarked):
            exec_done(p.pid)
        killed = lifetime.kill_marked(token, spare={os.getppid()})
        assert killed == [marked.pid]
        assert marked.wait(timeout=30) == -signal.SIGKILL and unmarked.poll() is None
        assert os.getpid() not in killed and psutil.Process().is_running()
    finally:
        for p in (marked, unmarked):
            p.kill()
            p.wait()


STUBBORN_SERVER = """
import http.server, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a server that hangs in shutdown
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

SERVE_OWNER = """
import sys, time
from oversight.models.serve import ManagedServer

if __name__ == "__main__":
    server = ManagedServer(sys.argv[1], startup_timeout=60)
    server.command = [sys.executable, "-c", sys.argv[2], str(server.port)]
    server.start()
    print(server.process.pid, flush=True)
    time.sleep(600)
"""


def test_a_managed_server_that_ignores_sigterm_dies_with_a_killed_run(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", SERVE_OWNER, str(tmp_path), STUBBORN_SERVER], cwd=ROOT,
                             stdout=subprocess.PIPE)
    servers: list[psutil.Process] = []
    try:
        servers.append(psutil.Process(int(owner.stdout.readline())))
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        took, left = wait_gone(servers, limit=10)
        assert not left, "the server outlived its run"
        assert took < 3
    finally:
        owner.kill()
        owner.wait()
        cleanup(servers)


# ------------------------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_kill_9_of_a_real_run_leaves_no_model_process(tmp_path):
    """`oversight run` with the default embedded judge and debater on vLLM: two engine cores, two workers."""
    pytest.importorskip("vllm")
    run = subprocess.Popen([sys.executable, "-m", "oversight.cli", "run", "debate", "--task", "math", "--limit", "4",
                            "--rounds", "1", "--max-tokens", "48", "--out", str(tmp_path)],
                           cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    tree: list[psutil.Process] = []
    reader = threading.Thread(target=lambda: log.extend(run.stderr), daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        def generating(tree: list[psutil.Process]) -> bool:
            if run.poll() is not None:
                pytest.fail(f"the run ended (code {run.returncode}) before the kill: {''.join(log)[-2000:]}")
            return sum("loaded" in line for line in log) == 2 and sum("Worker" in p.name() for p in tree) == 2

        tree = tree_when(run.pid, generating, limit=900)
        workers = [p for p in tree if "Worker" in p.name()]
        busy = [p.cpu_times().user for p in workers]
        time.sleep(2.0)  # a batch in flight: a worker computes
        assert any(p.cpu_times().user - before > 0.5 for p, before in zip(workers, busy)), "no batch in flight"
        tree = psutil.Process(run.pid).children(recursive=True)
        assert sum("EngineCor" in p.name() for p in tree) == 2 and run.poll() is None
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        took, left = wait_gone(tree, limit=20)
        assert not left, f"left running after the run was killed: {describe(left)}"
        print(f"run killed {time.monotonic() - started:.0f} s after its start; its {len(tree)} processes were "
              f"gone {took:.2f} s after the kill")
    finally:
        run.kill()
        run.wait()
        cleanup(tree)
