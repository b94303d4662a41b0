"""lorakit.quant.fake: quantize -> dequantize round trips, for one tensor and a whole model."""
import logging
from dataclasses import replace

import pytest
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from lorakit.quant import (dequantize_4bit, double_dequantize, double_quantize, fake_quantize,
                           fake_quantize_model_, quantize_4bit)

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
import bitsandbytes.functional as bnb_f  # noqa: E402


def _tiny_llama():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, tie_word_embeddings=True)
    return LlamaForCausalLM(config)


@pytest.mark.parametrize("code", ["nf4", "fp4"])
def test_fake_quantize_equals_bitsandbytes_round_trip(code):
    w = torch.randn(128, 256) * 0.02  # rows of whole blocks: bnb's CPU dequantize is right there (test_quantize.py)
    packed, state = bnb_f.quantize_4bit(w, blocksize=64, quant_type=code, compress_statistics=True)
    torch.testing.assert_close(fake_quantize(w, code, 64, double_quant=True),
                               bnb_f.dequantize_4bit(packed, state), atol=1e-6, rtol=0)


def test_fake_quantize_keeps_shape_and_dtype():
    w = torch.randn(64, 128, dtype=torch.bfloat16)
    out = fake_quantize(w, "int4")
    assert out.shape == w.shape and out.dtype == torch.bfloat16
    assert torch.equal(out, dequantize_4bit(*quantize_4bit(w, "int4")))


def test_double_quant_changes_only_the_scales():
    w = torch.randn(64, 256)
    packed, state = quantize_4bit(w)
    expected = dequantize_4bit(packed, replace(state, absmax=double_dequantize(double_quantize(state.absmax))))
    assert torch.equal(fake_quantize(w, double_quant=True), expected)


def test_model_linear_layers_quantized_rest_untouched():
    model = _tiny_llama()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    names = fake_quantize_model_(model, "nf4")
    assert len(names) == 2 * 7 and "lm_head" not in names
    after = model.state_dict()
    for key, value in before.items():
        changed = not torch.equal(value, after[key])
        is_linear = key.endswith("proj.weight")
        assert changed == is_linear, key
        if is_linear:
            assert torch.equal(after[key], fake_quantize(value, "nf4"))


def test_model_without_linear_layers():
    with pytest.raises(ValueError, match="no nn.Linear layers"):
        fake_quantize_model_(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="unknown code"):
        fake_quantize_model_(_tiny_llama(), "int3")
