"""analyze and view on a tiny run of the real embedded models (judge SmolLM2, debaters Qwen-0.5B)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from oversight.cli import app
from oversight.config import make_config
from oversight.experiments.run import run_experiment

pytestmark = pytest.mark.slow


def test_analyze_and_view_a_real_embedded_model_run(tmp_path, hf_judge, hf_agent):
    from test_report_html import screenshot

    # 16-token turns cut arguments short; retries=0 keeps the run to one generation per debater.
    config = make_config(protocol="debate", task="math", limit=1, rounds=1, max_tokens=16, order="both",
                         retries=0, backend="hf", out=str(tmp_path))
    run = run_experiment(config, models={"judge": hf_judge, "debater": hf_agent}).path
    runner = CliRunner()
    result = runner.invoke(app, ["analyze", str(run), "--n-boot", "200"])
    assert result.exit_code == 0, result.output
    assert "embedded:smollm2-135m" in result.output and "2 episodes from 1 run(s)" in result.output
    assert (run / "analysis" / "accuracy.png").exists() and (run / "analysis" / "calibration.svg").exists()
    result = runner.invoke(app, ["view", str(run)])
    assert result.exit_code == 0, result.output
    page = (run / "report" / "transcripts-001.html").read_text()
    assert page.count('<article class="episode"') == 2 and "Alice (debater A)" in page
    dom = screenshot(run / "report" / "transcripts-001.html", tmp_path / "real.png")
    assert "2 shown" in dom and (tmp_path / "real.png").stat().st_size > 10_000
