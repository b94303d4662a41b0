"""lorakit.lora.merge: reversible merge/unmerge of a whole model, and merge_and_unload, against PEFT."""
import copy

import pytest
import torch
from lora_helpers import randomize_b, tiny_llama
from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
from torch.testing import assert_close

from lorakit.lora import LoRALinear, inject_lora, lora_layers, lora_state_dict, merge_and_unload, merge_lora, unmerge_lora

IDS = torch.randint(0, 64, (2, 7), generator=torch.Generator().manual_seed(0))


def lora_model(targets="all-linear"):
    model = inject_lora(tiny_llama(), targets, r=4, lora_alpha=8)
    randomize_b(model)
    return model


def weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_merge_is_reversible_and_keeps_the_layers():
    model = lora_model()
    before, logits = weights(model), model(IDS).logits
    assert merge_lora(model) is model
    layers = list(lora_layers(model))
    assert len(layers) == 2 * 7 and all(layer.merged for _, layer in layers)
    for name, layer in layers:   # W = W0 + s·B·A, A and B kept
        expected = before[f"{name}.base_layer.weight"] + layer.scaling * layer.lora_B.weight @ layer.lora_A.weight
        assert_close(layer.base_layer.weight, expected)
    assert_close(model(IDS).logits, logits, rtol=1e-4, atol=1e-4)
    merged_once = weights(model)
    merge_lora(model)            # merging twice is harmless
    assert all(torch.equal(p, merged_once[n]) for n, p in model.named_parameters())
    unmerge_lora(model)
    assert not any(layer.merged for _, layer in lora_layers(model))
    for name, p in model.named_parameters():
        assert_close(p, before[name], rtol=1e-6, atol=1e-6, msg=f"{name} not restored")
    assert_close(model(IDS).logits, logits, rtol=1e-5, atol=1e-5)


def test_merge_and_unload_returns_a_plain_model():
    model = lora_model()
    logits = model(IDS).logits
    plain = merge_and_unload(model)
    assert plain is model and not list(lora_layers(plain))
    assert all(type(m) is not LoRALinear for m in plain.modules())
    assert set(plain.state_dict()) == set(tiny_llama().state_dict())
    assert not any(p.requires_grad for p in plain.parameters()), "base weights stay frozen"
    assert_close(plain(IDS).logits, logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_merged_weights_equal_peft(dtype):
    ours = lora_model(["q_proj", "v_proj"]).to(dtype)
    for _, layer in lora_layers(ours):   # adapters stay fp32 over a 16-bit base, as PEFT's
        layer.lora_A.float(), layer.lora_B.float()
    ref = get_peft_model(tiny_llama().to(dtype), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    set_peft_model_state_dict(ref, {"base_model.model." + k: v for k, v in lora_state_dict(ours).items()})
    name = "model.layers.1.self_attn.v_proj"
    ref_plain = copy.deepcopy(ref).merge_and_unload()
    ref.merge_adapter()
    reversible = merge_lora(copy.deepcopy(ours))
    peft_merged = ref.base_model.model.get_submodule(name).base_layer.weight
    assert torch.equal(reversible.get_submodule(name).base_layer.weight, peft_merged)
    plain = merge_and_unload(ours)
    assert torch.equal(plain.get_submodule(name).weight, ref_plain.get_submodule(name).weight)


def test_base_weight_unchanged_after_a_training_step_then_merge():
    # litgpt's test_lora_merge: training moves only A and B; the merge adds exactly s·B·A
    model = inject_lora(tiny_llama(), ["q_proj"], r=4, lora_alpha=8)
    w0 = model.model.layers[0].self_attn.q_proj.base_layer.weight.detach().clone()
    model.train()
    model(IDS, labels=IDS).loss.backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0).step()
    layer = model.model.layers[0].self_attn.q_proj
    assert torch.equal(layer.base_layer.weight, w0) and torch.count_nonzero(layer.lora_B.weight) > 0
    merge_lora(model.eval())
    assert_close(layer.base_layer.weight, w0 + layer.delta_weight().detach())
