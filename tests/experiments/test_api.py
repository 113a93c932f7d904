"""The Python API does what the commands do: `oversight.run`, `oversight.sweep`, `oversight.load` (scripted backend)."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

import oversight
from oversight.errors import ConfigError
from oversight.experiments.sweep_state import MANIFEST
from oversight.types import Transcript

SCRIPTED = {"judge": "scripted:first", "debater": "scripted:echo"}
SMALL = {"task": "math", "limit": 4, "rounds": 1, **SCRIPTED}


def oversight_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oversight.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def test_import_stays_light_and_the_api_loads_on_first_use():
    probe = ("import sys, oversight; heavy = ('pandas', 'torch', 'oversight.experiments'); "
             "before = [m for m in heavy if m in sys.modules]; oversight.run; "
             "print(before, 'oversight.experiments.api' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["[]", "True"], result.stderr
    with pytest.raises(AttributeError):
        oversight.no_such_name  # noqa: B018


def test_run_writes_the_folder_and_running_it_again_resumes(tmp_path):
    run = oversight.run("debate", out=str(tmp_path), quiet=True, **SMALL)
    assert run.path.parent == tmp_path and run.path.name.startswith("debate-math-")
    assert run.report.episodes_run == 4 and run.report.episodes_skipped == 0
    assert run.config.rounds == 1 and run.config.judge == "scripted:first" and run.config.max_tokens == 256
    again = oversight.run("debate", out=str(tmp_path), quiet=True, **SMALL)
    assert again.path == run.path
    assert again.report.episodes_run == 0 and again.report.episodes_skipped == 4
    assert len((run.path / "transcripts.jsonl").read_text().splitlines()) == 4


def test_the_command_with_the_same_options_resumes_the_api_run(tmp_path):
    # Same settings and defaults: the command finds the API's folder and has nothing left to run.
    run = oversight.run("debate", out=str(tmp_path), quiet=True, **SMALL)
    result = oversight_cli("run", "debate", "--task", "math", "--limit", "4", "--rounds", "1", "--judge",
                           "scripted:first", "--debater", "scripted:echo", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "0 episodes run, 4 already done" in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == [run.path.name]


def test_results_and_transcripts_hold_the_runs_episodes(tmp_path):
    run = oversight.run("debate", out=str(tmp_path), quiet=True, **SMALL)
    results = run.results
    assert isinstance(results, pd.DataFrame) and len(results) == 4
    assert set(results["protocol"]) == {"debate"} and set(results["judge"]) == {"scripted:first"}
    transcripts = list(run.transcripts())
    assert all(isinstance(t, Transcript) for t in transcripts) and len(transcripts) == 4
    assert {t.question.id for t in transcripts} == set(results["question_id"])
    assert all(t.protocol == "debate" and len(t.turns) == 2 for t in transcripts)  # two debaters, one round
    assert [t.decision.verdict for t in transcripts] == list(results["verdict"])
    summary = run.summary()
    assert list(summary[["protocol", "task", "judge", "episodes"]].iloc[0]) == ["debate", "math", "scripted:first", 4]
    assert repr(run) == f"Run({str(run.path)!r}: debate on math, 4 episodes, judge accuracy 0.000)"


def test_load_opens_a_finished_folder_without_running(tmp_path):
    run = oversight.run("debate", out=str(tmp_path), quiet=True, **SMALL)
    before = (run.path / "transcripts.jsonl").read_bytes()
    loaded = oversight.load(run.path)
    assert isinstance(loaded, oversight.Run) and loaded.report is None
    assert loaded.path == run.path and loaded.config == run.config
    pd.testing.assert_frame_equal(loaded.results, run.results)
    assert [t.to_dict() for t in loaded.transcripts()] == [t.to_dict() for t in run.transcripts()]
    assert (run.path / "transcripts.jsonl").read_bytes() == before
    with pytest.raises(ConfigError, match="is not a run folder"):
        oversight.load(tmp_path)


def test_a_run_cut_off_before_its_results_reads_them_from_its_transcripts(tmp_path):
    run = oversight.run("debate", out=str(tmp_path), quiet=True, **SMALL)
    expected = run.results
    (run.path / "results.parquet").unlink()
    pd.testing.assert_frame_equal(oversight.load(run.path).results, expected)


def test_a_bad_option_is_the_commands_config_error(tmp_path):
    command = oversight_cli("run", "debate", "--rounds", "0", "--out", str(tmp_path))
    assert command.returncode == 2
    with pytest.raises(ConfigError) as error:
        oversight.run("debate", rounds=0, out=str(tmp_path), quiet=True)
    assert str(error.value) == "invalid run configuration: --rounds: input should be greater than or equal to 1, got 0"
    assert f"error: {error.value}" in command.stderr
    with pytest.raises(ConfigError, match="--roundz: extra inputs are not permitted"):
        oversight.run("debate", roundz=1, out=str(tmp_path), quiet=True)
    with pytest.raises(ConfigError, match="give a protocol"):
        oversight.run(out=str(tmp_path))
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_config_file_with_options_over_it(tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text(yaml.safe_dump({"protocol": "direct", "task": "math", "limit": 2, **SCRIPTED}))
    run = oversight.run(config=file, limit=3, out=str(tmp_path / "runs"), quiet=True)
    assert run.config.protocol == "direct" and run.config.limit == 3 and len(run.results) == 3


def sweep_content(tmp_path) -> dict:
    return {"name": "grid", "out": str(tmp_path / "runs"),
            "base": {"task": "math", "limit": 2, "rounds": 1, "backend": "scripted", **SCRIPTED},
            "sweep": {"product": {"protocol": ["direct", "debate"]}}}


def test_sweep_from_a_dict_runs_every_cell_and_resumes(tmp_path):
    swept = oversight.sweep(sweep_content(tmp_path), quiet=True)
    assert swept.path == tmp_path / "runs" / "grid" and len(swept) == 2 and not swept.failed
    assert swept.report.episodes_run == 4
    assert sorted(run.config.protocol for run in swept) == ["debate", "direct"]
    assert sorted(axes["protocol"] for axes in swept.axes.values()) == ["debate", "direct"]
    for cell_id, run in swept.runs.items():
        assert run.path == swept.path / cell_id and len(run.results) == 2 and len(list(run.transcripts())) == 2
        assert swept[cell_id] is run
    assert len(swept.results) == 4 and swept.results["cell"].nunique() == 2
    manifest = yaml.safe_load((swept.path / MANIFEST).read_text())
    assert manifest["source"] is None  # no file to point at
    assert oversight.sweep(sweep_content(tmp_path), quiet=True).report.episodes_run == 0


def test_sweep_from_a_file_is_the_same_sweep_as_from_its_dict(tmp_path):
    file = tmp_path / "grid.yaml"
    file.write_text(yaml.safe_dump(sweep_content(tmp_path)))
    from_file = oversight.sweep(str(file), quiet=True)
    assert from_file.report.episodes_run == 4 and not from_file.failed
    from_dict = oversight.sweep(sweep_content(tmp_path), quiet=True)
    assert list(from_dict.runs) == list(from_file.runs) and from_dict.report.episodes_run == 0
    overridden = oversight.sweep(str(file), limit=3, window=1, quiet=True)  # overrides win in every cell
    assert {run.config.limit for run in overridden} == {3} and overridden.report.episodes_run == 6


def test_a_bad_sweep_dict_gets_the_files_message(tmp_path):
    content = sweep_content(tmp_path)
    content["base"]["limit"] = 0
    file = tmp_path / "grid.yaml"
    file.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError) as from_file:
        oversight.sweep(str(file), quiet=True)
    with pytest.raises(ConfigError) as from_dict:
        oversight.sweep(content, quiet=True)
    assert str(from_dict.value) == str(from_file.value).replace(str(file), "<dict>")
    assert str(from_dict.value).startswith("invalid sweep file <dict>: base.limit")
    with pytest.raises(ConfigError, match="window"):
        oversight.sweep(sweep_content(tmp_path), window=0, quiet=True)
    assert not (tmp_path / "runs").exists()


def test_a_sweep_with_a_cell_that_cannot_run_is_refused_unless_asked(tmp_path):
    content = sweep_content(tmp_path)
    content["sweep"] = {"product": {"protocol": ["direct", "direct-article"]}}  # math has no articles
    with pytest.raises(ConfigError, match="1 of 2 cells of <dict> cannot run .* skip_invalid=True"):
        oversight.sweep(content, quiet=True)
    assert not (tmp_path / "runs").exists()
    swept = oversight.sweep(content, skip_invalid=True, quiet=True)
    [failed] = swept.failed
    assert swept[failed].config.protocol == "direct-article" and swept[failed].results.empty
    [done] = set(swept.runs) - {failed}
    assert len(swept[done].results) == 2
