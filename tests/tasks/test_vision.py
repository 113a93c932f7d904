"""Which models take images (`oversight.specs.takes_images`), and the refusal of a text-only model on an
image task before any model loads: `oversight run`, and a sweep's plan (an invalid cell)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oversight.config import make_config
from oversight.errors import ConfigError
from oversight.experiments.run import prepare_run
from oversight.experiments.schedule import plan_sweep
from oversight.experiments.sweep import load_sweep
from oversight.specs import parse_model_spec, takes_images

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("spec, expected", [
    ("hf:embedded:smollm2-135m", False),
    ("hf:embedded:smollm2-135m?vision=true", False),  # the embedded models are text-only, whatever the spec says
    ("scripted:echo", True),
    ("scripted:first?vision=false", False),
    ("vllm:Qwen/Qwen2.5-VL-3B-Instruct", True),
    ("hf:llava-hf/llava-1.5-7b-hf", True),
    ("openai:gpt-4o-mini", True),
    ("openai:gpt-4.1", True),
    ("openai:claude-3-5-sonnet", True),
    ("vllm:mistralai/Pixtral-12B-2409", True),
    ("vllm:meta-llama/Llama-3.2-11B-Vision-Instruct", True),
    ("openai:gpt-4o?vision=false", False),
    ("vllm:Qwen/Qwen2.5-7B-Instruct", None),
    ("vllm:Qwen/Qwen2.5-7B-Instruct?vision=true", True),
    ("openai:my-finetune?vision=false", False),
])
def test_which_models_take_images(spec: str, expected: bool | None) -> None:
    assert takes_images(parse_model_spec(spec)) is expected


def test_a_local_model_folder_takes_images_when_its_config_has_a_vision_config(tmp_path: Path) -> None:
    (tmp_path / "vl").mkdir()
    (tmp_path / "vl" / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl", "vision_config": {}}))
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    assert takes_images(parse_model_spec(f"vllm:{tmp_path / 'vl'}")) is True
    assert takes_images(parse_model_spec(f"vllm:{tmp_path / 'text'}")) is False
    assert takes_images(parse_model_spec(f"vllm:{tmp_path / 'text'}?vision=true")) is True
    assert takes_images(parse_model_spec(f"vllm:{tmp_path / 'missing'}")) is None


def test_the_vision_option_is_read_by_the_harness_never_passed_to_the_backend() -> None:
    spec = parse_model_spec("openai:my-model?vision=true&max_connections=4")
    assert spec.options == (("max_connections", 4),) and spec.vision is True
    assert spec == parse_model_spec("openai:my-model?max_connections=4")  # same model: loaded once
    with pytest.raises(ConfigError, match=r"vision= must be true or false, got 'maybe'"):
        parse_model_spec("openai:my-model?vision=maybe")


def _config(tmp_path: Path, **values: object):
    return make_config(**{"protocol": "debate", "task": "mmmu", "limit": 2, "rounds": 1, "out": str(tmp_path / "runs"),
                          "judge": "scripted:first", "debater": "scripted:echo", **values})


@pytest.mark.usefixtures("data_dir")
def test_text_only_models_are_refused_on_an_image_task(tmp_path: Path) -> None:
    prepare_run(_config(tmp_path))  # scripted models stand in for vision models
    with pytest.raises(ConfigError) as info:
        prepare_run(_config(tmp_path, judge="vllm:Qwen/Qwen2.5-7B-Instruct", debater="scripted:echo?vision=false"))
    message = str(info.value)
    assert "task 'mmmu'" in message
    assert "judge model vllm:Qwen/Qwen2.5-7B-Instruct is not known to take images" in message
    assert "add ?vision=true to the spec if it takes images" in message
    assert "debater model scripted:echo?vision=false is text-only" in message
    assert "vllm:Qwen/Qwen2.5-VL-3B-Instruct" in message
    assert not (tmp_path / "runs").exists()
    prepare_run(_config(tmp_path, task="math"))  # a text task takes any model
    prepare_run(_config(tmp_path, task="math", judge="hf:embedded:smollm2-135m"))


@pytest.mark.usefixtures("data_dir")
def test_a_vision_model_must_be_reached_by_a_backend_that_sends_images(tmp_path: Path) -> None:
    vl = "vllm:Qwen/Qwen2.5-VL-3B-Instruct"
    with pytest.raises(ConfigError, match=r"judge model vllm:Qwen/Qwen2\.5-VL-3B-Instruct takes images but the vllm "
                                          r"backend sends text only; run it with --serve"):
        prepare_run(_config(tmp_path, judge=vl))
    assert prepare_run(_config(tmp_path, judge=vl, serve=True)).specs["judge"] == parse_model_spec(vl)
    with pytest.raises(ConfigError, match=r"hf backend sends text only"):
        prepare_run(_config(tmp_path, judge="hf:Qwen/Qwen2.5-VL-3B-Instruct"))
    prepare_run(_config(tmp_path, judge="openai:gpt-4o-mini"))


@pytest.mark.usefixtures("data_dir")
def test_the_cli_exits_2_with_one_error_before_any_model_loads(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "oversight.cli", "run", "direct", "--task", "mmmu", "--limit", "2",
                             "--judge", "hf:embedded:smollm2-135m", "--out", str(tmp_path / "runs")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "task 'mmmu'" in result.stderr and "judge model hf:embedded:smollm2-135m is text-only" in result.stderr
    assert "loading" not in result.stderr and not (tmp_path / "runs").exists()


@pytest.mark.usefixtures("data_dir")
def test_a_sweep_plans_a_mismatched_cell_as_invalid(tmp_path: Path) -> None:
    sweep = load_sweep(_sweep_file(tmp_path))
    plans, _ = plan_sweep(sweep)
    errors = {plan.cell.config.judge: plan.error for plan in plans}
    assert errors["scripted:first"] is None
    assert "judge model openai:my-model is not known to take images" in errors["openai:my-model"]


def _sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "vision.yaml"
    path.write_text(json.dumps({"name": "vision", "out": str(tmp_path / "runs"),
                                "base": {"task": "mmmu", "limit": 2, "protocol": "direct"},
                                "sweep": {"product": {"judge": ["scripted:first", "openai:my-model"]}}}))
    return path


@pytest.mark.usefixtures("data_dir")
def test_the_study_gives_every_role_of_its_image_cells_a_vision_model(tmp_path: Path) -> None:
    study = load_sweep(ROOT / "configs" / "study.yaml", overrides={"limit": 2}, out=str(tmp_path / "runs"))
    image_cells = [cell for cell in study.cells if cell.config.task == "mmmu"]
    assert {cell.config.protocol for cell in image_cells} == {"direct", "consultancy", "open-consultancy", "debate",
                                                              "open-debate"}
    for cell in image_cells:
        plan, _ = plan_sweep(type(study)(study.name, study.path, study.settings, [cell]))
        assert plan[0].error is None, plan[0].error
    text_judges = {"vllm:google/gemma-7b-it", "vllm:Qwen/Qwen2.5-7B-Instruct", "vllm:meta-llama/Llama-3.1-8B-Instruct"}
    assert {cell.config.judge for cell in study.cells if cell.config.task != "mmmu"} == text_judges


@pytest.mark.usefixtures("data_dir")
def test_rejudging_image_transcripts_refuses_a_text_only_judge_before_it_loads(tmp_path: Path) -> None:
    from oversight.experiments.rejudge import rejudge
    from oversight.experiments.run import run_experiment

    report = run_experiment(_config(tmp_path, protocol="direct"))
    with pytest.raises(ConfigError, match="task 'mmmu'.*judge model scripted:first\\?vision=false is text-only"):
        rejudge(report.path, "scripted:first?vision=false")
    assert not (report.path / "judged").exists()
    assert len(rejudge(report.path, "scripted:second").results) == 2  # an image-capable judge rejudges them
