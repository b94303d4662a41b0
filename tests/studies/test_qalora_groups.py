"""lorakit.studies.qalora_groups: groups per row, what pooling keeps, the update's rank, the per-width control."""
import pytest
import torch

from lorakit.models.loading import load
from lorakit.qalora import QALoRALinear
from lorakit.studies import qalora_compare as compare
from lorakit.studies import qalora_groups as groups


@pytest.fixture(scope="module")
def shipped():
    model, tokenizer, _ = load(None)
    return model, tokenizer


def test_groups_per_row_on_the_shipped_model(shipped):
    model, _ = shipped
    assert groups.groups_per_row(model, 128) == {128: 1, 512: 4}
    assert groups.groups_per_row(model, 32) == {128: 4, 512: 16}
    with pytest.raises(ValueError):
        groups.groups_per_row(model, 96)          # does not divide 128


def test_pooled_energy_is_the_share_in_the_group_indicators_span():
    x = torch.ones(3, 8)                           # constant inside each group: all of it is kept
    assert groups.pooled_energy(x, 4) == pytest.approx(1.0)
    alternating = torch.tensor([[1.0, -1.0] * 4])  # sums to 0 in every group of 2 or more: nothing kept
    assert groups.pooled_energy(alternating, 2) == pytest.approx(0.0)
    x = torch.tensor([[3.0, 1.0, 0.0, 0.0]])       # groups of 2: (3 + 1)^2 / 2 = 8 of 10
    assert groups.pooled_energy(x, 2) == pytest.approx(0.8)
    rand = torch.randn(4000, 128, generator=torch.Generator().manual_seed(0))
    assert groups.pooled_energy(rand, 32) == pytest.approx(1 / 32, rel=0.1)   # a random direction's share
    assert groups.pooled_energy(torch.cat([x, torch.zeros(1, 4)]), 2) == pytest.approx(0.8)   # padding skipped
    with pytest.raises(ValueError, match="non-zero"):
        groups.pooled_energy(torch.zeros(2, 4), 2)
    with pytest.raises(TypeError):
        groups.pooled_energy([1.0, 2.0], 2)


def test_effective_rank():
    assert groups.effective_rank(torch.tensor([1.0, 0.0, 0.0])) == 1
    assert groups.effective_rank(torch.tensor([1.0, 1.0, 1.0, 1.0]), 0.99) == 4
    assert groups.effective_rank(torch.tensor([1.0, 1.0, 1.0, 1.0]), 0.5) == 2
    assert groups.effective_rank(torch.zeros(3)) == 0
    with pytest.raises(ValueError, match="share"):
        groups.effective_rank(torch.ones(2), 0.0)


def test_delta_spectrum_rank_follows_groups_per_row(shipped):
    model, _ = shipped
    config = compare.CompareConfig(seed=0)
    for g, expected in ((128, {128: 1, 512: 4}), (32, {128: 4, 512: 16})):
        qa = compare.qalora_model(model, config, 4, g)
        for m in qa.modules():
            if isinstance(m, QALoRALinear):
                torch.nn.init.normal_(m.lora_B.weight)        # as if trained: B = 0 has rank 0
        by_width = groups.spectrum_by_width(groups.delta_spectrum(qa))
        assert {w: s["max_rank"] for w, s in by_width.items()} == expected
        if g == 128:
            assert by_width[128]["mean_top_share"] == pytest.approx(1.0, abs=1e-5)   # rank 1: all in one direction
    with pytest.raises(ValueError, match="no LoRA"):
        groups.delta_spectrum(model)


def test_qalora_model_by_width_sets_each_width_group(shipped):
    model, _ = shipped
    config = compare.CompareConfig(seed=0)
    mixed = groups.qalora_model_by_width(model, config, 4, {128: 64, 512: 128})
    sizes = {(m.in_features, m.group_size) for m in mixed.modules() if isinstance(m, QALoRALinear)}
    assert sizes == {(128, 64), (512, 128)}
    assert all(not p.requires_grad for n, p in mixed.named_parameters() if "lora_" not in n)
    assert not any(isinstance(m, QALoRALinear) for m in model.modules())    # the input is left alone
    with pytest.raises(ValueError, match="no group size"):
        groups.qalora_model_by_width(model, config, 4, {128: 64})
    with pytest.raises(ValueError):
        groups.qalora_model_by_width(model, config, 4, {128: 96, 512: 128})


def test_capture_inputs_leaves_out_padding(shipped):
    model, tokenizer = shipped
    name = "model.layers.0.mlp.down_proj"
    out = groups.capture_inputs(model, tokenizer, ["a b c d e f", "a"], [name])
    n_tokens = len(tokenizer("a b c d e f")["input_ids"]) + len(tokenizer("a")["input_ids"])
    assert out[name].shape == (n_tokens, 512)
    with pytest.raises(ValueError, match="at least one prompt"):
        groups.capture_inputs(model, tokenizer, [], [name])
