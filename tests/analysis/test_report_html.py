"""`oversight view`: the static HTML report, its escaping, quote marks and pagination, seen in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence

import pytest

from analysis.report import paginate, quote_segments, write_report
from oversight.config import make_config
from oversight.models.base import Backend
from oversight.runner import run_experiment
from oversight.types import Reply, Request

HOSTILE = "<script>alert('owned')</script>"


class Quoter(Backend):
    """A debater that quotes (one verified, one unverified quote) and tries to inject markup."""

    name = "quoter"

    def __init__(self) -> None:
        super().__init__("quoter")

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        return [Reply(text=f"<thinking>PRIVATE plan</thinking><argument>As {r.role}: <v_quote>the sky is blue"
                           f"</v_quote> but <u_quote>grass is red</u_quote> {HOSTILE}</argument>") for r in requests]

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        return [Reply(option_probs=(0.7, 0.3), option_mass=0.9) for _ in requests]


@pytest.fixture(scope="module")
def quoted_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quoted")
    config = make_config(protocol="debate", task="math", limit=3, rounds=2, order="both", backend="scripted",
                         judge="scripted:first", debater="scripted:echo", out=str(out))
    return run_experiment(config, models={"judge": Quoter(), "debater": Quoter()}).path


def test_quote_tags_become_segments():
    assert quote_segments("a <v_quote>b</v_quote> c <u_passage>d</u_passage>") == [
        ("text", "a "), ("v_quote", "b"), ("text", " c "), ("u_quote", "d")]
    assert quote_segments("no quotes <v_quote>unclosed") == [("text", "no quotes <v_quote>unclosed")]


def test_report_escapes_model_text_and_marks_quotes(quoted_run, tmp_path):
    index = write_report(quoted_run, tmp_path / "report")
    page = (tmp_path / "report" / "transcripts-001.html").read_text()
    assert HOSTILE not in page and "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
    # 6 episodes x 2 rounds x 2 debaters, each turn with one quote of each kind.
    assert page.count('class="v_quote" title="verified quote"') == 24
    assert page.count('class="u_quote" title="unverified quote"') == 24
    assert "PRIVATE plan" in page  # the full output, behind a fold
    assert 'class="turn role-debater_a"' in page and 'class="turn role-debater_b"' in page
    assert "P(answer 1) = 0.700" in page and "mass on labels: 0.900" in page
    html = index.read_text()
    for section in ("summary", "figures", "transcripts"):
        assert f'id="{section}"' in html
    assert (tmp_path / "report" / "figures" / "accuracy.png").stat().st_size > 1000


def test_large_runs_are_split_into_pages(quoted_run, tmp_path):
    write_report(quoted_run, tmp_path / "report", page_size=4)
    pages = sorted((tmp_path / "report").glob("transcripts-*.html"))
    assert len(pages) == 2  # 6 episodes, 4 per page
    assert sum(page.read_text().count('<article class="episode"') for page in pages) == 6
    sizes = [len(f) for f in paginate([(None, "x" * 400)] * 10, page_size=100, max_page_bytes=1000)]
    assert sizes == [2, 2, 2, 2, 2]  # the byte budget splits pages too


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot(page, png) -> str:
    """Render `page` headless; returns the DOM after scripts ran, writes a screenshot to `png`."""
    browser = chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (CI installs Debian's `chromium`)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,2000"]
    dom = subprocess.run([browser, *flags, f"--screenshot={png}", "--dump-dom", page.as_uri()], check=True,
                         capture_output=True, timeout=120, text=True)
    return dom.stdout


def test_report_renders_in_headless_chromium(scripted_runs, quoted_run, tmp_path):
    report = tmp_path / "report"
    index = write_report([scripted_runs, quoted_run], report)
    dom = screenshot(index, tmp_path / "index.png")
    assert (tmp_path / "index.png").stat().st_size > 10_000
    for heading in ("Summary", "Figures", "Transcripts", "Judge accuracy"):
        assert f">{heading}" in dom
    dom = screenshot(report / "transcripts-001.html", tmp_path / "page.png")
    assert re.search(r'id="shown">\d+ shown<', dom)  # the filter script ran
    assert "<script>alert" not in dom.split("<script>")[0]
