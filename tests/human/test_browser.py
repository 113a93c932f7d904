"""The judges' web app in a real browser: a judge opens their private link, decides with the slider as a person
does (keyboard on the range input), reloads mid-way and resumes, and the exported decisions are exactly what the
clicks meant, in the answer order the page showed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

PER_JUDGE = 4
PROTOCOLS = ("debate", "direct")
"""Two protocols, two items each: a judge sees each protocol's items in alternating answer order, so among the
first three items at least one is shown swapped."""
CLICKS = (70, 25, 88)
"""The percentages the judge gives answer 1 (as shown) on their first three items: both sides, all different."""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def oversight(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "oversight.cli", *args], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited ({server.returncode}): {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as reply:
                if reply.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer /healthz in {timeout:.0f} s: {log.read_text()}")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def slide_to(page, percent: int) -> None:
    """Move the slider as a keyboard user does: focus it, then one arrow key press per percentage point."""
    slider = page.locator("#percent")
    slider.focus()
    current = int(slider.input_value())
    key = "ArrowRight" if percent > current else "ArrowLeft"
    for _ in range(abs(percent - current)):
        page.keyboard.press(key)
    assert slider.input_value() == str(percent)


def shown_answers(page) -> tuple[str, str]:
    return page.locator(".answer").nth(0).inner_text(), page.locator(".answer").nth(1).inner_text()


def source_transcripts(runs) -> dict[tuple[str, str], dict]:
    """(run folder name, episode key) -> the saved transcript of the source runs."""
    found = {}
    for run in runs:
        for line in (Path(run) / "transcripts.jsonl").read_text().splitlines():
            record = json.loads(line)
            found[(Path(run).name, record["key"])] = record["transcript"]
    return found


def test_judge_decides_in_a_browser_and_the_export_matches_the_clicks(scripted_runs, tmp_path):
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("Chromium is not installed (CI installs Debian's `chromium`)")
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect

    db = f"sqlite:///{tmp_path / 'trial.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    runs = [str(scripted_runs[protocol]) for protocol in PROTOCOLS]
    oversight("human", "create", *runs, "--db", db, "--per-judge", str(PER_JUDGE), "--unique", "question")
    invited = oversight("human", "invite", "alice", "--db", db, "--url", base)
    link = re.search(rf"{re.escape(base)}/j/[A-Za-z0-9_-]+", invited)
    assert link, invited
    link = link.group(0)

    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        server = subprocess.Popen([sys.executable, "-m", "oversight.cli", "human", "serve", "--db", db, "--port",
                                   str(port), "--cache", str(tmp_path / "cache.sqlite")],
                                  stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    clicked = []  # (percent for answer 1 as shown, the page's answer 1 text, its answer 2 text)
    try:
        wait_healthy(base, server, log)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.goto(link)
                heading = page.locator("h1")
                for number, percent in enumerate(CLICKS, start=1):
                    expect(heading).to_have_text(f"Item {number} of {PER_JUDGE}")
                    if number == 1:
                        # 50 % is not a decision: the page refuses it and stays
                        url = page.url
                        slide_to(page, 60)
                        expect(page.locator("#hint")).to_be_hidden()
                        slide_to(page, 50)
                        page.locator("#submit").click()
                        expect(page.locator("#hint")).to_be_visible()
                        assert page.url == url
                        expect(page.locator("p.error")).to_have_count(0)  # not even sent to the server
                        expect(heading).to_have_text(f"Item 1 of {PER_JUDGE}")
                    if number == 3:
                        # a reload mid-way resumes at the third item, the slider back where the page starts it
                        slide_to(page, 10)
                        page.reload()
                        expect(heading).to_have_text(f"Item 3 of {PER_JUDGE}")
                        expect(page.locator("#progress")).to_have_text("2 decided")
                        assert page.locator("#percent").input_value() == "50"
                        page.goto(link)
                        expect(heading).to_have_text(f"Item 3 of {PER_JUDGE}")
                    slide_to(page, percent)
                    expect(page.locator("#p1")).to_have_text(str(percent))
                    expect(page.locator("#p2")).to_have_text(str(100 - percent))
                    expect(page.locator("#hint")).to_be_hidden()
                    clicked.append((percent, *shown_answers(page)))
                    page.locator("#submit").click()
                    expect(heading).to_have_text(f"Item {number + 1} of {PER_JUDGE}")
            finally:
                browser.close()
    finally:
        stop(server)

    export = tmp_path / "export"
    oversight("human", "export", "--db", db, "--out", str(export))
    tables = [(folder.parent.name, pd.read_parquet(folder / "results.parquet"))
              for folder in export.glob("*/human-alice")]
    rows = [(run, row) for run, table in tables for row in table.to_dict("records")]
    assert len(rows) == len(CLICKS)
    assert {row["judge"] for _, row in rows} == {"human:alice"}
    assert {row["shown_order"] for _, row in rows} == {"presented", "swapped"}
    sources = source_transcripts(runs)
    implied_correct, matched = [], []
    for run, row in rows:
        question = sources[(run, row["episode"])]["question"]
        answers, correct_index = question["answers"], question["correct_index"]
        swapped = row["shown_order"] == "swapped"
        shown = answers[::-1] if swapped else answers
        # the clicked item whose page showed this episode's answers in this order
        matches = [c for c in clicked if shown[0] in c[1] and shown[1] in c[2]]
        assert len(matches) == 1, (shown, clicked)
        percent = matches[0][0]
        matched.append(percent)
        assert row["p_answer1"] == pytest.approx(1 - percent / 100 if swapped else percent / 100)
        chosen_shown = 0 if percent > 50 else 1
        chosen = 1 - chosen_shown if swapped else chosen_shown
        assert row["correct"] == (chosen == correct_index)
        implied_correct.append(chosen == correct_index)
    assert sorted(matched) == sorted(CLICKS)
    accuracy = sum(bool(row["correct"]) for _, row in rows) / len(rows)
    assert accuracy == pytest.approx(sum(implied_correct) / len(implied_correct))
