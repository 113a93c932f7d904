"""Provenance: every transcript line and results row says which harness, models and settings produced it."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd

from typer.testing import CliRunner

from oversight.cli import app
from oversight.config import make_config
from oversight.errors import ConfigError
from oversight.experiments.provenance import COLUMNS, SAMPLING, config_hash, model_provenance
from oversight.experiments.rejudge import rejudge
from oversight.experiments.run import run_experiment
from oversight.models import ModelSpec
from oversight.models import embedded
from oversight.store import RunStore

SCRIPTED = {"task": "math", "limit": 3, "rounds": 1, "order": "both", "backend": "scripted",
            "debater": "scripted:echo", "judge": "scripted:first"}


def test_every_episode_of_a_run_carries_the_same_provenance(tmp_path):
    config = make_config(protocol="debate", out=str(tmp_path), **SCRIPTED)
    report = run_experiment(config)
    records = list(RunStore(report.path).records())
    assert len(records) == 6
    provenance = records[0]["provenance"]
    assert all(record["provenance"] == provenance for record in records)
    assert provenance["config_hash"] == config_hash(config) and provenance["config_hash"][:8] in config.run_id
    assert provenance["harness_version"] and len(provenance["prompts_hash"]) == 64
    assert provenance["models"]["judge"] == {"spec": "scripted:first", "options": {}, "sha256": None,
                                             "revision": None}
    assert provenance["models"]["debater"]["spec"] == "scripted:echo"
    assert set(provenance["sampling"]) == set(SAMPLING) and provenance["sampling"]["max_tokens"] == 256
    results = pd.read_parquet(report.path / "results.parquet")
    assert set(COLUMNS) <= set(results.columns)
    for column in COLUMNS:
        assert results[column].nunique() == 1
    assert json.loads(results["models"].iloc[0]) == provenance["models"]


def test_a_rejudged_set_carries_the_new_judges_provenance(tmp_path):
    report = run_experiment(make_config(protocol="debate", out=str(tmp_path), **SCRIPTED))
    judged = rejudge(report.path, "scripted:echo", backend="scripted")
    [provenance] = {json.dumps(r["provenance"], sort_keys=True) for r in RunStore(judged.path).records()}
    assert json.loads(provenance)["models"]["judge"]["spec"] == "scripted:echo"
    assert set(judged.results["models"].map(lambda m: json.loads(m)["judge"]["spec"])) == {"scripted:echo"}


def test_a_run_written_before_provenance_resumes(tmp_path):
    config = make_config(protocol="direct", out=str(tmp_path), **SCRIPTED)
    report = run_experiment(config)
    file = report.path / "transcripts.jsonl"
    old = [json.loads(line) for line in file.read_text().splitlines()]
    for record in old[:3]:  # as an older version wrote them
        del record["provenance"]
        for column in COLUMNS:
            del record["row"][column]
    file.write_text("".join(json.dumps(r) + "\n" for r in old[:3]))
    again = run_experiment(config)
    assert again.episodes_skipped == 3 and again.episodes_run == 3
    assert again.results["harness_version"].isna().sum() == 3


def test_embedded_weights_hash_is_computed_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERSIGHT_CACHE", str(tmp_path))
    name = "smollm2-135m"
    folder = embedded.model_dir(name)
    folder.mkdir(parents=True)
    (folder / embedded.MARKER).write_text(json.dumps({"sha256": embedded.EMBEDDED[name].sha256,
                                                      "format": embedded.FORMAT}))
    weights = folder / "model.safetensors"
    weights.write_bytes(b"stand-in weights " * 1000)
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    spec = ModelSpec("hf", f"embedded:{name}")

    assert model_provenance(spec)["sha256"] == expected  # first call hashes and writes the cache
    assert (folder / embedded.WEIGHTS_HASH).read_text().strip() == expected
    monkeypatch.setattr(embedded, "sha256_file", lambda path: (_ for _ in ()).throw(AssertionError("hashed")))
    assert model_provenance(spec)["sha256"] == expected  # second call reads it


def test_an_unbuilt_embedded_model_and_hub_snapshots(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERSIGHT_CACHE", str(tmp_path))
    assert model_provenance(ModelSpec("hf", "embedded:smollm2-135m"))["sha256"] is None  # nothing is built
    commit = "a" * 40
    snapshot = ModelSpec("hf", f"/hub/models--org--m/snapshots/{commit}")
    assert model_provenance(snapshot)["revision"] == commit
    pinned = ModelSpec("vllm", "org/m", (("revision", "v1.0"),))
    assert model_provenance(pinned) == {"spec": "vllm:org/m", "options": {"revision": "v1.0"}, "sha256": None,
                                        "revision": "v1.0"}
    assert model_provenance(ModelSpec("hf", "org/m"))["revision"] is None


def test_analyze_pools_a_sweeps_cells_that_differ_only_in_an_axis(write_sweep, tmp_path):
    from oversight.experiments.schedule import run_sweep
    from oversight.experiments.sweep import load_sweep

    sweep = load_sweep(write_sweep({"product": {"word_limit": [50, 100]}}, base={"protocol": "debate"}))
    assert not run_sweep(sweep).failed
    result = CliRunner().invoke(app, ["analyze", str(sweep.path), "--no-plots", "--n-boot", "100"])
    assert result.exit_code == 0, result.output
    assert "from 2 run(s)" in result.output
    plain = tmp_path / "plain"  # the same two runs outside their sweep: word_limit is no axis there
    for cell in sweep.cells:
        shutil.copytree(sweep.path / cell.id, plain / cell.id)
    refused = CliRunner().invoke(app, ["analyze", str(plain), "--no-plots", "--n-boot", "100"])
    assert isinstance(refused.exception, ConfigError) and "sampling.word_limit" in str(refused.exception)
