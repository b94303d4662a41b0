"""lorakit.count.params: parameters counted as PEFT counts them, printed in PEFT's format."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from lorakit.count import count_parameters, format_trainable


def test_tied_embeddings_counted_once():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    unique = {id(p): p.numel() for p in model.state_dict(keep_vars=True).values()}
    assert count_parameters(model)[1] == sum(unique.values())


def test_format_trainable_is_peft_format():
    assert format_trainable(4_194_304, 6_742_609_920) == \
        "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622"
    with pytest.raises(ValueError):
        format_trainable(1, 0)
