"""lorakit.lora.peft: reading PEFT's LoRA layers (combination types, ΔW per layer, factors, base weights)."""
import torch
from peft import LoraConfig, get_peft_model

from lorakit.lora.combine import delta_weight
from lorakit.lora.peft import base_weights, lora_delta_weights, lora_factors, peft_combination_types


def test_every_combination_type_of_this_peft():
    assert set(peft_combination_types()) == {
        "svd", "linear", "cat", "ties", "ties_svd", "dare_linear", "dare_ties", "dare_linear_svd",
        "dare_ties_svd", "magnitude_prune", "magnitude_prune_svd"}



def test_delta_weights_factors_and_base_weights_of_a_small_peft_model():
    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4))
    original = {k: v.clone() for k, v in base.state_dict().items()}
    model = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=["0", "2"], init_lora_weights=False))
    deltas = lora_delta_weights(model, "default")
    factors = lora_factors(model, ["default"])
    assert set(deltas) == set(factors) and len(deltas) == 2
    for name, (As, Bs, scalings) in factors.items():
        assert scalings == [2.0]
        torch.testing.assert_close(deltas[name], delta_weight(As[0], Bs[0], scalings[0]))
    plain = base_weights(model)
    assert set(plain) == set(original) and all(torch.equal(plain[k], original[k]) for k in original)
