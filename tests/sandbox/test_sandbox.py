"""oversight/sandbox/: statuses, limits, and escape attempts that must fail while the harness keeps running.

Escape attempts run twice where it matters: with the audit hook (the default) and without it, to show
what the kernel-level limits (own uid, network namespace, RLIMIT_NPROC) hold on their own.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from oversight import sandbox
from oversight.sandbox import run_python

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")
AS_ROOT = os.geteuid() == 0


@pytest.fixture(params=["audit-hook", "kernel-only"])
def layers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the audit hook, and again with only the kernel-level limits."""
    monkeypatch.setattr(sandbox, "_AUDIT_HOOK", request.param == "audit-hook")
    return request.param


def kernel_guarantees(layers: str) -> None:
    """Skip a kernel-only variant that the kernel cannot back here (not root: no private uid)."""
    if layers == "kernel-only" and not AS_ROOT:
        pytest.skip("without root the sandbox keeps the harness's uid: only the audit hook refuses this")


@pytest.fixture(autouse=True)
def _harness_survives(monkeypatch: pytest.MonkeyPatch):
    """Every case: this process is alive afterwards, and the sandbox left no folder behind (in a temp root of
    its own, traversable by the sandbox's uid, so other work on the machine cannot interfere)."""
    root = Path(tempfile.mkdtemp(prefix="sandbox-test-", dir="/tmp"))
    root.chmod(0o711)
    monkeypatch.setattr(sandbox, "_TEMP_ROOT", str(root))
    yield
    os.kill(os.getpid(), 0)
    left = list(root.iterdir())
    shutil.rmtree(root)
    assert left == []


# ------------------------------------------------------------------ statuses


def test_pass_and_output() -> None:
    r = run_python("import math, json\nprint(json.dumps(math.comb(5, 2)))")
    assert (r.status, r.returncode, r.stdout, r.reason) == ("pass", 0, "10\n", "")
    assert r.ok and r.seconds < 5


def test_failed_assert_is_fail_with_the_traceback() -> None:
    r = run_python("def f():\n    return 1\n\nassert f() == 2, 'wrong'\n")
    assert (r.status, r.returncode) == ("fail", 1)
    assert "AssertionError: wrong" in r.stderr and "main.py" in r.stderr
    assert "sandbox_child" not in r.stderr.splitlines()[1]  # the traceback starts in the program


def test_sys_exit_code_is_kept() -> None:
    r = run_python("import sys; sys.exit(3)")
    assert (r.status, r.returncode, r.reason) == ("fail", 3, "exit code 3")


def test_files_are_written_beside_the_program() -> None:
    r = run_python("print(open('data/x.txt').read())", files={"data/x.txt": "hello"})
    assert (r.status, r.stdout) == ("pass", "hello\n")
    with pytest.raises(ValueError, match="relative path"):
        run_python("", files={"../x": "no"})


def test_the_working_folder_is_fresh_and_writable() -> None:
    r = run_python("import os\nopen('out.txt', 'w').write('x')\nprint(sorted(os.listdir('.')))")
    assert (r.status, r.stdout) == ("pass", "['main.py', 'out.txt']\n")


def test_stdin_is_empty_and_environment_minimal() -> None:
    r = run_python("import os, sys\nprint(repr(sys.stdin.read()), sorted(os.environ))")
    assert r.stdout.strip() == "'' ['HOME', 'LANG', 'PATH']"


def test_the_project_is_not_importable() -> None:
    r = run_python("import tasks")
    assert r.status == "fail" and "ModuleNotFoundError" in r.stderr


# ------------------------------------------------------------------ limits


def test_infinite_loop_is_killed_at_the_wall_clock_limit() -> None:
    r = run_python("import time\nprint('started', flush=True)\ntime.sleep(60)", timeout_s=1)
    assert (r.status, r.reason) == ("timeout", "wall-clock limit of 1 s")
    assert r.stdout == "started\n"  # output before the kill is kept
    assert 0.9 < r.seconds < 5


def test_busy_loop_is_killed_at_the_cpu_limit() -> None:
    r = run_python("while True:\n    pass", timeout_s=30, cpu_s=1)
    assert (r.status, r.reason) == ("timeout", "CPU limit of 1 s")
    assert r.seconds < 20


def test_catching_sigxcpu_does_not_help() -> None:
    code = "import signal\nsignal.signal(signal.SIGXCPU, lambda *a: None)\nwhile True:\n    pass"
    r = run_python(code, timeout_s=30, cpu_s=1)
    assert (r.status, r.reason) == ("timeout", "CPU limit of 1 s")


@pytest.mark.parametrize("code", ["x = bytearray(2**34)", "chunks = []\nwhile True:\n    chunks.append(bytes(2**24))"])
def test_memory_bomb_fails_cleanly(code: str) -> None:
    r = run_python(code, memory_mb=256, timeout_s=20)
    assert (r.status, r.reason) == ("error", "memory limit of 256 MB")
    assert "MemoryError" in r.stderr


def test_huge_output_is_capped_while_the_program_runs() -> None:
    r = run_python("import sys\nfor _ in range(2000):\n    sys.stdout.write('x' * 100_000)\nprint('done')",
                   max_output_bytes=1000, timeout_s=30)
    assert r.status == "pass"
    assert r.stdout == "x" * 1000 and r.stdout_cut == 2000 * 100_000 + 5 - 1000


def test_endless_output_times_out_with_capped_output() -> None:
    r = run_python("while True:\n    print('y' * 10_000)", max_output_bytes=500, timeout_s=1)
    assert r.status == "timeout" and len(r.stdout) == 500 and r.stdout_cut > 0


def test_a_huge_file_cannot_fill_the_disk() -> None:
    code = "f = open('big', 'wb')\nwhile True:\n    f.write(bytes(2**20))"
    r = run_python(code, timeout_s=20)
    assert r.status == "fail" and "File too large" in r.stderr


def test_threads_cannot_start() -> None:
    r = run_python("import threading\nthreading.Thread(target=print).start()")
    assert r.status == "fail" and "can't start new thread" in r.stderr


# ------------------------------------------------------------------ escape attempts


def test_socket_attempts_fail(layers: str) -> None:
    code = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.settimeout(3)\n"
            "s.connect(('1.1.1.1', 80))\nprint('connected')")
    r = run_python(code, timeout_s=10)
    assert r.status == "fail" and "connected" not in r.stdout
    if layers == "audit-hook":
        assert "sandbox: socket.__new__ is not allowed" in r.stderr
    else:
        assert r.isolation.get("network") == "namespace", r.isolation
        assert "Network is unreachable" in r.stderr


def test_name_lookup_fails() -> None:
    r = run_python("import socket\nprint(socket.getaddrinfo('pypi.org', 443))", timeout_s=10)
    assert r.status == "fail" and "pypi.org" not in r.stdout


def test_fork_bomb_is_contained(layers: str) -> None:
    r = run_python("import os\nwhile True:\n    os.fork()", timeout_s=5)
    assert r.status == "fail"
    expected = "sandbox: os.fork is not allowed" if layers == "audit-hook" else "Resource temporarily unavailable"
    assert expected in r.stderr


@pytest.mark.parametrize("code", [
    "import subprocess\nsubprocess.run(['true'])",
    "import os\nos.system('true')",
    "import os\nos.execv('/bin/true', ['true'])",
    "import _posixsubprocess",
    "import ctypes\nctypes.CDLL(None).fork()",
    "import multiprocessing\nmultiprocessing.Process(target=print).start()",
])
def test_no_process_can_be_started(code: str) -> None:
    r = run_python(code, timeout_s=5)
    assert r.status == "fail" and "sandbox:" in r.stderr


def test_killing_the_parent_fails(layers: str) -> None:
    kernel_guarantees(layers)
    r = run_python("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\n"
                   "print('sent')")
    if layers == "audit-hook":
        assert r.status == "fail" and "sandbox: os.kill is not allowed" in r.stderr
    else:
        assert r.status == "fail" and "Operation not permitted" in r.stderr


def test_writing_outside_the_working_folder_fails(layers: str, tmp_path: Path) -> None:
    kernel_guarantees(layers)
    run_folder = tmp_path / "runs" / "debate-code-1234"
    run_folder.mkdir(parents=True)
    target = run_folder / "transcripts.jsonl"
    target.write_text("{}\n")
    for code in (f"open({str(target)!r}, 'a').write('forged')",
                 f"open({str(run_folder / 'new.txt')!r}, 'w').write('x')",
                 f"import os\nos.remove({str(target)!r})"):
        r = run_python(code)
        assert r.status == "fail" and ("sandbox:" in r.stderr or "Permission denied" in r.stderr), r.stderr
    assert target.read_text() == "{}\n" and sorted(os.listdir(run_folder)) == ["transcripts.jsonl"]


def test_writing_to_world_writable_folders_is_refused_by_the_hook(tmp_path: Path) -> None:
    shared = Path("/tmp") / f"oversight-escape-{os.getpid()}"
    r = run_python(f"open({str(shared)!r}, 'w').write('x')")
    assert r.status == "fail" and "sandbox: writing" in r.stderr and not shared.exists()


def test_symlinks_out_of_the_folder_are_refused() -> None:
    r = run_python("import os\nos.symlink('/etc/passwd', 'p')\nprint(open('p').read())")
    assert r.status == "fail" and "sandbox: os.symlink is not allowed" in r.stderr and "root:" not in r.stdout


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/self/environ", "__REPO__/pyproject.toml"])
def test_reading_files_outside_is_refused_by_the_hook(path: str) -> None:
    path = path.replace("__REPO__", str(Path(__file__).resolve().parents[2]))
    r = run_python(f"print(open({path!r}).read()[:100])")
    assert r.status == "fail" and "sandbox: reading" in r.stderr and r.stdout == ""
    listing = run_python("import os\nprint(os.listdir('/'))")
    assert listing.status == "fail" and "sandbox: listing" in listing.stderr


def test_limits_cannot_be_raised(layers: str) -> None:
    kernel_guarantees(layers)
    r = run_python("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\nprint('raised')")
    assert r.status == "fail" and "raised" not in r.stdout


def test_the_audit_hook_cannot_be_swapped_out() -> None:
    r = run_python("import sys\nhooks = [o for o in __import__('gc').get_objects() if getattr(o, '__name__', '') "
                   "== 'hook']\nfor h in hooks:\n    h.__code__ = (lambda e, a: None).__code__\n"
                   "print(open('/etc/passwd').read())")
    assert r.status == "fail" and "root:" not in r.stdout


@pytest.mark.skipif(not AS_ROOT, reason="runs as root only")
def test_each_run_gets_its_own_unprivileged_uid() -> None:
    a, b = (run_python("import os\nprint(os.getuid(), os.getgid(), os.getgroups())") for _ in range(2))
    uid_a, uid_b = (int(r.stdout.split()[0]) for r in (a, b))
    assert uid_a != uid_b and min(uid_a, uid_b) >= sandbox._UID_RANGE[0]
    assert a.stdout.split(maxsplit=2)[2].strip() == "[]"


def test_parallel_runs_do_not_interfere() -> None:
    results: list = [None] * 6

    def work(i: int) -> None:
        results[i] = run_python(f"print({i} * 7)")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [(r.status, r.stdout) for r in results] == [("pass", f"{i * 7}\n") for i in range(6)]


def test_a_missing_interpreter_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "interpreter",
                        lambda private_uid: sandbox.Interpreter("/nonexistent/python", ()))
    r = run_python("print(1)")
    assert r.status == "error" and "cannot start the sandbox interpreter" in r.reason
