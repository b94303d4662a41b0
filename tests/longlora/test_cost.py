"""Attention FLOPs (against a count done by hand) and the step timer (runs, restores the model)."""
import pytest
import torch
from transformers import LlamaConfig

from lorakit.longlora import s2_attn_enabled
from lorakit.longlora.cost import attention_flops, attention_seconds, model_attention_flops, speed_verdict, step_seconds
from lorakit.longlora.trainable import longlora_trainable
from lorakit.models.loading import load_model


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
    timed = attention_seconds([64, 128], tokens_per_batch=256, n_heads=4, head_dim=8, repeats=1, rounds=3)
    assert set(timed) == {64, 128} and all(v["full"] > 0 and v["s2"] > 0 for v in timed.values())
    for v in timed.values():   # the medians are the medians of the rounds kept for speed_verdict
        assert len(v["rounds"]["full"]) == len(v["rounds"]["s2"]) == 3
        assert v["full"] == sorted(v["rounds"]["full"])[1] and v["s2"] == sorted(v["rounds"]["s2"])[1]
        full, s2 = v["rounds"]["full"], v["rounds"]["s2"]   # the verdict reads these measured rounds
        assert speed_verdict(v) == ("s2" if max(s2) < min(full) else "full" if max(full) < min(s2) else "overlap")


@pytest.mark.parametrize("full, s2, expected", [
    ([0.10, 0.11, 0.12], [0.07, 0.08, 0.09], "s2"),      # every S2 round beat every full round
    ([0.07, 0.08, 0.09], [0.10, 0.11, 0.12], "full"),
    ([0.10, 0.11, 0.12], [0.09, 0.10, 0.13], "overlap"),  # the medians differ (0.11 vs 0.10), the rounds overlap
    ([0.10, 0.11, 0.12], [0.08, 0.09, 0.10], "overlap"),  # equal times at the edge are not a win
])
def test_speed_verdict_calls_overlapping_rounds_an_overlap(full, s2, expected):
    assert speed_verdict({"full": 0, "s2": 0, "rounds": {"full": full, "s2": s2}}) == expected


def test_speed_verdict_needs_rounds():
    with pytest.raises(ValueError, match="per-round"):
        speed_verdict({"full": 0.1, "s2": 0.2})
