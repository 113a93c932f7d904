"""A run folder is locked while a run has it open: a second process gets one clear error naming the first;
a killed holder leaves no stale lock; one process may reopen its own folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oversight.errors import ConfigError
from oversight.store import LOCK, RunStore

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from oversight.store import RunStore
store = RunStore.open(sys.argv[1], {"a": 1}, {"a": 1})
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path: Path):
    """Another process with the run folder open; yields (folder, process)."""
    folder = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    yield folder, process
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()


def test_second_process_gets_an_error_naming_the_holder(holder) -> None:
    folder, process = holder
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ConfigError, match=rf"run folder {folder} is in use by another run \(pid {process.pid} on "
                                          r".*\); wait for it to finish or stop it, or pass another --name or --out"):
        RunStore.open(folder, {"a": 1}, {"a": 1})
    with pytest.raises(ConfigError, match=rf"pid {process.pid}"):
        RunStore(folder).check({"a": 1})  # the read-only check the runner does before loading models
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing written


def test_a_killed_holder_leaves_no_stale_lock(holder) -> None:
    folder, process = holder
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (folder / LOCK).exists()  # the file stays, the kernel dropped the lock with the process
    store = RunStore.open(folder, {"a": 1}, {"a": 1})
    assert f"pid {os.getpid()}" in (folder / LOCK).read_text()
    store.close()


def test_one_process_may_reopen_its_own_folder_and_closing_releases_it(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    first = RunStore.open(folder, {"a": 1}, {"a": 1})
    second = RunStore.open(folder, {"a": 1}, {"a": 1})  # a sweep retrying a cell in the same process
    first.close()
    second.close()
    probe = subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(120)", ""), str(folder)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0, probe.stderr  # released: another process can take it


def test_cli_run_into_a_locked_folder_exits_2_and_changes_nothing(holder, tmp_path: Path) -> None:
    folder, process = holder
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "oversight.cli", "run", "direct", "--task", "math", "--limit", "2",
                             "--judge", "scripted:echo", "--out", str(folder.parent), "--name", folder.name],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert f"in use by another run (pid {process.pid}" in message and "Traceback" not in message
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert time.monotonic() - start < 60
