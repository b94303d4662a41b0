"""lorakit.lora.layer against PEFT's lora.Linear: same init, same outputs, same merge, bad input named."""
import copy

import pytest
import torch
from lora_helpers import peft_layer
from torch import nn
from torch.testing import assert_close

from lorakit.lora import LoRALinear, scaling_factor


@pytest.mark.parametrize("use_rslora", [False, True])
@pytest.mark.parametrize("r,alpha,bias", [(1, 1, False), (4, 8, True), (8, 16, False), (16, 4, True)])
def test_forward_matches_peft(r, alpha, bias, use_rslora):
    torch.manual_seed(0)
    base = nn.Linear(24, 40, bias=bias)
    ours = LoRALinear(copy.deepcopy(base), r, alpha, use_rslora=use_rslora)
    ref = peft_layer(copy.deepcopy(base), r, alpha, use_rslora)
    ours.lora_B.weight.data.normal_()
    ref.lora_A["default"].weight.data.copy_(ours.lora_A.weight)
    ref.lora_B["default"].weight.data.copy_(ours.lora_B.weight)
    assert ours.scaling == ref.scaling["default"]
    x = torch.randn(3, 5, 24)
    assert_close(ours(x), ref(x), rtol=0, atol=1e-6)


def test_init_matches_peft_default():
    base = nn.Linear(32, 16)
    torch.manual_seed(7)
    ours = LoRALinear(copy.deepcopy(base), 4, 8)
    torch.manual_seed(7)
    ref = peft_layer(copy.deepcopy(base), 4, 8)
    assert_close(ours.lora_A.weight, ref.lora_A["default"].weight, rtol=0, atol=0)
    assert torch.count_nonzero(ours.lora_B.weight) == 0
    bound = 1 / 32 ** 0.5  # Kaiming-uniform with a=sqrt(5) on fan_in=32
    assert ours.lora_A.weight.abs().max() <= bound


def test_shapes_and_names_follow_peft():
    layer = LoRALinear(nn.Linear(24, 40), r=4, lora_alpha=8)
    assert layer.lora_A.weight.shape == (4, 24)
    assert layer.lora_B.weight.shape == (40, 4)
    assert set(layer.state_dict()) == {"base_layer.weight", "base_layer.bias", "lora_A.weight", "lora_B.weight"}
    assert (layer.r, layer.lora_alpha, layer.scaling, layer.merged) == (4, 8, 2.0, False)


@pytest.mark.parametrize("bias", [False, True])
def test_merge_unmerge(bias):
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(24, 40, bias=bias), r=4, lora_alpha=8)
    layer.lora_B.weight.data.normal_()
    w0 = layer.base_layer.weight.detach().clone()
    x = torch.randn(6, 24)
    unmerged = layer(x)
    layer.merge()
    assert layer.merged
    expected = w0 + layer.scaling * layer.lora_B.weight @ layer.lora_A.weight
    assert_close(layer.base_layer.weight, expected)
    assert_close(layer(x), unmerged, rtol=1e-5, atol=1e-5)
    assert_close(layer(x), layer.base_layer(x), rtol=0, atol=0)  # merged forward is one matmul
    layer.merge()  # merging twice is harmless
    assert_close(layer.base_layer.weight, expected)
    layer.unmerge()
    layer.unmerge()
    assert not layer.merged
    assert_close(layer.base_layer.weight, w0, rtol=1e-6, atol=1e-6)
    assert_close(layer(x), unmerged, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_merged_weight_matches_peft(dtype):
    torch.manual_seed(0)
    base = nn.Linear(24, 40).to(dtype)
    ours = LoRALinear(copy.deepcopy(base), 4, 8)
    ours.lora_B.weight.data.normal_()
    ref = peft_layer(copy.deepcopy(base), 4, 8)
    ref.lora_A["default"].weight.data.copy_(ours.lora_A.weight)
    ref.lora_B["default"].weight.data.copy_(ours.lora_B.weight)
    ours.merge()
    ref.merge()
    assert torch.equal(ours.base_layer.weight, ref.base_layer.weight)


def test_dropout_only_on_the_lora_branch():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(16, 16), r=4, lora_alpha=4, lora_dropout=0.5)
    layer.lora_B.weight.data.normal_()
    x = torch.randn(64, 16)
    layer.eval()
    no_drop = layer(x)
    layer.train()
    assert not torch.allclose(layer(x), no_drop)
    layer.lora_B.weight.data.zero_()
    assert_close(layer(x), layer.base_layer(x), rtol=0, atol=0)


def test_low_precision_base_keeps_fp32_adapter():
    base = nn.Linear(16, 8).to(torch.bfloat16)
    layer = LoRALinear(base, r=2, lora_alpha=2)
    assert layer.lora_A.weight.dtype == torch.float32
    layer.lora_B.weight.data.normal_()
    y = layer(torch.randn(3, 16, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16
    layer.merge()
    assert layer.base_layer.weight.dtype == torch.bfloat16


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_output_matches_peft_bitwise(dtype):
    torch.manual_seed(0)
    base = nn.Linear(32, 48).to(dtype)
    ours = LoRALinear(copy.deepcopy(base), 8, 16)
    ref = peft_layer(copy.deepcopy(base), 8, 16)
    ours.lora_B.weight.data.normal_()
    ref.lora_A["default"].weight.data.copy_(ours.lora_A.weight)
    ref.lora_B["default"].weight.data.copy_(ours.lora_B.weight)
    x = torch.randn(4, 32, dtype=dtype)
    assert torch.equal(ours(x), ref(x))


def test_works_on_meta_device():
    with torch.device("meta"):
        base = nn.Linear(4096, 4096, bias=False)
    layer = LoRALinear(base, r=8, lora_alpha=16)
    assert layer.lora_A.weight.is_meta and layer.lora_A.weight.shape == (8, 4096)


@pytest.mark.parametrize("r,alpha,rslora,expected", [(8, 16, False, 2.0), (16, 16, True, 4.0), (4, 1, False, 0.25)])
def test_scaling(r, alpha, rslora, expected):
    assert scaling_factor(r, alpha, rslora) == expected
    assert LoRALinear(nn.Linear(4, 4), r, alpha, use_rslora=rslora).scaling == expected


@pytest.mark.parametrize("r,alpha,error,match", [
    (0, 8, ValueError, "positive int"),
    (-2, 8, ValueError, "positive int"),
    (2.5, 8, TypeError, "positive int"),
    ("8", 8, TypeError, "positive int"),
    (True, 8, TypeError, "positive int"),
    (8, 0, ValueError, "lora_alpha"),
    (8, -1.0, ValueError, "lora_alpha"),
    (8, "16", TypeError, "lora_alpha"),
])
def test_bad_rank_or_alpha(r, alpha, error, match):
    with pytest.raises(error, match=match):
        LoRALinear(nn.Linear(4, 4), r, alpha)


def test_bad_layer_and_dropout():
    with pytest.raises(TypeError, match="nn.Linear"):
        LoRALinear(nn.Embedding(10, 4), 2, 2)
    with pytest.raises(ValueError, match="lora_dropout"):
        LoRALinear(nn.Linear(4, 4), 2, 2, lora_dropout=1.0)


def test_merge_into_quantized_weight_is_refused():
    layer = LoRALinear(nn.Linear(4, 4), 2, 2)
    layer.base_layer.weight.data = torch.zeros(4, 4, dtype=torch.uint8)
    with pytest.raises(TypeError, match="dequantize"):
        layer.merge()

