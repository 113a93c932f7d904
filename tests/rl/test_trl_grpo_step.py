"""One real TRL GRPO step on SmolLM2-135M (CPU), rewarded by the oversight judge through `judge_reward_fn`."""

from __future__ import annotations

import math

import pytest

from oversight.rl.adapters import judge_reward_fn
from tests.helpers import make_questions

pytestmark = pytest.mark.slow


def test_one_grpo_step_logs_the_judge_reward(tmp_path, hf_judge, smollm2_dir):
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")  # the `rl` extra; CI installs it

    calls = []
    reward = judge_reward_fn(hf_judge)

    def judge_reward(prompts, completions, **columns):
        scores = reward(prompts, completions, **columns)
        calls.append(scores)
        return scores

    rows = [{"prompt": [{"role": "user", "content": f"Argue that the answer to '{q.question}' is "
                                                    f"{q.answers[side]}, in one sentence."}],
             "question": q.question, "answer_1": q.answers[0], "answer_2": q.answers[1], "side": side}
            for q in make_questions(2) for side in (0, 1)]
    args = trl.GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2,
                          max_completion_length=8, max_steps=1, logging_steps=1, report_to="none", use_cpu=True,
                          bf16=False, save_strategy="no", disable_tqdm=True, seed=0)
    trainer = trl.GRPOTrainer(model=smollm2_dir, reward_funcs=judge_reward, args=args,
                              train_dataset=datasets.Dataset.from_list(rows))
    trainer.train()
    # the judge scored every sampled completion, and its mean reward reached the trainer's logs
    scored = [s for batch in calls for s in batch]
    assert len(scored) >= 4 and all(0.0 <= s <= 1.0 for s in scored)
    logged = [entry for entry in trainer.state.log_history if "rewards/judge_reward/mean" in entry]
    assert logged, trainer.state.log_history
    assert math.isclose(logged[0]["rewards/judge_reward/mean"], sum(calls[0]) / len(calls[0]), rel_tol=1e-4)
    assert trainer.state.global_step == 1
