"""lorakit.count.architectures: the shipped config.json files describe the real models (published totals)."""
import json

import pytest

from lorakit.count import available_configs, config_path, count_lora, count_parameters, load_hf_config, meta_model

CONFIGS = available_configs()
QV = ["q_proj", "v_proj"]

# Published totals (the models' cards on the hub): the
# oracle for "the shipped config.json describes the real model".
PUBLISHED_TOTALS = {
    "meta-llama/Llama-2-7b-hf": 6_738_415_616,
    "meta-llama/Llama-2-13b-hf": 13_015_864_320,
    "meta-llama/Llama-2-70b-hf": 68_976_648_192,
    "huggyllama/llama-65b": 65_285_660_672,
    # LLaMA-33B ("llama-30b" on the hub): the LLaMA paper (Touvron et al. 2023, Table 2) gives 32.5B;
    # the exact count is [D] from its config, checked against that rounding in the test below.
    "huggyllama/llama-30b": 32_528_943_616,
    "mistralai/Mistral-7B-v0.1": 7_241_732_096,
    "Qwen/Qwen2.5-0.5B": 494_032_768,
    "Qwen/Qwen2.5-1.5B": 1_543_714_304,
    "HuggingFaceTB/SmolLM2-135M": 134_515_008,
    "HuggingFaceTB/SmolLM2-360M": 361_821_120,
}


def test_every_required_config_is_shipped():
    assert set(PUBLISHED_TOTALS) <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_meta_model_total_matches_published(name):
    model = meta_model(name)
    assert all(p.is_meta for p in model.parameters())
    assert count_parameters(model) == (PUBLISHED_TOTALS[name], PUBLISHED_TOTALS[name])


def test_tiny_lm_config_is_available():
    config = load_hf_config("tiny-lm")
    assert (config.hidden_size, config.intermediate_size, config.num_hidden_layers) == (128, 512, 4)
    assert count_lora("tiny-lm", QV, 8).trainable == 4 * 2 * 8 * (128 + 128)


def test_config_from_a_path(tmp_path):
    raw = json.loads(config_path("HuggingFaceTB/SmolLM2-135M").read_text())
    raw["num_hidden_layers"] = 2
    (tmp_path / "config.json").write_text(json.dumps(raw))
    model = meta_model(str(tmp_path))
    assert len(model.model.layers) == 2


def test_unknown_config_says_what_exists():
    with pytest.raises(ValueError, match="meta-llama/Llama-2-7b-hf"):
        load_hf_config("meta-llama/Llama-3-8B")


def test_llama_33b_rounds_to_the_papers_size():
    assert round(PUBLISHED_TOTALS["huggyllama/llama-30b"] / 1e9, 1) == 32.5
