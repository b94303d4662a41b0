"""lorakit.qalora.layer: pooling, the forward against PEFT's QA-LoRA variant, and the exact merge."""
import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora.variants import QALoraLinearVariant
from torch import nn

from lorakit.qalora import GroupQuantLinear, QALoRALinear, dequantize_groupwise, pool_groups


def trained_layer(in_features=64, out_features=48, r=4, group_size=16, bits=4, bias=False, seed=0):
    """A QALoRALinear whose B is non-zero, as after training."""
    torch.manual_seed(seed)
    layer = QALoRALinear(nn.Linear(in_features, out_features, bias=bias), r, 8, group_size, bits)
    with torch.no_grad():
        layer.lora_B.weight.normal_(0, 0.05)
    return layer


def rel_error(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("shape", [(12,), (3, 12), (2, 5, 12), (2, 1, 3, 12)])
def test_pool_groups_shapes_and_sums(shape):
    x = torch.randn(shape)
    pooled = pool_groups(x, 4)
    assert pooled.shape == (*shape[:-1], 3)
    torch.testing.assert_close(pooled[..., 1], x[..., 4:8].sum(-1))


def test_pool_groups_example_and_bad_group():
    assert pool_groups(torch.arange(1.0, 7.0), 2).tolist() == [3.0, 7.0, 11.0]
    with pytest.raises(ValueError, match="does not divide"):
        pool_groups(torch.randn(2, 12), 5)


def test_shapes_and_trainable_parameters():
    layer = trained_layer(in_features=64, out_features=48, r=4, group_size=16)
    assert layer.lora_A.weight.shape == (4, 64 // 16) and layer.lora_B.weight.shape == (48, 4)
    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    assert trainable == {"lora_A.weight", "lora_B.weight"}
    assert isinstance(layer.base_layer, GroupQuantLinear) and not list(layer.base_layer.parameters())
    x = torch.randn(2, 3, 5, 64)                       # any (..., in_features)
    assert layer(x).shape == (2, 3, 5, 48)


def test_starts_as_the_quantized_base():
    torch.manual_seed(0)
    base = nn.Linear(64, 32, bias=True)
    layer = QALoRALinear(copy.deepcopy(base), r=4, lora_alpha=8, group_size=16, bits=3)
    x = torch.randn(7, 64)
    torch.testing.assert_close(layer(x), GroupQuantLinear.from_linear(base, 3, 16)(x), rtol=0, atol=0)


def test_lora_branch_equals_peft_qalora_variant():
    """PEFT's QALoraLinearVariant.forward (on a real PEFT lora.Linear) pools mean × n_groups: same up to A."""
    torch.manual_seed(0)
    in_features, out_features, r, g = 64, 40, 4, 16
    holder = nn.Sequential(nn.Linear(in_features, out_features, bias=False))
    config = LoraConfig(r=r, lora_alpha=8, target_modules=["0"], use_qalora=True, qalora_group_size=g)
    peft_layer = get_peft_model(holder, config).base_model.model[0]
    QALoraLinearVariant.init(peft_layer, "default", config)              # A takes in // g inputs
    ours = trained_layer(in_features, out_features, r, g)
    n_groups = in_features // g
    with torch.no_grad():
        peft_layer.lora_A["default"].weight.copy_(ours.lora_A.weight * g / n_groups)  # PEFT's pooled x is sum·L/g
        peft_layer.lora_B["default"].weight.copy_(ours.lora_B.weight)
    x = torch.randn(3, 5, in_features)
    zero = torch.zeros(3, 5, out_features)
    theirs = QALoraLinearVariant.forward(peft_layer, "default", x, zero)
    assert ours.scaling == peft_layer.scaling["default"]
    torch.testing.assert_close(ours(x) - ours.base_layer(x), theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bits,group_size,bias", [(4, 16, False), (3, 32, True), (2, 8, False), (8, 64, False)])
def test_merge_is_exact_and_keeps_the_codes(bits, group_size, bias):
    layer = trained_layer(in_features=64, out_features=48, group_size=group_size, bits=bits, bias=bias)
    x = torch.randn(4, 9, 64)
    codes, scales = layer.base_layer.codes.clone(), layer.base_layer.scales.clone()
    before_weight = layer.base_layer.weight_float()
    unmerged = layer(x)
    layer.merge()
    merged = layer(x)
    assert rel_error(merged, unmerged) <= 1e-5
    assert torch.equal(layer.base_layer.codes, codes) and torch.equal(layer.base_layer.scales, scales)
    change = (layer.base_layer.weight_float() - before_weight).reshape(48, -1, group_size)   # (out, L, g)
    spread = (change.amax(-1) - change.amin(-1)).abs().max().item()
    assert spread <= 1e-6 * change.abs().max().item() + 1e-7, "the weight must change by one constant per group"
    torch.testing.assert_close(change[..., 0], layer.group_delta(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(layer.base_layer.weight_float() - before_weight, layer.delta_weight(),
                               rtol=1e-4, atol=1e-6)


def test_merged_zero_points_are_real_valued():
    layer = trained_layer()
    assert layer.base_layer.zeros_are_integers()
    layer.merge()
    assert not layer.base_layer.zeros_are_integers()


def test_merge_twice_is_harmless_and_unmerge_restores():
    layer = trained_layer()
    zeros = layer.base_layer.zeros.clone()
    x = torch.randn(5, 64)
    unmerged = layer(x)
    layer.merge()
    merged = layer(x)
    layer.merge()
    torch.testing.assert_close(layer(x), merged, rtol=0, atol=0)
    layer.unmerge()
    torch.testing.assert_close(layer.base_layer.zeros, zeros, rtol=0, atol=1e-5)
    assert rel_error(layer(x), unmerged) <= 1e-5 and not layer.merged


def test_the_paper_merge_formula():
    """merge.py: qzeros -= (B@A).t() * scale / group_size / scales, with mean pooling; with sum pooling no /g."""
    layer = trained_layer()
    ba = layer.lora_B.weight @ layer.lora_A.weight
    expected = layer.base_layer.zeros - ba * layer.scaling / layer.base_layer.scales
    layer.merge()
    torch.testing.assert_close(layer.base_layer.zeros, expected)


def test_without_grouping_the_update_has_rank_one():
    layer = trained_layer(in_features=64, out_features=48, r=8, group_size=64)
    assert torch.linalg.matrix_rank(layer.delta_weight()).item() == 1
    grouped = trained_layer(in_features=64, out_features=48, r=8, group_size=16)   # 4 groups
    assert torch.linalg.matrix_rank(grouped.delta_weight()).item() == 4


def test_gradients_reach_only_the_adapter():
    layer = trained_layer()
    layer(torch.randn(3, 64)).pow(2).sum().backward()
    assert layer.lora_A.weight.grad is not None and layer.lora_B.weight.grad is not None
    assert layer.lora_A.weight.grad.abs().sum() > 0


def test_float16_base_keeps_float32_adapter():
    torch.manual_seed(0)
    layer = QALoRALinear(nn.Linear(64, 32).half(), r=4, lora_alpha=8, group_size=16)
    assert layer.lora_A.weight.dtype == torch.float32
    y = layer(torch.randn(2, 64, dtype=torch.float16))
    assert y.dtype == torch.float16 and torch.isfinite(y).all()


def test_dequantized_base_is_within_half_a_step_of_the_original():
    torch.manual_seed(0)
    base = nn.Linear(64, 32)
    layer = QALoRALinear(copy.deepcopy(base), r=2, lora_alpha=4, group_size=16, bits=4)
    q = layer.base_layer
    step = q.scales.repeat_interleave(16, dim=1)
    assert ((dequantize_groupwise(q.codes, q.scales, q.zeros) - base.weight).abs() <= step / 2 + 1e-6).all()


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(group_size=24), ValueError, "does not divide the 64"),
    (dict(bits=1), ValueError, "from 2 to 8"),
    (dict(bits=9), ValueError, "from 2 to 8"),
    (dict(r=0), ValueError, "positive int"),
    (dict(r=-2), ValueError, "positive int"),
    (dict(r=2.5), TypeError, "positive int"),
    (dict(lora_dropout=1.0), ValueError, "lora_dropout"),
])
def test_bad_arguments(kwargs, error, match):
    args = dict(r=4, lora_alpha=8, group_size=16, bits=4) | kwargs
    with pytest.raises(error, match=match):
        QALoRALinear(nn.Linear(64, 32), **args)


@pytest.mark.parametrize("base", [nn.Conv1d(64, 32, 1), nn.Embedding(10, 64)])
def test_only_linear_layers(base):
    with pytest.raises(TypeError, match="wraps an nn.Linear"):
        QALoRALinear(base, r=4, lora_alpha=8, group_size=16)


def test_lora_A_starts_at_loras_scale_whatever_the_group_size():
    """A's bound is 1/√in_features, so A·pool(x) starts as large as LoRA's A·x, not √group_size times larger."""
    torch.manual_seed(0)
    x = torch.randn(4096, 256)
    lora_A = nn.Linear(256, 16, bias=False)          # nn.Linear's (and PEFT's) Kaiming-uniform for fan_in = 256
    ref = lora_A(x).pow(2).mean().sqrt()
    for g in (8, 64, 256):
        layer = QALoRALinear(nn.Linear(256, 32), r=16, lora_alpha=16, group_size=g)
        assert layer.lora_A.weight.abs().max() <= 256 ** -0.5
        hidden = layer.lora_A(pool_groups(x, g)).pow(2).mean().sqrt()
        assert 0.6 < (hidden / ref).item() < 1.6, f"groups of {g}: A·pool(x) starts {hidden / ref:.2f}x LoRA's"
