"""The first code the sandbox process runs (`python -I -S -B -u sandbox_child.py SETTINGS`); see `oversight.sandbox`.

It runs stand-alone (standard library only, nothing from this project on `sys.path`) and, in this
order, before the untrusted program:

1. lowers its resource limits (address space, CPU seconds, processes, file size, open files, core
   dumps), the hard limits too, so the program cannot raise them again;
2. moves itself into a new network namespace (as root: `unshare(CLONE_NEWNET)`; otherwise together
   with a new user namespace), where no interface is up: no connection can leave the machine;
3. as root, drops to the run's own unprivileged uid/gid (no supplementary groups), which removes
   every capability: root-owned files and other users' processes are out of reach;
4. installs an audit hook (`sys.addaudithook`, which cannot be removed) that refuses sockets,
   process creation, signals, `ctypes`, opening files outside the working directory (reading the
   interpreter's standard library excepted), and changing files or folders outside it;
5. runs `main.py` from the working directory as `__main__`.

Exit codes it reserves: `MEMORY_EXIT` (the program died of MemoryError: the memory limit) and
`SETUP_EXIT` (a step above failed; the reason is on stderr). The settings arrive as one JSON
argument; what each step achieved is written as one JSON line to stderr, prefixed `SETUP_TAG`, and
removed from the stderr the caller sees.
"""

import json
import os
import sys

MEMORY_EXIT = 121
SETUP_EXIT = 122
SETUP_TAG = "\x00sandbox-setup "

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_READ_ONLY_DEVICES = ("/dev/null", "/dev/urandom", "/dev/random", "/dev/zero")
_PATH_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
                "os.utime", "os.chdir", "os.chflags", "os.lchflags", "os.setxattr", "os.removexattr",
                "shutil.rmtree", "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.move",
                "shutil.chown", "shutil.make_archive", "shutil.unpack_archive")
_LIST_EVENTS = ("os.listdir", "os.scandir", "glob.glob", "glob.glob/2")
_DENIED_PREFIXES = ("socket.", "ctypes.", "subprocess.", "os.exec", "os.fork", "os.posix_spawn", "os.spawn",
                    "winreg.", "_winapi.")
_DENIED = {"os.system", "os.startfile", "os.kill", "os.killpg", "signal.pthread_kill", "os.symlink", "os.link",
           "resource.setrlimit", "resource.prlimit", "pty.spawn", "sys.remote_exec"}
_DENIED_IMPORTS = {"_posixsubprocess", "_ctypes", "ctypes"}
"""`_posixsubprocess.fork_exec` starts processes without an audit event; ctypes reaches raw memory."""


def _limits(settings: dict) -> None:
    import resource

    for name, value in (("RLIMIT_AS", settings["memory_bytes"]), ("RLIMIT_NPROC", 1),
                        ("RLIMIT_FSIZE", settings["file_bytes"]), ("RLIMIT_NOFILE", 64), ("RLIMIT_CORE", 0)):
        resource.setrlimit(getattr(resource, name), (value, value))
    # SIGXCPU at the limit; SIGKILL a second later for a program that catches SIGXCPU.
    resource.setrlimit(resource.RLIMIT_CPU, (settings["cpu_s"], settings["cpu_s"] + 1))


def _unshare_network() -> str:
    """`namespace` when the process is now in a private network namespace, else why not."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    flags = _CLONE_NEWNET if os.geteuid() == 0 else _CLONE_NEWUSER | _CLONE_NEWNET
    if libc.unshare(flags) == 0:
        return "namespace"
    return f"unavailable ({os.strerror(ctypes.get_errno())})"


def _drop_privileges(uid: int | None) -> None:
    if uid is None:
        return
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise RuntimeError("could not drop privileges")


def _guard(workdir: str, read_roots: tuple[str, ...]) -> None:
    """Install the audit hook: best effort inside the interpreter, on top of the OS limits above."""
    realpath = os.path.realpath
    join = os.path.join
    fspath = os.fspath
    sep = os.sep
    workdir = realpath(workdir)

    def within(path: object, roots: tuple[str, ...]) -> bool:
        if isinstance(path, int):  # an already-open descriptor
            return True
        try:
            p = fspath(path)
            if isinstance(p, bytes):
                p = os.fsdecode(p)
            full = realpath(join(workdir, p))
        except (TypeError, ValueError):
            return False
        return any(full == root or full.startswith(root + sep) for root in roots)

    writable = (workdir,)
    readable = (workdir, *read_roots, *_READ_ONLY_DEVICES)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
            if not within(path, writable if writing else readable):
                raise PermissionError(f"sandbox: {'writing' if writing else 'reading'} {path!r} is not allowed "
                                      "outside the working directory")
        elif event in _PATH_EVENTS:
            for arg in args[:2]:
                if isinstance(arg, (str, bytes, os.PathLike)) and not within(arg, writable):
                    raise PermissionError(f"sandbox: {event} on {arg!r} is not allowed outside the working directory")
        elif event in _LIST_EVENTS:
            if args and isinstance(args[0], (str, bytes, os.PathLike)) and not within(args[0], readable):
                raise PermissionError(f"sandbox: listing {args[0]!r} is not allowed")
        elif event in _DENIED or event.startswith(_DENIED_PREFIXES):
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event == "import" and args[0] in _DENIED_IMPORTS:
            raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
        elif event == "object.__setattr__" and len(args) > 1 and args[1] == "__code__":
            raise PermissionError("sandbox: replacing a function's code is not allowed")

    sys.addaudithook(hook)


def main() -> None:
    settings = json.loads(sys.argv[1])
    workdir = settings["workdir"]
    report = {}
    try:
        _limits(settings)
        report["network"] = _unshare_network() if settings["unshare_network"] else "not requested"
        _drop_privileges(settings["uid"])
        report["uid"] = os.getuid()
        for name in ("ctypes", "_ctypes", "ctypes._endian"):  # used above; not for the program
            sys.modules.pop(name, None)
        os.chdir(workdir)
        source_path = os.path.join(workdir, "main.py")
        with open(source_path, encoding="utf-8") as f:
            code = compile(f.read(), source_path, "exec")
        if settings["audit_hook"]:
            _guard(workdir, tuple(os.path.realpath(p) for p in settings["read_roots"]))
    except Exception as e:  # noqa: BLE001  (anything here is the sandbox's fault, not the program's)
        sys.stderr.write(f"sandbox setup failed: {type(e).__name__}: {e}\n")
        sys.stderr.flush()
        os._exit(SETUP_EXIT)
    sys.stderr.write(SETUP_TAG + json.dumps(report) + "\n")
    sys.stderr.flush()
    sys.argv = ["main.py"]
    namespace = {"__name__": "__main__", "__file__": source_path, "__builtins__": __builtins__}
    try:
        exec(code, namespace)  # noqa: S102  (running the program is this file's purpose)
    except MemoryError:
        os.write(2, b"MemoryError: the program exceeded the sandbox memory limit\n")
        os._exit(MEMORY_EXIT)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001  (report any failure of the program, then exit 1)
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__.tb_next if e.__traceback__ else None)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


if __name__ == "__main__":
    main()
