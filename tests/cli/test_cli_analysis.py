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


def _copy_with_provenance(scripted_runs, tmp_path, edit):
    """A copy of the scripted runs whose direct run's records are changed by `edit(record)`."""
    import json
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(scripted_runs, copy)
    [run] = [p for p in copy.iterdir() if p.name.startswith("direct")]
    file = run / "transcripts.jsonl"
    records = [json.loads(line) for line in file.read_text().splitlines()]
    for record in records:
        edit(record)
    file.write_text("".join(json.dumps(r) + "\n" for r in records))
    (run / "results.parquet").unlink()  # rebuilt from the records when read
    return copy, run.name


def test_analyze_refuses_runs_of_another_harness_version_or_prompts(scripted_runs, tmp_path):
    from oversight.errors import ConfigError

    for field, value in (("harness_version", "0.0.1"), ("prompts_hash", "0" * 64)):
        def change(record, field=field, value=value):
            record["provenance"][field] = record["row"][field] = value

        copy, direct = _copy_with_provenance(scripted_runs, tmp_path / field, change)
        result = runner.invoke(app, ["analyze", str(copy), "--no-plots", "--n-boot", "100"])
        assert isinstance(result.exception, ConfigError), result.output
        message = str(result.exception)
        assert field in message and value in message and direct in message and "--mixed-provenance" in message
        mixed = runner.invoke(app, ["analyze", str(copy), "--no-plots", "--n-boot", "100", "--mixed-provenance",
                                    "--out", str(tmp_path / field / "a")])
        assert mixed.exit_code == 0, mixed.output
        assert "48 episodes from 3 run(s)" in mixed.output


def test_analyze_pools_runs_without_provenance_with_a_warning(scripted_runs, tmp_path):
    def as_written_before(record):
        del record["provenance"]
        for column in ("harness_version", "config_hash", "prompts_hash", "models"):
            del record["row"][column]

    copy, direct = _copy_with_provenance(scripted_runs, tmp_path, as_written_before)
    result = runner.invoke(app, ["analyze", str(copy), "--no-plots", "--n-boot", "100", "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert "no provenance recorded" in result.output and direct in result.output


def test_view_shows_each_episodes_provenance(scripted_runs, tmp_path):
    from oversight.experiments.provenance import harness_version, prompts_hash

    [run] = [p for p in scripted_runs.iterdir() if p.name.startswith("direct")]
    result = runner.invoke(app, ["view", str(run), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report" / "transcripts-001.html").read_text()
    assert page.count('<details class="provenance">') == page.count('<article class="episode"') > 0
    assert harness_version() in page and prompts_hash() in page and "scripted:first" in page
