"""Run untrusted Python (model-written programs, mutated solutions, benchmark tests) in a sandbox.

`run_python(code)` writes `code` to `main.py` in a fresh temporary folder and runs it in a separate
Python process, then removes the folder. The process:

- starts in its own session and process group (`start_new_session`); on the wall-clock limit the
  whole group is killed with SIGKILL;
- runs an isolated interpreter (`python -I -S -B -u`: no site-packages, no user site, no `PYTHON*`
  variables, not even this project on `sys.path`) with a minimal environment (`PATH`, `LANG`,
  `HOME` = the folder), stdin from /dev/null, the folder as working directory;
- gets resource limits it cannot raise (the hard limits are lowered too): address space
  `memory_mb` (RLIMIT_AS), CPU seconds `cpu_s` (RLIMIT_CPU: SIGXCPU, then SIGKILL a second later;
  default: the wall-clock limit rounded up), one process (RLIMIT_NPROC = 1: it cannot fork or start
  threads), 16 MiB per written file (RLIMIT_FSIZE: a longer write fails with `OSError: File too
  large`, so filling the disk takes more files than the run has time for), 64 open files, no core
  dumps;
- gets a private network namespace with no interface up, when the kernel allows it (as root; as
  another user when unprivileged user namespaces are enabled);
- when the harness runs as root: drops to its own unprivileged uid/gid, different for every run
  (chosen at random from a range no account uses), with no capabilities and no groups;
- runs behind an audit hook (`oversight/sandbox/child.py`) that refuses sockets, subprocesses, `fork`
  and `exec`, `os.system`, signals (`os.kill`, `os.killpg`), `ctypes`, reading files outside the
  folder (except the interpreter's standard library and /dev/null, /dev/urandom), and writing,
  deleting, renaming, listing or `chdir` outside the folder.

Statuses (`SandboxResult.status`, with `reason` saying which limit or signal when not `pass`):

- `pass`: exit code 0.
- `fail`: the program ran and failed: non-zero exit (an exception, a failed `assert`, `sys.exit(n)`)
  or a crash signal (SIGSEGV, SIGABRT...). Refused operations surface here, as the
  `PermissionError` the program did not handle.
- `timeout`: killed at the wall-clock limit (`timeout_s`) or the CPU limit (`cpu_s`).
- `error`: the sandbox could not run the program (no interpreter, setup failed) or the program broke
  a resource limit: memory (a `MemoryError` it did not handle, or a SIGKILL that was neither ours
  nor the CPU limit's: the kernel's out-of-memory killer) or file size (SIGXFSZ, for a program that
  stops ignoring it). Such a run says nothing about whether the program is right.

stdout and stderr are read through pipes as the program writes them and capped at
`max_output_bytes` each (the rest is counted and dropped, `stdout_cut`/`stderr_cut`), so a program
printing forever costs neither memory nor disk.

What is guaranteed, and what is not:

- Guaranteed by the kernel (cannot be undone from inside): the resource limits; the process group
  kill on timeout; no second process (so no fork bomb and nothing left running); with a network
  namespace, no network. As root, the run's own uid also makes the kernel refuse signals to the
  harness or any other process (`os.kill(os.getppid(), 9)` fails), writes to anything it does not
  own (the run folder, the repository, other users' files; world-writable folders such as /tmp
  excepted) and any raised limit.
- Best effort only (the audit hook, inside the interpreter): refusing to read world-readable files
  outside the folder (e.g. /etc/passwd), to write into world-writable folders, and, without a
  network namespace or not as root, refusing sockets, signals and writes. Python's audit hooks are
  not a security boundary: a determined program can get around them (e.g. through a memory-safety
  bug in an extension module). The OS-level limits above are what contain a hostile program.
- A program can always lie about its own result (e.g. `os._exit(0)` before its tests run, or the
  reserved exit codes of `oversight/sandbox/child.py`): the sandbox contains it, it does not certify it.
- Needs Linux (resource limits, namespaces, `pidfd`); elsewhere every run is an `error`.

Which interpreter: `$OVERSIGHT_SANDBOX_PYTHON` when set; otherwise the running interpreter, unless the
run drops to its own uid and that interpreter's standard library is not readable by other users
(e.g. under a 0700 home directory), in which case the first of python3.X / python3 in /usr/bin and
/usr/local/bin whose standard library is. With none, the run keeps the harness's uid (the kernel
guarantees then shrink to the non-root ones above) and `SandboxResult.isolation` says so.

`run_python` is safe to call from several threads at once.

Opt-in: tasks that must execute code while loading call `require_code_execution`, which passes only
inside `with code_execution():` (what `--allow-code-exec` turns on); `run_python` itself does not check.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import os
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from oversight.errors import ConfigError
from oversight.sandbox import child as sandbox_child

Status = Literal["pass", "fail", "timeout", "error"]

FILE_LIMIT_BYTES = 16 * 2**20
"""RLIMIT_FSIZE: the largest file the program may write."""
INTERPRETER_ENV = "OVERSIGHT_SANDBOX_PYTHON"
_UID_RANGE = (1_500_000_000, 2_000_000_000)
"""Per-run uids are drawn from here: far above any account, below the kernel's 2**32 - 1."""
_GRACE_S = 0.5
"""After the program exits: how long to wait for the pipes to close before cutting them."""
_CHILD = Path(sandbox_child.__file__).resolve()
_TEMP_ROOT: str | None = None
"""Where the working folders are made (None: the system's temp folder); it must be traversable by any uid."""
_AUDIT_HOOK = True
"""Tests switch the audit hook off to show what the kernel-level limits hold on their own."""


_CODE_EXEC: contextvars.ContextVar[bool] = contextvars.ContextVar("oversight_code_exec", default=False)


@contextlib.contextmanager
def code_execution(allowed: bool = True) -> Iterator[None]:
    """Within the block, tasks may execute code in the sandbox while loading (`--allow-code-exec`)."""
    token = _CODE_EXEC.set(allowed)
    try:
        yield
    finally:
        _CODE_EXEC.reset(token)


def code_execution_allowed() -> bool:
    return _CODE_EXEC.get()


def require_code_execution(what: str, instead: str = "") -> None:
    """ConfigError naming the flag unless code execution was allowed (`code_execution`)."""
    if not code_execution_allowed():
        raise ConfigError(f"{what} executes code in the sandbox; allow it with --allow-code-exec "
                          f"(Python: `with oversight.sandbox.code_execution(): ...`){instead}")


@dataclass(frozen=True)
class SandboxResult:
    status: Status
    returncode: int | None
    """Exit code; negative: killed by that signal; None: never started."""
    stdout: str
    stderr: str
    seconds: float
    """Wall-clock time of the run."""
    reason: str = ""
    """Why the status is not `pass`: the limit hit, the signal, or the setup failure."""
    stdout_cut: int = 0
    """Bytes of stdout dropped beyond `max_output_bytes`."""
    stderr_cut: int = 0
    isolation: dict[str, object] = field(default_factory=dict)
    """What the sandbox achieved: `network` (`namespace` or why not), `uid` (the program's uid)."""

    @property
    def ok(self) -> bool:
        return self.status == "pass"


class _Capped:
    """Bytes of one pipe: the first `cap` kept, the rest counted."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept = bytearray()
        self.cut = 0

    def add(self, data: bytes) -> None:
        room = self.cap - len(self.kept)
        self.kept += data[:max(room, 0)]
        self.cut += max(len(data) - max(room, 0), 0)

    def text(self) -> str:
        return self.kept.decode("utf-8", errors="replace")


def run_python(code: str, *, timeout_s: float = 10, memory_mb: int = 512, cpu_s: int | None = None,
               max_output_bytes: int = 64_000, files: dict[str, str] | None = None) -> SandboxResult:
    """Run `code` as `main.py` in the sandbox (see the module docstring); `files` are written beside it."""
    if timeout_s <= 0 or memory_mb < 16 or (cpu_s is not None and cpu_s < 1) or max_output_bytes < 0:
        raise ValueError(f"bad sandbox limits: timeout_s={timeout_s}, memory_mb={memory_mb}, cpu_s={cpu_s}, "
                         f"max_output_bytes={max_output_bytes}")
    start = time.perf_counter()
    if not sys.platform.startswith("linux"):
        return SandboxResult("error", None, "", "", 0.0, reason=f"the sandbox needs Linux, not {sys.platform}")
    uid = secrets.randbelow(_UID_RANGE[1] - _UID_RANGE[0]) + _UID_RANGE[0] if os.geteuid() == 0 else None
    python = interpreter(private_uid=uid is not None)
    if python.stdlib_private:
        uid = None
    workdir = Path(tempfile.mkdtemp(prefix="oversight-sandbox-", dir=_TEMP_ROOT))
    try:
        _write_files(workdir, {**(files or {}), "main.py": code})
        if uid is not None:
            for path in (workdir, *workdir.rglob("*")):
                os.chown(path, uid, uid)
        settings = {"workdir": str(workdir), "memory_bytes": memory_mb * 2**20,
                    "cpu_s": cpu_s or max(1, int(-(-timeout_s // 1))), "file_bytes": FILE_LIMIT_BYTES,
                    "uid": uid, "unshare_network": True, "audit_hook": _AUDIT_HOOK, "read_roots": list(python.read_roots)}
        return _run(python.path, settings, workdir, timeout_s, max_output_bytes, start)
    finally:
        shutil.rmtree(workdir, onerror=_force_remove)


def _write_files(workdir: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"sandbox file name {name!r} must be a relative path inside the working folder")
        target = workdir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")


def _force_remove(func, path, _exc_info) -> None:  # shutil.rmtree's onerror signature
    """The program may have made files or folders read-only; make them writable and retry."""
    try:
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
        func(path)
    except OSError:
        pass


def _run(python: str, settings: dict, workdir: Path, timeout_s: float, cap: int, start: float) -> SandboxResult:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir)}
    argv = [python, "-I", "-S", "-B", "-u", str(_CHILD), json.dumps(settings)]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=workdir, env=env, start_new_session=True, close_fds=True)
    except OSError as e:
        return SandboxResult("error", None, "", "", time.perf_counter() - start,
                             reason=f"cannot start the sandbox interpreter {python}: {e}")
    out, err = _Capped(cap), _Capped(cap)
    timed_out = False
    try:
        timed_out = _pump(proc, out, err, start + timeout_s)
    finally:
        _kill_group(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    seconds = time.perf_counter() - start
    stderr, isolation = _split_setup_report(err.text())
    status_, reason = _classify(proc.returncode, timed_out, usage.ru_utime + usage.ru_stime, settings, timeout_s)
    if status_ == "error" and proc.returncode == sandbox_child.SETUP_EXIT:
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else reason
    return SandboxResult(status_, proc.returncode, out.text(), stderr, seconds, reason, out.cut, err.cut, isolation)


def _pump(proc: subprocess.Popen, out: _Capped, err: _Capped, deadline: float) -> bool:
    """Read both pipes until the process exits and they close; True when the deadline came first."""
    assert proc.stdout is not None and proc.stderr is not None
    pidfd = os.pidfd_open(proc.pid)
    sinks = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    try:
        with selectors.DefaultSelector() as sel:
            for fd in sinks:
                os.set_blocking(fd, False)
                sel.register(fd, selectors.EVENT_READ)
            sel.register(pidfd, selectors.EVENT_READ)
            exited_at: float | None = None
            while True:
                now = time.perf_counter()
                if exited_at is None and now >= deadline:
                    return True
                if exited_at is not None and (len(sel.get_map()) == 0 or now >= exited_at + _GRACE_S):
                    return False
                limit = deadline if exited_at is None else exited_at + _GRACE_S
                for key, _ in sel.select(max(limit - now, 0)):
                    fd = key.fd
                    if fd == pidfd:
                        exited_at = time.perf_counter()
                        sel.unregister(fd)
                        continue
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if data:
                        sinks[fd].add(data)
                    else:
                        sel.unregister(fd)
    finally:
        os.close(pidfd)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _split_setup_report(stderr: str) -> tuple[str, dict[str, object]]:
    """(stderr without the child's setup line, what that line reported)."""
    before, tag, after = stderr.partition(sandbox_child.SETUP_TAG)
    if not tag:
        return stderr, {}
    line, _, rest = after.partition("\n")
    try:
        report = json.loads(line)
    except json.JSONDecodeError:
        report = {}
    return before + rest, report


def _classify(returncode: int, timed_out: bool, cpu_used: float, settings: dict,
              timeout_s: float) -> tuple[Status, str]:
    if timed_out:
        return "timeout", f"wall-clock limit of {timeout_s:g} s"
    if returncode == 0:
        return "pass", ""
    if returncode == -signal.SIGXCPU or (returncode == -signal.SIGKILL and cpu_used >= settings["cpu_s"] - 0.05):
        return "timeout", f"CPU limit of {settings['cpu_s']} s"
    if returncode == sandbox_child.MEMORY_EXIT:
        return "error", f"memory limit of {settings['memory_bytes'] // 2**20} MB"
    if returncode == sandbox_child.SETUP_EXIT:
        return "error", "sandbox setup failed"
    if returncode == -signal.SIGXFSZ:
        return "error", f"file size limit of {settings['file_bytes'] // 2**20} MiB"
    if returncode == -signal.SIGKILL:
        return "error", "killed by SIGKILL (out of memory)"
    if returncode < 0:
        return "fail", f"killed by {signal.Signals(-returncode).name}"
    return "fail", f"exit code {returncode}"


# --------------------------------------------------------------------------- the interpreter


@dataclass(frozen=True)
class Interpreter:
    path: str
    read_roots: tuple[str, ...]
    """Its standard library folders (`sys.path` under -I -S): the program may read these."""
    stdlib_private: bool = False
    """True when other users cannot read the standard library (so the run cannot change uid)."""


def interpreter(private_uid: bool) -> Interpreter:
    """The interpreter the sandbox runs (see the module docstring)."""
    override = os.environ.get(INTERPRETER_ENV, "").strip()
    if override:
        found = _probe(override)
        if found is None:
            raise ConfigError(f"{INTERPRETER_ENV}={override!r} is not a working Python 3.8+ interpreter; "
                              "unset it or point it at one")
        return found if not private_uid or _world_readable(found.read_roots) else _private(found)
    own = _probe(sys.executable)
    assert own is not None, "the running interpreter must be able to run the sandbox"
    if not private_uid or _world_readable(own.read_roots):
        return own
    for candidate in _system_pythons():
        found = _probe(candidate)
        if found is not None and _world_readable(found.read_roots):
            return found
    return _private(own)


def _private(found: Interpreter) -> Interpreter:
    return Interpreter(found.path, found.read_roots, stdlib_private=True)


def _system_pythons() -> list[str]:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return [str(Path(d) / name) for name in (version, "python3") for d in ("/usr/bin", "/usr/local/bin")
            if (Path(d) / name).is_file()]


@functools.cache
def _probe(path: str) -> Interpreter | None:
    """The interpreter at `path` with its isolated `sys.path`, or None when it does not run or is too old."""
    try:
        probe = "import sys, json; print(json.dumps([sys.version_info >= (3, 8), sys.path]))"
        done = subprocess.run([path, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=30,
                              env={"PATH": "/usr/bin:/bin"}, check=False)
        new_enough, paths = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if done.returncode != 0 or not new_enough:
        return None
    roots = tuple(dict.fromkeys(os.path.realpath(p) for p in paths if p and os.path.exists(p)))
    return Interpreter(path, roots)


def _world_readable(paths: tuple[str, ...]) -> bool:
    """Whether any user can reach and read every path (each ancestor folder o+x, the path o+r)."""
    for path in paths:
        p = Path(path)
        for ancestor in (p, *p.parents):
            try:
                mode = ancestor.stat().st_mode
            except OSError:
                return False
            if not mode & stat.S_IXOTH:
                return False
        if not p.stat().st_mode & stat.S_IROTH:
            return False
    return True
