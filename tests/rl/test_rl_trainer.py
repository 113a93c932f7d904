"""PolicyTrainer on a tiny random Llama: micro-batching is exact, a step moves the weights, checkpoints reload."""

from __future__ import annotations

import random

import pytest
import torch
from torch.testing import assert_close

from oversight.errors import ConfigError
from oversight.rl.config import train_config_from_file
from oversight.rl.presets import PRESETS, get_preset
from oversight.rl.rollouts import Rollout
from oversight.rl.trainer import PolicyTrainer, advantages_for

transformers = pytest.importorskip("transformers")
VOCAB = 64


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(config).to(torch.float64)


class Tok:
    pad_token_id = 0
    eos_token_id = 1


def rollouts(seed: int = 0, groups: int = 3, size: int = 2, behaviour: bool = True) -> list[Rollout]:
    rng = random.Random(seed)
    out = []
    for g in range(groups):
        for _ in range(size):
            prompt = [rng.randrange(2, VOCAB) for _ in range(rng.randint(2, 6))]
            completion = [rng.randrange(2, VOCAB) for _ in range(rng.randint(1, 5))]
            logprobs = [-rng.uniform(2.0, 6.0) for _ in completion] if behaviour else None
            out.append(Rollout(prompt, completion, logprobs, rng.random(), f"g{g}"))
    return out


def grads(trainer: PolicyTrainer, batch: list[Rollout]) -> tuple[float, list[torch.Tensor]]:
    trainer.optimizer.zero_grad(set_to_none=True)
    loss, _, _ = trainer.accumulate(batch)
    return loss, [p.grad.clone() for p in trainer.params]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_two_micro_batches_equal_one_batch(preset: str) -> None:
    batch = rollouts()
    model = tiny_model()
    whole = PolicyTrainer(model, Tok(), preset=preset, micro_batch_size=len(batch), max_new_tokens=8, kl_coef=None)
    split = PolicyTrainer(model, Tok(), preset=preset, micro_batch_size=3, max_new_tokens=8,
                          reference=whole.reference)
    loss_whole, g_whole = grads(whole, batch)
    loss_split, g_split = grads(split, batch)
    assert loss_whole == pytest.approx(loss_split, rel=1e-9, abs=1e-12)
    for a, b in zip(g_whole, g_split):
        assert_close(a, b, rtol=1e-8, atol=1e-12)
    assert any(g.abs().sum() > 0 for g in g_whole)


def test_padding_in_a_micro_batch_does_not_change_the_loss() -> None:
    batch = rollouts(1)
    model = tiny_model(1)
    one_by_one = PolicyTrainer(model, Tok(), preset="dapo", micro_batch_size=1)
    padded = PolicyTrainer(model, Tok(), preset="dapo", micro_batch_size=len(batch))
    assert grads(one_by_one, batch)[0] == pytest.approx(grads(padded, batch)[0], rel=1e-9)


def test_advantages_drop_singletons_and_flat_groups() -> None:
    batch = rollouts(groups=2) + [Rollout([2], [3], None, 0.5, "alone")]
    batch[2].reward = batch[3].reward = 0.7  # group g1 is flat
    kept, adv = advantages_for(batch, get_preset("dapo"))
    assert kept == [0, 1] and adv.shape == (2,) and adv.sum().abs() < 1e-9
    kept, _ = advantages_for(batch, get_preset("grpo"))
    assert kept == [0, 1, 2, 3]  # GRPO keeps flat groups (zero advantage), never singletons


def test_step_moves_weights_and_saves_a_loadable_checkpoint(tmp_path) -> None:
    model = tiny_model(2)
    trainer = PolicyTrainer(model, _SavingTok(), preset="grpo", lr=1e-2)
    before = [p.detach().clone() for p in trainer.params]
    stats = trainer.step(rollouts(2, behaviour=False))
    assert stats.rollouts == 6 and torch.isfinite(torch.tensor(stats.loss)) and stats.peak_rss_mb > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.params))
    path = trainer.save(tmp_path / "ckpt")
    again = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float64)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_lora_trains_only_the_adapter() -> None:
    pytest.importorskip("peft")
    from oversight.rl.trainer import LoraSettings

    trainer = PolicyTrainer(tiny_model(3), Tok(), preset="grpo", lr=1e-2, lora=LoraSettings(r=2, alpha=4))
    base = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" not in n}
    trainer.step(rollouts(3))
    assert trainer.params and all("lora_" in n for n, p in trainer.model.named_parameters() if p.requires_grad)
    assert all(torch.equal(p, base[n]) for n, p in trainer.model.named_parameters() if n in base)


def test_bad_settings_are_one_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="micro_batch_size"):
        PolicyTrainer(tiny_model(), Tok(), micro_batch_size=0)
    bad = tmp_path / "train.yaml"
    bad.write_text("preset: ppo\nlearning_rate: 1\n")
    with pytest.raises(ConfigError, match=r"training configuration .*preset must be one of.*learning_rate: unknown key"):
        train_config_from_file(bad)


class _SavingTok(Tok):
    def save_pretrained(self, path) -> None:
        pass
