"""LongLoRA's trainable set: LoRA on q, k, v, o plus embeddings and norms, counted by kind."""
import pytest
import torch

from lorakit.longlora.trainable import count_trainable, longlora_trainable, mark_trainable
from lorakit.models.loading import load_model


def test_plain_lora_trains_only_the_adapters():
    model = longlora_trainable(load_model(None), extra=())
    counts = count_trainable(model)
    cfg = model.config
    expected = cfg.num_hidden_layers * 8 * sum(                     # r = 8, (in + out) per target
        (cfg.hidden_size + out) for out in (cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim,
                                            cfg.num_key_value_heads * cfg.head_dim, cfg.hidden_size))
    assert counts == {"lora": expected, "embed": 0, "norm": 0, "other": 0, "total": expected}


def test_longlora_adds_embeddings_and_every_norm():
    model = longlora_trainable(load_model(None))
    counts = count_trainable(model)
    cfg = model.config
    assert counts["embed"] == cfg.vocab_size * cfg.hidden_size                # tied: counted once
    assert counts["norm"] == (2 * cfg.num_hidden_layers + 1) * cfg.hidden_size
    assert counts["other"] == 0
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("input_layernorm" in n for n in names) and any("model.norm" in n for n in names)


def test_extra_parameters_receive_gradients():
    model = longlora_trainable(load_model(None))
    ids = torch.randint(0, 1000, (2, 32))
    model(input_ids=ids, labels=ids).loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_a_fragment_that_matches_nothing_is_an_error():
    with pytest.raises(ValueError, match="no parameter name contains 'embedding_layer'"):
        mark_trainable(load_model(None), ["embedding_layer"])
    with pytest.raises(TypeError):
        mark_trainable(load_model(None), [""])
