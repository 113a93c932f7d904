"""Resumable runs: a repeated command makes no backend call, a crashed run resumes from the cache,
`--fresh` starts over without losing the old folder, per-role specs, and determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from oversight.cache import CACHE_FILE
from oversight.config import make_config
from oversight.errors import BackendError
from oversight.models.scripted import ScriptedBackend
from oversight.experiments.run import role_specs, run_experiment
from tests.serving.fault_server import FaultServer

SCRIPTED = {"protocol": "debate", "task": "math", "limit": 3, "rounds": 2, "order": "both",
            "judge": "scripted:echo", "debater": "scripted:echo", "max_tokens": 16}


def transcripts(path: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in (path / "transcripts.jsonl").read_text().splitlines()]
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)), "an episode was written twice"
    return {r["key"]: r for r in records}


def results(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path / "results.parquet").sort_values("episode").reset_index(drop=True)


def scripted_models() -> dict[str, ScriptedBackend]:
    return {"judge": ScriptedBackend("echo"), "debater": ScriptedBackend("echo")}


def test_the_same_command_twice_makes_no_backend_call(tmp_path):
    config = make_config(**SCRIPTED, out=str(tmp_path))
    first_models, second_models = scripted_models(), scripted_models()
    first = run_experiment(config, models=first_models)
    before = transcripts(first.path)
    second = run_experiment(config, models=second_models)
    assert sum(len(m.calls) for m in first_models.values()) > 0
    assert all(m.calls == [] for m in second_models.values())
    assert (second.episodes_run, second.episodes_skipped) == (0, 6)
    assert transcripts(second.path) == before
    pd.testing.assert_frame_equal(results(second.path), results(first.path))


class JudgeDown(ScriptedBackend):
    """Debater turns work, the judge's server is down."""

    def choice(self, requests):
        raise BackendError("judge server is down")


def test_a_crashed_run_resumes_from_the_cache_and_matches_an_uninterrupted_one(tmp_path):
    config = make_config(**SCRIPTED, out=str(tmp_path / "crashed"))
    with pytest.raises(BackendError):
        run_experiment(config, models={"judge": JudgeDown("echo"), "debater": ScriptedBackend("echo")})
    assert (tmp_path / "crashed" / config.run_id / CACHE_FILE).exists()
    resumed_models = scripted_models()
    resumed = run_experiment(config, models=resumed_models)
    assert resumed_models["debater"].calls == []  # both debate rounds came from the cache
    assert [c.kind for c in resumed_models["judge"].calls] == ["choice"]
    reference = run_experiment(make_config(**SCRIPTED, out=str(tmp_path / "reference")), models=scripted_models())
    assert transcripts(resumed.path) == transcripts(reference.path)
    pd.testing.assert_frame_equal(results(resumed.path), results(reference.path))


def test_fresh_moves_the_old_run_aside_and_starts_over(tmp_path):
    config = make_config(**SCRIPTED, out=str(tmp_path))
    first = run_experiment(config, models=scripted_models())
    old = transcripts(first.path)
    models = scripted_models()
    again = run_experiment(make_config(**SCRIPTED, out=str(tmp_path), fresh=True), models=models)
    assert again.episodes_run == 6 and all(m.calls for m in models.values())  # nothing reused
    moved = [p for p in tmp_path.iterdir() if p.name.startswith(f"{config.run_id}.old-")]
    assert len(moved) == 1 and transcripts(moved[0]) == old and (moved[0] / CACHE_FILE).exists()
    assert transcripts(again.path) == old  # deterministic backend: the same results again


def test_no_cache_writes_no_cache_file(tmp_path):
    report = run_experiment(make_config(**SCRIPTED, out=str(tmp_path), cache=False), models=scripted_models())
    assert not (report.path / CACHE_FILE).exists()


def test_same_seed_and_greedy_decoding_give_identical_transcripts(tmp_path):
    one = run_experiment(make_config(**SCRIPTED, out=str(tmp_path / "a"), cache=False))
    two = run_experiment(make_config(**SCRIPTED, out=str(tmp_path / "b"), cache=False))
    assert transcripts(one.path) == transcripts(two.path)


def test_per_role_specs_override_the_debater(tmp_path):
    config = make_config(**{**SCRIPTED, "debater_a": "scripted:first", "debater_b": "scripted:second"},
                         out=str(tmp_path))
    specs = role_specs(config, ("debater_a", "debater_b", "judge"))
    assert set(specs) == {"judge", "debater_a", "debater_b"}  # both overridden: `debater` is not loaded
    frame = results(run_experiment(config).path)
    assert set(frame["debater"]) == {"scripted:first vs scripted:second"}
    one = role_specs(make_config(**{**SCRIPTED, "debater_b": "scripted:second"}), ("debater_a", "debater_b", "judge"))
    assert str(one["debater"]) == "scripted:echo" and str(one["debater_b"]) == "scripted:second"


def openai_config(out: Path, server: FaultServer, **extra) -> object:
    spec = "openai:fake-model?backoff=0.01&max_attempts=2"
    return make_config(protocol="debate", task="math", limit=3, rounds=1, order="fixed", judge=spec, debater=spec,
                       max_tokens=16, out=str(out), base_url=server.url, name="served", **extra)


def answered(server: FaultServer) -> set[str]:
    return {json.dumps(body["messages"], sort_keys=True) for body in server.answered}


def test_a_run_stopped_by_a_dead_server_resumes_with_nothing_recomputed(tmp_path):
    dying = FaultServer(die_after=4)  # 6 debater turns, then 3 judge decisions (2 label orders): it dies mid-round
    with dying, pytest.raises(BackendError, match=r"connection failed.*rerun the same command"):
        run_experiment(openai_config(tmp_path / "run", dying))
    with FaultServer() as healthy:  # a new server, on another port: the cache does not care
        report = run_experiment(openai_config(tmp_path / "run", healthy))
        assert not answered(dying) & answered(healthy)  # nothing answered before was asked again
        assert len(healthy.requests) == 6 + 3 * 2 - 4
        with FaultServer() as reference_server:
            reference = run_experiment(openai_config(tmp_path / "reference", reference_server))
        again = run_experiment(openai_config(tmp_path / "run", healthy))  # the same command twice
        assert len(healthy.requests) == 6 + 3 * 2 - 4 and again.episodes_run == 0
    assert transcripts(report.path) == transcripts(reference.path)
    assert not results(report.path)["invalid"].any()
