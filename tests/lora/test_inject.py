"""lorakit.lora.inject: targets chosen as PEFT chooses them, only LoRA trains, PEFT's adapter keys."""
import pytest
import torch
from lora_helpers import randomize_b, tiny_llama
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from torch import nn
from torch.testing import assert_close

from lorakit.lora import find_targets, inject_lora, lora_layers, lora_state_dict, mark_only_lora_as_trainable


def test_zero_b_leaves_model_unchanged():
    model = tiny_llama()
    ids = torch.randint(0, 64, (2, 7))
    before = model(ids).logits
    inject_lora(model, ["q_proj", "v_proj"], r=4, lora_alpha=8)
    assert_close(model(ids).logits, before, rtol=0, atol=1e-6)  # B = 0; 1e-6 absorbs matmul rounding that can vary between calls


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



def test_mark_only_lora_as_trainable_refreezes_the_rest():
    model = inject_lora(tiny_llama(), ["q_proj", "v_proj"], r=2, lora_alpha=2)
    model.requires_grad_(True)   # e.g. after a full fine-tune
    mark_only_lora_as_trainable(model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert len(trainable) == 2 * 2 * 2 and all(".lora_A." in n or ".lora_B." in n for n in trainable)


def test_injecting_more_layers_keeps_earlier_lora_trainable():
    model = inject_lora(tiny_llama(), ["q_proj"], r=2, lora_alpha=2)
    inject_lora(model, ["v_proj"], r=2, lora_alpha=2)
    trainable = {n.split(".")[-3] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"q_proj", "v_proj"}


@pytest.mark.parametrize("r,alpha,error", [(0, 8, ValueError), (2.5, 8, TypeError), (8, -1.0, ValueError)])
def test_bad_rank_or_alpha_leaves_the_model_untouched(r, alpha, error):
    model = tiny_llama()
    with pytest.raises(error):
        inject_lora(model, ["q_proj"], r, alpha)
    assert not list(lora_layers(model)), "a failed inject must leave the model untouched"
