"""`oversight analyze` and `oversight view` on run folders, and their errors."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from oversight.cli import app
from oversight.errors import DataError

runner = CliRunner()


def test_analyze_prints_the_tables_and_writes_figures(scripted_runs, tmp_path):
    result = runner.invoke(app, ["analyze", str(scripted_runs), "--out", str(tmp_path / "a"), "--n-boot", "200"])
    assert result.exit_code == 0, result.output
    for title in ("Judge accuracy", "Consultancy", "Positional bias", "Calibration"):
        assert title in result.output
    assert "48 episodes from 3 run(s)" in result.output
    for name in ("accuracy.png", "accuracy.svg", "calibration.png", "accuracy.csv", "consultancy.csv"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    accuracy = pd.read_csv(tmp_path / "a" / "accuracy.csv")
    assert set(accuracy["protocol"]) == {"debate", "consultancy", "direct"}
    assert ((accuracy["ci_low"] <= accuracy["accuracy"]) & (accuracy["accuracy"] <= accuracy["ci_high"])).all()
    # raw and order-debiased side by side, the paired difference, and the degraded paths the runs record
    for column in ("debiased_accuracy", "debiased_ci_low", "debiased_invalid_rate", "difference",
                   "difference_ci_high", "structured_share", "invalid_turn_share"):
        assert column in accuracy, column
    debiased = accuracy.dropna(subset=["debiased_accuracy"])
    assert ((debiased["debiased_ci_low"] <= debiased["debiased_accuracy"])
            & (debiased["debiased_accuracy"] <= debiased["debiased_ci_high"])).all()
    calibration = pd.read_csv(tmp_path / "a" / "calibration.csv")
    assert {"valid", "invalid_rate", "brier", "ece"} <= set(calibration)
    assert (calibration["valid"] <= calibration["episodes"]).all()


def test_view_writes_the_report_inside_the_run_by_default(scripted_runs):
    [run] = [p for p in scripted_runs.iterdir() if p.name.startswith("direct")]
    result = runner.invoke(app, ["view", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "report" / "index.html").exists() and (run / "report" / "transcripts-001.html").exists()


def test_a_missing_run_is_one_clear_error(tmp_path):
    result = runner.invoke(app, ["analyze", str(tmp_path / "missing")])
    assert isinstance(result.exception, DataError) and "does not exist" in str(result.exception)


def test_analyze_reports_mde_and_holm_beside_every_comparison(scripted_runs, tmp_path):
    result = runner.invoke(app, ["analyze", str(scripted_runs), "--out", str(tmp_path / "a"), "--n-boot", "100",
                                 "--no-plots"])
    assert result.exit_code == 0, result.output
    comparisons = pd.read_csv(tmp_path / "a" / "comparisons.csv")
    for prefix in ("", "debiased_"):  # raw and order-debiased side by side
        for column in ("difference", "mde", "p_value", "p_holm", "survives_holm"):
            assert f"{prefix}{column}" in comparisons, prefix + column
        tested = comparisons.dropna(subset=[f"{prefix}p_value"])
        assert (tested[f"{prefix}p_holm"] >= tested[f"{prefix}p_value"]).all()
    assert "p_holm" in result.output and "mde" in result.output


def test_power_answers_how_many_questions_from_the_pilot(scripted_runs):
    result = runner.invoke(app, ["power", str(scripted_runs), "--delta", "0.1", "--a", "debate", "--b", "consultancy"])
    assert result.exit_code == 0, result.output
    assert "clusters_needed" in result.output and "questions_needed" in result.output
    lines = [line.split() for line in result.output.splitlines() if " debate " in line]
    assert {line[line.index("debate") + 2] for line in lines} == {"raw", "debiased"}


def test_power_names_a_bad_protocol_and_a_bad_delta(scripted_runs):
    result = runner.invoke(app, ["power", str(scripted_runs), "--a", "debate", "--b", "open-debate"])
    assert result.exit_code != 0 and "'open-debate' is not in these runs" in str(result.exception)
    result = runner.invoke(app, ["power", str(scripted_runs), "--delta", "5"])
    assert result.exit_code != 0 and "--delta" in str(result.exception)
