"""Position interpolation: the live model's rotary frequencies change, not only its config."""
import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

from lorakit.longlora import extend_context, interpolation_factor
from lorakit.longlora.position import rotary_embedding
from lorakit.models.loading import load_model


def test_linear_interpolation_divides_inv_freq_in_the_live_model():
    model = load_model(None)
    rotary = rotary_embedding(model)
    plain = rotary.inv_freq.clone()
    ids = torch.randint(0, 1000, (1, 40))
    with torch.no_grad():
        before = model(ids).logits
    previous = extend_context(model, 4)
    assert previous["rope_type"] == "default"
    assert model.config.rope_parameters == {"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}
    torch.testing.assert_close(rotary.inv_freq, plain / 4)
    assert rotary.attention_scaling == 1.0 and interpolation_factor(model) == pytest.approx(4.0)
    with torch.no_grad():
        assert (model(ids).logits - before).abs().max() > 1e-2
    extend_context(model, 1)
    torch.testing.assert_close(rotary.inv_freq, plain)
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, before)


def test_matches_a_model_loaded_with_rope_parameters(tmp_path):
    """Oracle: transformers' own linear rope, set in the config before loading."""
    model = load_model(None)
    model.save_pretrained(tmp_path)
    config = LlamaConfig.from_pretrained(tmp_path)
    config.rope_parameters = {"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}
    reference = AutoModelForCausalLM.from_pretrained(tmp_path, config=config)
    extend_context(model, 4)
    ids = torch.randint(0, 1000, (2, 64))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reference(ids).logits)
    assert isinstance(rotary_embedding(reference), LlamaRotaryEmbedding)
    torch.testing.assert_close(rotary_embedding(model).inv_freq, rotary_embedding(reference).inv_freq)


def test_positions_m_and_4m_meet():
    """Under factor 4, position 4m gets the angles plain RoPE gives position m."""
    model = load_model(None)
    rotary = rotary_embedding(model)
    x = torch.zeros(1, 1, 8)
    cos_plain, _ = rotary(x, torch.arange(8)[None])
    extend_context(model, 4)
    cos_pi, _ = rotary(x, 4 * torch.arange(8)[None])
    torch.testing.assert_close(cos_pi, cos_plain)


@pytest.mark.parametrize("factor", [0.5, 0, "4", True])
def test_bad_factor(factor):
    with pytest.raises(ValueError, match="factor"):
        extend_context(load_model(None), factor)
