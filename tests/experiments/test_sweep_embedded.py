"""Sweeps on the real embedded models: one load per model, cross-cell batching, interruption and resume."""

from __future__ import annotations

import pytest

from oversight.models import ModelSpec, load_backend
from oversight.experiments.schedule import ModelPool, run_sweep
from oversight.store import RunStore
from oversight.experiments.sweep import load_sweep
from oversight.experiments.sweep_state import sweep_status

pytestmark = pytest.mark.slow
JUDGE = ModelSpec("hf", "embedded:smollm2-135m")
AGENT = ModelSpec("hf", "embedded:qwen2.5-coder-0.5b")


class Counted:
    """Wraps a loaded backend: counts requests, and can stop the sweep (Ctrl-C) at its Nth choice call."""

    def __init__(self, backend, stop_at_choice: int | None = None) -> None:
        self.backend, self.name, self.model = backend, backend.name, backend.model
        self.stop_at, self.generates, self.choices, self.requests = stop_at_choice, 0, 0, 0

    def generate(self, requests):
        self.generates += 1
        self.requests += len(requests)
        return self.backend.generate(requests)

    def choice(self, requests):
        self.choices += 1
        if self.choices == self.stop_at:
            raise KeyboardInterrupt
        self.requests += len(requests)
        return self.backend.choice(requests)

    def close(self) -> None:
        pass


def test_two_cells_sharing_the_judge_load_it_once(tmp_path, write_sweep, smollm2_dir):
    sweep = load_sweep(write_sweep({"product": {"protocol": ["direct"], "seed": [0, 1]}},
                                   base={"judge": "embedded:smollm2-135m", "backend": "hf", "limit": 2}))
    loaded = []
    pool = ModelPool(loader=lambda spec, config: loaded.append(Counted(load_backend(spec))) or loaded[-1])
    report = run_sweep(sweep, pool=pool)
    assert not report.failed and len(sweep.cells) == 2
    assert pool.loads == {JUDGE: 1}
    assert loaded[0].requests == 8  # both cells' judge requests (2 questions, both label orders each)...
    pool.close()


def test_eight_cell_sweep_resumes_after_an_interruption(write_sweep, hf_judge, hf_agent):
    blocks = [{"product": {"protocol": ["direct"], "seed": [0, 1, 2, 3, 4, 5]}},
              {"product": {"protocol": ["debate"], "seed": [0, 1]}}]
    sweep = load_sweep(write_sweep(blocks, base={
        "judge": "embedded:smollm2-135m", "debater": "embedded:qwen2.5-coder-0.5b", "backend": "hf", "limit": 1,
        "order": "fixed", "max_tokens": 8, "thinking_tokens": 8, "retries": 0}))  # one request per turn
    assert len(sweep.cells) == 8
    judge, agent = Counted(hf_judge, stop_at_choice=2), Counted(hf_agent)
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C while the judge reads the debates
        run_sweep(sweep, pool=ModelPool(preloaded={JUDGE: judge, AGENT: agent}))
    # direct QA of 6 cells (both label orders) in one call, beside the debaters
    assert judge.requests == 12 and agent.requests == 4
    states = sorted((s.state, s.done, s.episodes) for s in sweep_status(sweep.path))
    assert states == [("done", 1, 1)] * 6 + [("pending", 0, 1)] * 2

    judge, agent = Counted(hf_judge), Counted(hf_agent)
    report = run_sweep(sweep, pool=ModelPool(preloaded={JUDGE: judge, AGENT: agent}))
    assert not report.failed and report.episodes_run == 2
    assert judge.requests == 4 and agent.requests == 4  # only the two debates: nothing finished is redone
    assert agent.generates == 1  # both cells' four debater turns in one call
    for status in sweep_status(sweep.path):
        keys = [r["key"] for r in RunStore(sweep.path / status.id).records()]
        assert status.state == "done" and len(keys) == len(set(keys)) == status.episodes
