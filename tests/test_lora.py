"""lorakit.lora against PEFT: same init, same outputs, same merge, same state-dict keys."""
import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from torch import nn
from torch.testing import assert_close
from transformers import LlamaConfig, LlamaForCausalLM

from lorakit.lora import (LoRALinear, find_targets, inject_lora, lora_layers, lora_state_dict,
                          low_rank_approximation, merge_lora, scaling_factor, truncation_errors)


class Holder(nn.Module):
    """A one-layer model, so PEFT can target the layer by name."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.proj = layer

    def forward(self, x):
        return self.proj(x)


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def peft_layer(base: nn.Linear, r: int, alpha: float, use_rslora: bool = False):
    model = get_peft_model(Holder(base), LoraConfig(r=r, lora_alpha=alpha, target_modules=["proj"],
                                                    use_rslora=use_rslora))
    return model.base_model.model.proj


def randomize_b(module: nn.Module, seed: int = 1) -> None:
    """Give every B a non-zero value so the LoRA branch actually contributes."""
    gen = torch.Generator().manual_seed(seed)
    for _, layer in lora_layers(module):
        layer.lora_B.weight.data = torch.randn(layer.lora_B.weight.shape, generator=gen) * 0.1


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


def test_zero_b_leaves_model_unchanged():
    model = tiny_llama()
    ids = torch.randint(0, 64, (2, 7))
    before = model(ids).logits
    inject_lora(model, ["q_proj", "v_proj"], r=4, lora_alpha=8)
    assert_close(model(ids).logits, before, rtol=0, atol=1e-6)  # B = 0; 1e-6 absorbs matmul rounding that can vary between calls


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


def test_base_unchanged_after_step_and_grads_only_on_lora():
    model = inject_lora(tiny_llama(), ["q_proj", "v_proj"], r=4, lora_alpha=8)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    lora_before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(0, 64, (2, 9))
    model.train()
    model(ids, labels=ids).loss.backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == ("lora_" in name), f"gradient on {name}"
    opt.step()
    for name, p in model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), f"{name} changed"
        else:
            assert not torch.equal(p, lora_before[name]), f"{name} did not train"


def test_only_lora_is_trainable():
    model = inject_lora(tiny_llama(), "all-linear", r=2, lora_alpha=2)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)


@pytest.mark.parametrize("targets", [["q_proj", "v_proj"], ["gate_proj", "down_proj"], "all-linear"])
def test_model_outputs_and_state_dict_keys_match_peft(targets):
    ours = inject_lora(tiny_llama(), targets, r=4, lora_alpha=8)
    randomize_b(ours)
    ref = get_peft_model(tiny_llama(), LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    theirs = get_peft_model_state_dict(ref)
    state = {"base_model.model." + k: v for k, v in lora_state_dict(ours).items()}
    assert set(state) == set(theirs)
    for key, value in state.items():
        assert value.shape == theirs[key].shape, key
    set_peft_model_state_dict(ref, state)
    ids = torch.randint(0, 64, (2, 7))
    assert_close(ours(ids).logits, ref(ids).logits, rtol=0, atol=1e-5)


def test_all_linear_selects_what_peft_selects():
    ref = get_peft_model(tiny_llama(), LoraConfig(target_modules="all-linear"))
    ours = find_targets(tiny_llama(), "all-linear")
    assert set(ours) == set(ref.targeted_module_names)
    assert "lm_head" not in ours


def test_inject_works_on_any_module_with_linear_children():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x = torch.randn(5, 8)
    before = model(x)
    inject_lora(model, "all-linear", r=2, lora_alpha=4)
    assert [n for n, _ in lora_layers(model)] == ["0", "2"]
    assert_close(model(x), before, rtol=0, atol=1e-6)


def test_merge_lora_returns_plain_model():
    model = inject_lora(tiny_llama(), "all-linear", r=4, lora_alpha=8)
    randomize_b(model)
    ids = torch.randint(0, 64, (2, 7))
    with_lora = model(ids).logits
    merged = merge_lora(model)
    assert not list(lora_layers(merged))
    assert all(type(m) is not LoRALinear for m in merged.modules())
    assert set(merged.state_dict()) == set(tiny_llama().state_dict())
    assert_close(merged(ids).logits, with_lora, rtol=1e-4, atol=1e-4)


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
    model = tiny_llama()
    with pytest.raises(error, match=match):
        inject_lora(model, ["q_proj"], r, alpha)
    assert not list(lora_layers(model)), "a failed inject must leave the model untouched"


def test_bad_layer_and_dropout():
    with pytest.raises(TypeError, match="nn.Linear"):
        LoRALinear(nn.Embedding(10, 4), 2, 2)
    with pytest.raises(ValueError, match="lora_dropout"):
        LoRALinear(nn.Linear(4, 4), 2, 2, lora_dropout=1.0)


@pytest.mark.parametrize("targets,error,match", [
    (["q_proj", "nope"], ValueError, "'nope' matches no module.*q_proj"),
    (["mlp"], TypeError, "LlamaMLP, not an nn.Linear"),
    (["embed_tokens"], TypeError, "Embedding, not an nn.Linear"),
    ([], TypeError, "non-empty list"),
    ([3], TypeError, "non-empty list"),
])
def test_bad_targets(targets, error, match):
    model = tiny_llama()
    with pytest.raises(error, match=match):
        inject_lora(model, targets, r=2, lora_alpha=2)
    assert not list(lora_layers(model))


def test_injecting_twice_is_refused():
    model = inject_lora(tiny_llama(), ["q_proj"], r=2, lora_alpha=2)
    with pytest.raises(ValueError, match="already has LoRA"):
        inject_lora(model, ["q_proj"], r=2, lora_alpha=2)
    inject_lora(model, "all-linear", r=2, lora_alpha=2)  # the rest; LoRA branches are not wrapped
    assert len(list(lora_layers(model))) == 2 * 7


def test_merge_into_quantized_weight_is_refused():
    layer = LoRALinear(nn.Linear(4, 4), 2, 2)
    layer.base_layer.weight.data = torch.zeros(4, 4, dtype=torch.uint8)
    with pytest.raises(TypeError, match="dequantize"):
        layer.merge()


def test_truncation_errors_match_explicit_approximation():
    torch.manual_seed(0)
    m = torch.randn(20, 12)
    errors = truncation_errors(m, [1, 3, 12, 30])
    for r, err in zip([1, 3], errors):
        explicit = (m - low_rank_approximation(m, r)).norm() / m.norm()
        assert err == pytest.approx(float(explicit), rel=1e-4)
    assert errors[2:] == [0.0, 0.0]
    assert errors[0] > errors[1]


def test_rank_r_matrix_is_exact_at_r():
    torch.manual_seed(0)
    m = torch.randn(30, 3) @ torch.randn(3, 20)
    assert truncation_errors(m, [3])[0] < 1e-5
    assert_close(low_rank_approximation(m, 3), m, rtol=1e-4, atol=1e-4)


def test_svd_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        truncation_errors(torch.randn(3), [1])
    with pytest.raises(ValueError, match="all zeros"):
        truncation_errors(torch.zeros(3, 3), [1])
    with pytest.raises(ValueError, match=r"\[1, 3\]"):
        low_rank_approximation(torch.randn(3, 5), 4)
