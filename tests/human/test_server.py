"""The judges' web app as `oversight human serve` runs it: judges deciding at once, and a server killed mid-trial
that resumes from the database alone (oversight/human/app.py: every submission is committed before the reply)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.human.conftest import csrf_of

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from sqlalchemy import select  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from oversight.cli import app as cli  # noqa: E402
from oversight.human.db import Assignment, Judge  # noqa: E402
from oversight.human.trial import create_trial, invite  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(url: str, folder: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`oversight human serve` on `url` in its own process group, up (GET /healthz) before the block; killed after."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log = open(folder / f"serve-{port}.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "oversight.cli", "human", "serve", "--db", url, "--port",
                                str(port), "--cache", str(folder / "cache.sqlite")], cwd=folder, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"the server exited: {(folder / f'serve-{port}.log').read_text()}"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up in 60 s"
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def served_trial(tmp_path, scripted_runs):
    """A trial over the scripted runs (6 items per judge, no question repeated) and its database URL."""
    from oversight.human.db import TrialDB

    url = f"sqlite:///{tmp_path / 'trial.db'}"
    db = TrialDB(url)
    create_trial(db, list(scripted_runs.values()), per_judge=6, unique="question")
    yield db, url
    db.close()


def percent_for(judge: int, position: int) -> int:
    """A distinct click per judge and item, never 50."""
    return [12, 27, 38, 61, 74, 89][(position + 2 * judge) % 6]


def stored(db, name: str) -> dict[int, tuple[int, float, str]]:
    """position -> (order shown, P(answer 1), explanation) of the judge's decisions."""
    with db.session() as s:
        return {a.position: (a.order, a.decision.p_answer1, a.decision.explanation)
                for a in s.scalars(select(Assignment).join(Judge).where(Judge.name == name))
                if a.decision is not None}


def presented(order: int, percent: int) -> float:
    return 1 - percent / 100 if order else percent / 100


def test_two_judges_decide_at_once(served_trial, tmp_path):
    db, url = served_trial
    tokens = [invite(db, name)[0] for name in ("alice", "bob")]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def judge(n: int, base: str) -> None:
        token = tokens[n]
        try:
            with httpx.Client(base_url=base, follow_redirects=True, timeout=30) as client:
                for position in range(6):
                    page = client.get(f"/j/{token}")
                    assert page.url.path == f"/j/{token}/{position}"
                    start.wait(timeout=30)  # both judges submit together
                    form = {"percent": str(percent_for(n, position)), "csrf": csrf_of(page.text),
                            "explanation": f"judge {n} item {position}"}
                    assert client.post(f"/j/{token}/{position}/decide", data=form).status_code == 200
                assert "You have judged all 6" in client.get(f"/j/{token}").text
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            start.abort()

    with serving(url, tmp_path) as (base, _):
        threads = [threading.Thread(target=judge, args=(n, base)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not failures, failures
    for n, name in enumerate(("alice", "bob")):
        decided = stored(db, name)
        assert sorted(decided) == list(range(6)), f"{name}: every decision is stored"
        for position, (order, p_answer1, explanation) in decided.items():
            assert p_answer1 == pytest.approx(presented(order, percent_for(n, position)))
            assert explanation == f"judge {n} item {position}"


def test_a_killed_server_loses_nothing_and_the_link_resumes(served_trial, tmp_path):
    db, url = served_trial
    token, _ = invite(db, "alice")
    with serving(url, tmp_path) as (base, process):
        with httpx.Client(base_url=base, follow_redirects=True, timeout=30) as client:
            for position in range(2):
                page = client.get(f"/j/{token}")
                form = {"percent": str(percent_for(0, position)), "csrf": csrf_of(page.text), "explanation": "kept"}
                assert client.post(f"/j/{token}/{position}/decide", data=form).status_code == 200
            assert client.get(f"/j/{token}").url.path == f"/j/{token}/2"  # the third item is open when it dies
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL

    runner = CliRunner()
    status = runner.invoke(cli, ["human", "status", "--db", url], env={"COLUMNS": "200"})
    assert status.exit_code == 0, status.output
    assert re.search(r"alice\s*│\s*6\s*│\s*2\s*│", status.output), status.output
    assert "1 judge(s), 2 decision(s)" in status.output
    out = tmp_path / "export"
    exported = runner.invoke(cli, ["human", "export", "--db", url, "--out", str(out)], env={"COLUMNS": "200"})
    assert exported.exit_code == 0, exported.output
    import pandas as pd

    rows = pd.concat([pd.read_parquet(path) for path in out.glob("*/human-alice/results.parquet")])
    decided = stored(db, "alice")
    assert sorted(decided) == [0, 1]
    assert sorted(rows["p_answer1"]) == pytest.approx(sorted(p for _, p, _ in decided.values()))
    assert set(rows["judge"]) == {"human:alice"}

    with serving(url, tmp_path) as (base, _):
        with httpx.Client(base_url=base, timeout=30) as client:
            resumed = client.get(f"/j/{token}")
            assert resumed.status_code == 303 and resumed.headers["location"] == f"/j/{token}/2"
            page = client.get(f"/j/{token}/2")
            form = {"percent": "70", "csrf": csrf_of(page.text)}
            assert client.post(f"/j/{token}/2/decide", data=form).status_code == 303
    assert sorted(stored(db, "alice")) == [0, 1, 2]
