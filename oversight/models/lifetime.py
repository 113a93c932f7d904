"""Model processes die with the process that started them, however it dies.

vLLM runs its engine core in a child process it starts itself (`spawn` on CPU, `fork` by default on
GPUs) and the engine core starts the model workers. The workers watch the engine core (a pipe that
closes when it dies), but the engine core does not watch its parent: when the run is killed by
SIGKILL (`kill -9`, the OOM killer), which runs no cleanup, the engine core and its workers live on
as orphans holding the model's memory. There is no hook to run code in those children
(`PR_SET_PDEATHSIG` needs one, and would also fire when the *thread* that started them exits), so
this process is watched from outside:

* `guard()` hands out a `Lease` on this process's watchdog, a small stdlib-only process (this file run
  as a script) started with the first lease and stopped, killing nothing, when the last is released.
* Processes started inside `lease.marking()` are marked: `OVERSIGHT_OWNERS` in their environment
  holds the lease's token, and every process they start inherits it (exec'd children through their
  environment block; children forked from this process announce their pid to the watchdog). A
  process that passes its own environment to a child adds `lease.env()`.
* The watchdog waits for EOF on a pipe whose only write end this process holds: the kernel closes it
  the instant the process dies (a poll of its parent pid backs this up). It then stops (SIGSTOP) every
  marked process and all their descendants, so none can start another, and kills them (SIGKILL).

Only marked processes and their descendants are ever signalled, never the process that started the
run or its ancestors (the user's shell, pytest). Linux only (it reads /proc); elsewhere leases do
nothing.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time

ENV_VAR = "OVERSIGHT_OWNERS"
"""Colon-separated tokens of every watchdog whose owner a process belongs to (owners nest)."""

_RELEASE = b"release\n"
_POLL_S = 0.5


# ---------------------------------------------------------------------------------- watchdog side


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time in clock ticks since boot) of a live process, None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()  # the name (field 2) may hold spaces and ')'
    return fields[0].decode(), int(fields[1]), int(fields[19])


def _carries(pid: int, token: str) -> bool:
    """Whether the environment `pid` started with lists `token` under ENV_VAR."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:  # gone, a zombie, or not ours
        return False
    prefix = ENV_VAR.encode() + b"="
    return any(entry.startswith(prefix) and token.encode() in entry[len(prefix):].split(b":")
               for entry in data.split(b"\0"))


def _processes() -> dict[int, tuple[str, int, int]]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (st := _stat(int(name))) is not None:
            table[int(name)] = st
    return table


def _targets(token: str, announced: dict[int, int], spare: set[int]) -> dict[int, int]:
    """pid -> start time of every live marked process and every descendant of one."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    roots = [pid for pid, (state, _, start) in table.items()
             if state != "Z" and (announced.get(pid) == start or _carries(pid, token))]
    found: dict[int, int] = {}
    while roots:
        pid = roots.pop()
        if pid in found or pid in spare or table[pid][0] == "Z":
            continue
        found[pid] = table[pid][2]
        roots.extend(children.get(pid, ()))
    return found


def _signal(pid: int, start: int, sig: int) -> None:
    """Signal `pid` only if it is still the process that started at `start` (pids are reused)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        st = _stat(pid)
        if st is None or st[2] != start:
            return
        if fd is not None:
            signal.pidfd_send_signal(fd, sig)
        else:
            os.kill(pid, sig)
    except OSError:
        pass
    finally:
        if fd is not None:
            os.close(fd)


def kill_marked(token: str, announced: dict[int, int] | None = None, spare: set[int] | None = None) -> list[int]:
    """SIGKILL every process marked with `token` (or announced: pid -> start time) and all their descendants;
    returns their pids. Each is stopped first and the tree walked again until it stops growing, so a
    process cannot escape by starting a child between the walk and the kill."""
    announced = announced or {}
    spare = {os.getpid(), 1, *(spare or ())}
    killed: dict[int, int] = {}
    clean = 0
    for _ in range(50):  # until two walks 20 ms apart find nothing: a process in the middle of exec shows
        stopped: dict[int, int] = {}  # an empty environment for a moment
        for _ in range(100):
            new = {pid: start for pid, start in _targets(token, announced, spare).items() if pid not in stopped}
            if not new:
                break
            for pid, start in new.items():
                _signal(pid, start, signal.SIGSTOP)
            stopped.update(new)
        for pid, start in stopped.items():
            _signal(pid, start, signal.SIGKILL)
        killed.update(stopped)
        clean = 0 if stopped else clean + 1
        if clean == 2:
            break
        time.sleep(0.02)
    return sorted(killed)


def _ancestors(pid: int) -> set[int]:
    out = set()
    while pid > 1 and pid not in out and (st := _stat(pid)) is not None:
        out.add(pid)
        pid = st[1]
    return out


def watch(token: str, owner: int) -> int:
    """The watchdog's loop (stdin: the owner's pipe). Returns when the owner releases it, or after killing
    the owner's marked processes once the owner is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the run; its death is our cue
    spare = _ancestors(os.getppid()) | {owner}  # never the owner's ancestors (a shell, pytest)
    announced: dict[int, int] = {}
    pending = b""
    while os.getppid() == owner:
        ready, _, _ = select.select([0], [], [], _POLL_S)
        if not ready:
            continue
        data = os.read(0, 4096)
        if not data:  # EOF: the owner is dying (its last fd closed), unless it released us first
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line + b"\n" == _RELEASE:
                return 0
            if line.startswith(b"+") and line[1:].isdigit() and (st := _stat(int(line[1:]))) is not None:
                announced[int(line[1:])] = st[2]
    kill_marked(token, announced, spare)
    return 0


# ---------------------------------------------------------------------------------- owner side


class _Watchdog:
    def __init__(self) -> None:
        import secrets
        import subprocess

        self.owner = os.getpid()
        self.token = f"{self.owner}-{secrets.token_hex(6)}"
        self.leases = 0
        self.marking = 0
        self.previous: str | None = None
        read_end, self.write_end = os.pipe()  # both close on exec: no child inherits the write end
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__), self.token, str(self.owner)],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
                start_new_session=True)  # outside the terminal's process group: Ctrl-C is not for it
        except BaseException:
            os.close(self.write_end)
            raise
        finally:
            os.close(read_end)

    def stop(self) -> None:
        try:
            os.write(self.write_end, _RELEASE)
        except OSError:
            pass
        os.close(self.write_end)
        try:
            self.process.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a watchdog that does not answer is ended
            self.process.kill()
            self.process.wait()


_dog: _Watchdog | None = None
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child holds a copy of the pipe's write end, which would hide the owner's death: it closes
    it, and announces itself first if it was forked while marking (it carries no token of its own)."""
    global _dog
    dog, _dog = _dog, None
    if dog is None:
        return
    try:
        if dog.marking:
            os.write(dog.write_end, b"+%d\n" % os.getpid())
    except OSError:
        pass
    try:
        os.close(dog.write_end)
    except OSError:
        pass


class Lease:
    """A hold on this process's watchdog: `marking()` marks the processes started inside it, `env()` is the
    marking for a child's own environment, `release()` (idempotent) ends the hold."""

    def __init__(self, dog: _Watchdog | None) -> None:
        self._dog = dog

    @property
    def active(self) -> bool:
        return self._dog is not None

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """ENV_VAR for a child's environment (`base`, else this process's), with this lease's token added."""
        if self._dog is None:
            return {}
        current = (os.environ if base is None else base).get(ENV_VAR)
        return {ENV_VAR: f"{current}:{self._dog.token}" if current else self._dog.token}

    def marking(self) -> _Marking:
        return _Marking(self._dog)

    def release(self) -> None:
        global _dog
        dog, self._dog = self._dog, None
        if dog is None:
            return
        with _lock:
            dog.leases -= 1
            if dog.leases or _dog is not dog:
                return
            _dog = None
        dog.stop()


class _Marking:
    def __init__(self, dog: _Watchdog | None) -> None:
        self.dog = dog

    def __enter__(self) -> None:
        dog = self.dog
        if dog is None:
            return
        # Python's resource tracker (started with the first multiprocessing child) removes the shared
        # memory its users leave behind once they are all gone: it must outlive them, so it stays unmarked.
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
        with _lock:
            if dog.marking == 0:
                dog.previous = os.environ.get(ENV_VAR)
                os.environ[ENV_VAR] = f"{dog.previous}:{dog.token}" if dog.previous else dog.token
            dog.marking += 1

    def __exit__(self, *_: object) -> None:
        dog = self.dog
        if dog is None:
            return
        with _lock:
            dog.marking -= 1
            if dog.marking == 0:
                if dog.previous is None:
                    os.environ.pop(ENV_VAR, None)
                else:
                    os.environ[ENV_VAR] = dog.previous


def guard() -> Lease:
    """A lease on this process's watchdog, started now if it is not running (Linux; elsewhere a no-op)."""
    global _dog
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self"):
        return Lease(None)
    with _lock:
        if _dog is None or _dog.owner != os.getpid():
            try:
                _dog = _Watchdog()
            except OSError as e:  # no interpreter to start (an embedded Python): run unguarded, but say so
                import warnings

                warnings.warn(f"no watchdog for this process's model processes ({e}): if it is killed, they "
                              "may outlive it", RuntimeWarning, stacklevel=2)
                return Lease(None)
        _dog.leases += 1
        return Lease(_dog)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


if __name__ == "__main__":
    sys.exit(watch(sys.argv[1], int(sys.argv[2])))
