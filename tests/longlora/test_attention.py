"""S²-Attn inside transformers models: registered through the attention interface, checked against
transformers' own SDPA path and against a dense per-head mask; GQA, padding, round trip."""
import pytest
import torch
import torch.nn.functional as F
from transformers import AttentionInterface, LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaAttention

from lorakit.longlora import S2_ATTN, disable_s2_attn, enable_s2_attn, group_size_for, s2_attn_enabled
from lorakit.longlora.s2_attention import s2_attention_mask
from lorakit.models.loading import load_model


def _gqa_model(seed=0):
    """A tiny Llama with grouped-query attention (4 query heads, 2 key/value heads), like SmolLM2's 9/3."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         attn_implementation="sdpa")
    return LlamaForCausalLM(config).eval()


def _dense_reference(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """S²-Attn spelled out: each half of the heads under its dense (seq, seq) mask."""
    n_rep = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(n_rep, dim=1), value.repeat_interleave(n_rep, dim=1)
    masks = s2_attention_mask(query.shape[2], query.shape[2] // 4)
    half = query.shape[1] // 2
    out = torch.cat([F.scaled_dot_product_attention(query[:, :half], key[:, :half], value[:, :half],
                                                    attn_mask=masks[0], scale=scaling),
                     F.scaled_dot_product_attention(query[:, half:], key[:, half:], value[:, half:],
                                                    attn_mask=masks[1], scale=scaling)], dim=1)
    return out.transpose(1, 2), None


@pytest.mark.parametrize("make", [_gqa_model, lambda: load_model(None)], ids=["gqa", "shipped"])
def test_one_group_without_shift_equals_sdpa(make):
    model = make()
    ids = torch.randint(0, 64, (2, 32))
    with torch.no_grad():
        ref = model(ids).logits
        enable_s2_attn(model, group_size_ratio=1.0, shift=False)
        got = model(ids).logits
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_matches_dense_per_head_masks_with_gqa():
    AttentionInterface.register("test_dense_s2", _dense_reference)
    model = _gqa_model()
    ids = torch.randint(0, 64, (2, 32))
    with torch.no_grad():
        model.set_attn_implementation("test_dense_s2")
        ref = model(ids).logits
        model.set_attn_implementation("sdpa")
        full = model(ids).logits
        enable_s2_attn(model)
        got = model(ids).logits
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert (got - full).abs().max() > 1e-3, "S2-Attn should differ from full attention at 4 groups"


def test_padding_is_masked():
    model = _gqa_model()
    enable_s2_attn(model, group_size_ratio=0.25)
    ids = torch.randint(2, 64, (2, 32))
    mask = torch.ones_like(ids)
    mask[1, 24:] = 0
    other = ids.clone()
    other[1, 24:] = 1                                                          # different padding tokens
    with torch.no_grad():
        padded = model(ids, attention_mask=mask).logits
        changed = model(other, attention_mask=mask).logits
    torch.testing.assert_close(padded[1, :24], changed[1, :24])              # real tokens never see padding
    assert (padded[1, 24:] - changed[1, 24:]).abs().max() > 0                 # (the padding itself did change)


def test_round_trip_on_the_shipped_model():
    model = load_model(None)
    ids = torch.randint(0, 1000, (2, 64))
    before = model.config._attn_implementation
    with torch.no_grad():
        ref = model(ids).logits
        enable_s2_attn(model)
        assert s2_attn_enabled(model) and model.config._attn_implementation == S2_ATTN
        assert all(m.config._attn_implementation == S2_ATTN for m in model.modules() if isinstance(m, LlamaAttention))
        sparse = model(ids).logits
        disable_s2_attn(model)
        again = model(ids).logits
    assert not s2_attn_enabled(model) and model.config._attn_implementation == before
    assert not hasattr(model.config, "s2_attn")
    assert (sparse - ref).abs().max() > 1e-3
    torch.testing.assert_close(again, ref, rtol=0, atol=0)
    assert LlamaAttention.forward.__module__ == "transformers.models.llama.modeling_llama"   # nothing patched


def test_works_through_peft_and_trains():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(_gqa_model(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    enable_s2_attn(model)
    model.train()
    ids = torch.randint(0, 64, (2, 32))
    model(ids, labels=ids).loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_" in n]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    disable_s2_attn(model)
    assert not s2_attn_enabled(model)


def test_generation_with_a_cache_is_refused_with_a_hint():
    model = _gqa_model()
    enable_s2_attn(model)
    with pytest.raises(ValueError, match="disable_s2_attn"):
        model.generate(torch.randint(0, 64, (1, 8)), max_new_tokens=2, do_sample=False)


def test_lengths_that_do_not_split_get_a_clear_error():
    assert group_size_for(512, 0.25) == 128
    with pytest.raises(ValueError, match="multiple of 8"):
        group_size_for(36, 0.25)
    model = _gqa_model()
    enable_s2_attn(model)
    with pytest.raises(ValueError, match="multiple of 8"):
        model(torch.randint(0, 64, (1, 36)))


def test_unsupported_architecture_and_bad_ratio():
    from transformers import GPT2Config, GPT2LMHeadModel

    with pytest.raises(TypeError, match="supports the architectures"):
        enable_s2_attn(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=32)))
    with pytest.raises(ValueError, match="group_size_ratio"):
        enable_s2_attn(_gqa_model(), group_size_ratio=0)


@pytest.mark.parametrize("model_type", ["mistral", "qwen2"])
def test_other_llama_style_architectures(model_type):
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    config = AutoConfig.for_model(model_type, vocab_size=64, hidden_size=32, intermediate_size=64,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                  attn_implementation="sdpa")
    model = AutoModelForCausalLM.from_config(config).eval()
    ids = torch.randint(0, 64, (2, 32))
    with torch.no_grad():
        ref = model(ids).logits
        enable_s2_attn(model, group_size_ratio=1.0, shift=False)
        torch.testing.assert_close(model(ids).logits, ref, rtol=1e-5, atol=1e-5)
        enable_s2_attn(model)
        assert (model(ids).logits - ref).abs().max() > 1e-4


def test_layers_keeps_the_others_on_full_attention():
    """S2-Attn in layer 0 only: a 1-layer model would match full attention with no S2 layer (layer 1
    here is on full attention), and differ from full attention when layer 0 is on S2-Attn."""
    model = _gqa_model()
    ids = torch.randint(0, 64, (2, 32))
    with torch.no_grad():
        full = model(ids).logits
        enable_s2_attn(model, layers=(0,))
        first_only = model(ids).logits
        enable_s2_attn(model)
        every = model(ids).logits
        disable_s2_attn(model)
        # S2 in layer 0 only, spelled out: layer 0 through the dense S2 reference, layer 1 through SDPA
        AttentionInterface.register("test_dense_s2", _dense_reference)
        calls = []

        def per_layer(module, *args, **kwargs):
            calls.append(module.layer_idx)
            if module.layer_idx == 0:
                return _dense_reference(module, *args, **kwargs)
            return AttentionInterface()["sdpa"](module, *args, **kwargs)

        AttentionInterface.register("test_layer0_s2", per_layer)
        model.set_attn_implementation("test_layer0_s2")
        reference = model(ids).logits
        model.set_attn_implementation("sdpa")
    assert calls == [0, 1]
    torch.testing.assert_close(first_only, reference, rtol=1e-5, atol=1e-5)
    assert (first_only - full).abs().max() > 1e-3 and (first_only - every).abs().max() > 1e-3


def test_layers_are_checked():
    model = _gqa_model()
    with pytest.raises(ValueError, match="does not have"):
        enable_s2_attn(model, layers=(2,))                  # 2 layers: 0 and 1
    with pytest.raises(ValueError, match="distinct"):
        enable_s2_attn(model, layers=(0, 0))
    with pytest.raises(TypeError, match="sequence of layer indices"):
        enable_s2_attn(model, layers=1)
