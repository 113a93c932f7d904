"""`sweep --ray` plans its model actors as `oversight run` loads models: a `vllm:` model of a `serve`
cell runs behind its own `vllm serve` (the path that sends images), with room for the most images any
of its cells' questions carries; everything else loads in process."""

from __future__ import annotations

import pytest

from oversight.config import make_config
from oversight.experiments import sweep_ray
from oversight.models import parse_model_spec
from oversight.models.serve import image_limit
from oversight.specs import image_problems

VL = "vllm:Qwen/Qwen2.5-VL-3B-Instruct"


def _configs(**cells: dict) -> dict:
    return {cell_id: make_config(**{"protocol": "debate", "judge": VL, "debater": VL, **options})
            for cell_id, options in cells.items()}


def test_served_cells_get_served_actors_sized_for_their_largest_question() -> None:
    configs = _configs(small=dict(task="mmmu", serve=True, limit=2, seed=3),
                       large=dict(task="mmmu", serve=True),
                       offline=dict(task="math", limit=2))
    needs, loads = sweep_ray.plan_actors(configs)
    spec = parse_model_spec(VL)
    assert loads.keys() == {(spec, True), (spec, False)}
    assert loads[(spec, False)] is None
    assert loads[(spec, True)] is configs["large"]  # all of MMMU: up to 5 images per question
    assert image_limit(spec, configs["large"]) > image_limit(spec, configs["small"])
    assert needs["small"] == needs["large"] == {"judge": (spec, True), "debater": (spec, True)}
    assert needs["offline"] == {"judge": (spec, False), "debater": (spec, False)}
    # the served cells pass the image check their run makes; the same cell without serve does not
    assert not image_problems({"judge": spec}, "mmmu", serve=True)
    assert image_problems({"judge": spec}, "mmmu", serve=False)


def test_a_served_actor_starts_vllm_serve_with_its_cells_config(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr("oversight.models.serve.load_served", lambda *args: calls.append(("served", *args)) or "S")
    monkeypatch.setattr(sweep_ray, "load_backend", lambda spec, **options: calls.append(("offline", spec)) or "B")
    config = _configs(cell=dict(task="mmmu", serve=True))["cell"]
    spec = parse_model_spec(VL)
    assert sweep_ray.ModelActor(spec, {"tensor_parallel_size": 2}, config).backend == "S"
    assert calls == [("served", spec, {"tensor_parallel_size": 2}, config)]
    assert sweep_ray.ModelActor(spec, {}).backend == "B"
    assert calls[1] == ("offline", spec)


@pytest.mark.parametrize("backend", ["hf", "openai"])
def test_serve_leaves_other_backends_in_process(backend) -> None:
    spec_text = "hf:HuggingFaceTB/SmolLM2-135M-Instruct" if backend == "hf" else "openai:gpt-4o-mini"
    needs, loads = sweep_ray.plan_actors(_configs(cell=dict(task="math", serve=True, limit=1, judge=spec_text)))
    judge = needs["cell"]["judge"]
    assert judge == (parse_model_spec(spec_text), False) and loads[judge] is None
    assert loads[needs["cell"]["debater"]] is not None  # the vllm debater is served
