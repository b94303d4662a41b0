"""scripts/build_proxy_model.py: an offline stand-in for a hub model that lorakit loads like one."""
import importlib.util
import json

import pytest
import torch

from lorakit.models.loading import is_shipped, load
from lorakit.course.paths import REPO_ROOT, TINY_LM_DIR

spec = importlib.util.spec_from_file_location("build_proxy_model", REPO_ROOT / "scripts" / "build_proxy_model.py")
proxy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proxy)


def test_proxy_has_the_real_shape_cut_short_and_the_shipped_vocabulary(tmp_path, capsys):
    out = proxy.build(tmp_path / "proxy", "HuggingFaceTB/SmolLM2-135M", layers=1)
    config = json.loads((out / "config.json").read_text())
    assert (config["hidden_size"], config["num_key_value_heads"], config["num_hidden_layers"]) == (576, 3, 1)
    assert list(out.glob("*.safetensors")) and not list(out.glob("*.bin"))
    model, tokenizer, model_id = load(str(out), dtype=torch.float16)
    assert not is_shipped(model_id) and model.dtype == torch.float16
    shipped_vocab = json.loads((TINY_LM_DIR / "config.json").read_text())["vocab_size"]
    assert model.config.vocab_size == len(tokenizer) == shipped_vocab
    logits = model(**tokenizer(["Mia lives in"], return_tensors="pt")).logits
    assert logits.shape[-1] == shipped_vocab and torch.isfinite(logits).all()


def test_another_architecture_builds_too(tmp_path):
    out = proxy.build(tmp_path / "qwen", "Qwen/Qwen2.5-0.5B", layers=1)
    assert json.loads((out / "config.json").read_text())["model_type"] == "qwen2"


def test_narrow_keeps_the_head_size_and_grouped_query_attention(tmp_path):
    out = proxy.build(tmp_path / "narrow", "HuggingFaceTB/SmolLM2-135M", layers=1, narrow=3)
    config = json.loads((out / "config.json").read_text())
    assert (config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"],
            config["intermediate_size"], config["head_dim"]) == (192, 3, 1, 512, 64)
    model, tokenizer, _ = load(str(out), dtype=torch.float16)
    logits = model(**tokenizer(["Mia lives in"], return_tensors="pt")).logits
    assert torch.isfinite(logits).all()


def test_narrow_refuses_a_width_it_cannot_divide():
    raw = {"hidden_size": 576, "num_attention_heads": 9, "num_key_value_heads": 3, "intermediate_size": 1536}
    with pytest.raises(ValueError, match="narrow=2 must divide"):
        proxy.narrow_config(raw, 2)
    with pytest.raises(ValueError, match="positive integer"):
        proxy.narrow_config(raw, 0)
