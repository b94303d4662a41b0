"""lorakit.qalora.convert and GroupQuantLinear on a small Llama: convert, merge, unload, re-quantize."""
import copy

import pytest
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from lorakit.qalora import (GroupQuantLinear, QALoRALinear, group_quant_layers, qalora_layers,
                            quantize_model_groupwise, to_qalora)
from lorakit.lora.merge import merge_and_unload, merge_lora, unmerge_lora


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=80, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def randomize_b(model, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in qalora_layers(model):
            layer.lora_B.weight.copy_(torch.randn(layer.lora_B.weight.shape, generator=gen) * 0.05)


IDS = torch.randint(0, 64, (2, 11), generator=torch.Generator().manual_seed(0))


def logits(model):
    with torch.no_grad():
        return model(IDS).logits


def test_converts_every_linear_but_the_head():
    model = to_qalora(tiny_llama(), group_size=16, bits=4, r=4, lora_alpha=8)
    names = [n for n, _ in qalora_layers(model)]
    assert len(names) == 2 * 7 and all("lm_head" not in n for n in names)
    trainable = {n.rsplit(".", 2)[-2] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"lora_A", "lora_B"}
    expected = sum(4 * (layer.in_features // 16 + layer.out_features) for _, layer in qalora_layers(model))
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected


def test_at_init_it_is_the_rtn_quantized_model():
    fp = tiny_llama()
    qalora = to_qalora(copy.deepcopy(fp), group_size=16, bits=3, r=4, lora_alpha=8)
    rtn = quantize_model_groupwise(copy.deepcopy(fp), bits=3, group_size=16)
    torch.testing.assert_close(logits(qalora), logits(rtn), rtol=0, atol=0)
    assert not any(isinstance(m, nn.Linear) and n != "lm_head" for n, m in rtn.named_modules())


def test_merge_and_unload_is_exact_and_leaves_int_layers():
    model = to_qalora(tiny_llama(), group_size=16, bits=4, r=4, lora_alpha=8)
    randomize_b(model)
    codes = {n: layer.base_layer.codes.clone() for n, layer in qalora_layers(model)}
    before = logits(model)
    merge_and_unload(model)
    after = logits(model)
    assert ((after - before).norm() / before.norm()).item() <= 1e-5
    assert not list(qalora_layers(model))
    layers = dict(group_quant_layers(model))
    assert set(layers) == set(codes) and all(torch.equal(layers[n].codes, c) for n, c in codes.items())
    assert not any(layer.zeros_are_integers() for layer in layers.values())
    assert not any(p.requires_grad for p in model.parameters())


def test_merge_lora_is_reversible_on_qalora():
    model = to_qalora(tiny_llama(), group_size=16, bits=2, r=2, lora_alpha=4)
    randomize_b(model)
    before = logits(model)
    merge_lora(model)
    assert all(layer.merged for _, layer in qalora_layers(model))
    unmerge_lora(model)
    assert not any(layer.merged for _, layer in qalora_layers(model))
    torch.testing.assert_close(logits(model), before, rtol=1e-5, atol=1e-5)


def test_target_modules_by_name():
    model = to_qalora(tiny_llama(), group_size=16, bits=4, r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"])
    assert {n.rsplit(".", 1)[-1] for n, _ in qalora_layers(model)} == {"q_proj", "v_proj"}


def test_group_size_that_does_not_divide_fails_before_any_change():
    model = tiny_llama()   # hidden 32, intermediate 80: groups of 32 fit every layer but down_proj
    with pytest.raises(ValueError, match=r"does not divide the 80 input features of model\.layers\.0\.mlp\.down_proj"):
        to_qalora(model, group_size=32, bits=4, r=2, lora_alpha=4)
    assert not list(qalora_layers(model)), "the model must be left untouched"


def test_other_bad_input():
    with pytest.raises(ValueError, match="from 2 to 8"):
        to_qalora(tiny_llama(), group_size=16, bits=9, r=2, lora_alpha=4)
    with pytest.raises(ValueError, match="positive int"):
        to_qalora(tiny_llama(), group_size=16, bits=4, r=0, lora_alpha=4)
    with pytest.raises(TypeError, match="not an nn.Linear"):
        to_qalora(tiny_llama(), group_size=16, bits=4, r=2, lora_alpha=4, target_modules=["mlp"])
    model = to_qalora(tiny_llama(), group_size=16, bits=4, r=2, lora_alpha=4)
    with pytest.raises(ValueError, match="already has QA-LoRA"):
        to_qalora(model, group_size=16, bits=4, r=2, lora_alpha=4)
    with pytest.raises(ValueError, match="from 2 to 8"):
        quantize_model_groupwise(tiny_llama(), bits=1, group_size=16)


def test_group_quant_linear_matches_its_dequantized_weight():
    torch.manual_seed(0)
    linear = nn.Linear(64, 24, bias=True)
    q = GroupQuantLinear.from_linear(linear, bits=4, group_size=32)
    x = torch.randn(3, 64)
    torch.testing.assert_close(q(x), x @ q.weight_float().T + linear.bias)
    assert set(q.state_dict()) == {"codes", "scales", "zeros", "bias"} and not list(q.parameters())
    assert q.storage_bits() == round((4 + 20 / 32) * 64 * 24)
    assert q(x.half()).dtype == torch.float16
    with pytest.raises(TypeError, match="takes an nn.Linear"):
        GroupQuantLinear.from_linear(q)
    with pytest.raises(ValueError, match="more than 2 bits"):
        GroupQuantLinear(q.codes, q.scales, q.zeros, bits=2)
