"""Attention FLOPs (against a count done by hand) and the step timer (runs, restores the model)."""
import pytest
import torch
from transformers import LlamaConfig

from lorakit.longlora import s2_attn_enabled
from lorakit.longlora.cost import attention_flops, attention_seconds, model_attention_flops, step_seconds
from lorakit.longlora.trainable import longlora_trainable
from lorakit.models import load_model


def test_full_attention_flops_by_hand():
    # one head, d = 2, N = 3: Q·Kᵀ is 3 × 3 dot products of length 2 (2 mul + 2 add each = 4), same for ·V
    assert attention_flops(3, head_dim=2, n_heads=1) == 2 * 9 * 4


@pytest.mark.parametrize("n", [256, 512, 2048, 8192])
def test_quarter_groups_give_four_times_fewer(n):
    assert attention_flops(n, 128, 32, 32) == 4 * attention_flops(n, 128, 32, 32, group_size=n // 4)


def test_model_flops_read_the_config():
    cfg = LlamaConfig(hidden_size=4096, num_attention_heads=32, num_hidden_layers=32)
    assert model_attention_flops(cfg, 4096) == attention_flops(4096, 128, 32, 32)


def test_bad_arguments():
    with pytest.raises(ValueError, match="group_size"):
        attention_flops(512, 32, 4, group_size=100)
    with pytest.raises(ValueError, match="seq_len"):
        attention_flops(0, 32, 4)


def test_step_seconds_runs_and_leaves_the_model_as_it_was():
    model = longlora_trainable(load_model(None), extra=())
    before = {n: p.clone() for n, p in model.named_parameters()}
    timed = step_seconds(model, [64, 128], tokens_per_batch=256, repeats=1, rounds=1)
    assert set(timed) == {64, 128} and all(v["full"] > 0 and v["s2"] > 0 for v in timed.values())
    assert not s2_attn_enabled(model)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert all(p.grad is None for p in model.parameters())


def test_attention_seconds_runs():
    timed = attention_seconds([64, 128], tokens_per_batch=256, n_heads=4, head_dim=8, repeats=1, rounds=1)
    assert set(timed) == {64, 128} and all(v["full"] > 0 and v["s2"] > 0 for v in timed.values())
