"""The README's picture of a human judge's decision page (`docs/figures/human-judge.png`).

Runs a scripted 3-round debate on QuALITY (no model is loaded), puts its episodes in a fresh trial, invites one
judge, serves the judges' app on a free local port and opens the judge's first item in headless Chromium at
1100x1400; the slider is moved to 72 % and the visible part of the page is saved. Needs Chromium on the PATH
(Debian's `chromium`) and Playwright's Python package (no browser download: the system Chromium is used).
QuALITY is read from `$OVERSIGHT_DATA_DIR`, by default `../shared/data` beside the checkout when it exists.

    python benchmarks/human_screenshot.py                 # writes docs/figures/human-judge.png
    python benchmarks/human_screenshot.py --out page.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "figures" / "human-judge.png"
SHARED_DATA = ROOT.parent / "shared" / "data"
VIEWPORT = {"width": 1100, "height": 1400}
PERCENT = 72


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_trial(root: Path) -> tuple[str, str]:
    """A trial over a scripted debate run; returns (database URL, the judge's private token)."""
    import oversight
    from oversight.human.db import TrialDB
    from oversight.human.trial import create_trial, invite

    run = oversight.run("debate", task="quality", rounds=3, limit=4, backend="scripted", judge="scripted:first",
                        debater="scripted:echo", out=str(root / "runs"), quiet=True)
    url = f"sqlite:///{root / 'trial.db'}"
    db = TrialDB(url)
    create_trial(db, [run.path], per_judge=2, unique="question")
    token, _ = invite(db, "judge-1")
    db.close()
    return url, token


def serve(url: str, port: int):
    """The judges' app in a background thread; returns the uvicorn server (set `should_exit` to stop it)."""
    import uvicorn

    from oversight.human.app import create_app
    from oversight.human.db import TrialDB

    server = uvicorn.Server(uvicorn.Config(create_app(TrialDB(url)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the judges' app did not start in 30 s")
        time.sleep(0.1)
    return server


def screenshot(link: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    browser_path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser_path is None:
        raise SystemExit("Chromium is not installed (Debian: apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(link)
            slider = page.locator("#percent")
            slider.fill(str(PERCENT))  # sets the value and fires `input`, as dragging does
            assert page.locator("#p1").inner_text() == str(PERCENT)
            slider.blur()  # no focus ring in the picture
            page.locator("#decide-form").scroll_into_view_if_needed()
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=False)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=FIGURE, help="the PNG to write")
    args = parser.parse_args(argv)
    if SHARED_DATA.is_dir():
        os.environ.setdefault("OVERSIGHT_DATA_DIR", str(SHARED_DATA))
    with tempfile.TemporaryDirectory() as tmp:
        url, token = make_trial(Path(tmp))
        port = free_port()
        server = serve(url, port)
        try:
            screenshot(f"http://127.0.0.1:{port}/j/{token}", args.out)
        finally:
            server.should_exit = True
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
