"""lorakit.count against PEFT on the meta device, for every shipped config, and the memory arithmetic."""
import json

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from lorakit.count import (BITS_PER_PARAM, available_configs, bits_per_param,
                           config_path, count_lora, count_parameters, describe_lora, format_bytes,
                           format_table, format_trainable, load_config, lora_parameter_count,
                           lora_table, meta_model, model_bytes, print_trainable_parameters)
from lorakit.lora import inject_lora

CONFIGS = available_configs()
QV = ["q_proj", "v_proj"]
BIG = {"meta-llama/Llama-2-70b-hf", "huggyllama/llama-65b", "meta-llama/Llama-2-13b-hf", "huggyllama/llama-30b"}

# Published totals (model cards, reference/lora-family-facts.md §1 for Llama-2-7B): the oracle for
# "the shipped config.json describes the real model".
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


def test_llama_33b_rounds_to_the_papers_size():
    assert round(PUBLISHED_TOTALS["huggyllama/llama-30b"] / 1e9, 1) == 32.5


@pytest.mark.parametrize("name", CONFIGS)
def test_meta_model_total_matches_published(name):
    model = meta_model(name)
    assert all(p.is_meta for p in model.parameters())
    assert count_parameters(model) == (PUBLISHED_TOTALS[name], PUBLISHED_TOTALS[name])


def _peft_counts(name, target_modules, r):
    peft_model = get_peft_model(meta_model(name), LoraConfig(r=r, target_modules=target_modules))
    return peft_model.get_nb_trainable_parameters()


@pytest.mark.parametrize("name", CONFIGS)
def test_qv_counts_match_peft(name):
    c = count_lora(name, QV, 8)
    assert (c.trainable, c.total) == _peft_counts(name, QV, 8)


@pytest.mark.parametrize("name", [n for n in CONFIGS if n not in BIG])
def test_all_linear_counts_match_peft(name):
    c = count_lora(name, "all-linear", 16)
    assert (c.trainable, c.total) == _peft_counts(name, "all-linear", 16)


@pytest.mark.parametrize("name", ["HuggingFaceTB/SmolLM2-135M", "Qwen/Qwen2.5-0.5B", "mistralai/Mistral-7B-v0.1"])
@pytest.mark.parametrize("targets", [QV, ["k_proj", "down_proj"], "all-linear"])
def test_formula_matches_our_injected_model(name, targets):
    model = inject_lora(meta_model(name), targets, r=4, lora_alpha=8)
    assert count_parameters(model) == (count_lora(name, targets, 4).trainable, count_lora(name, targets, 4).total)


def test_llama2_7b_oracle_numbers(capsys):
    """reference/lora-family-facts.md §1, and PEFT's own print on the same meta model."""
    assert count_parameters(meta_model("meta-llama/Llama-2-7b-hf"))[1] == 6_738_415_616
    line = str(count_lora("meta-llama/Llama-2-7b-hf", QV, 8))
    assert line == "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622"
    peft_model = get_peft_model(meta_model("meta-llama/Llama-2-7b-hf"), LoraConfig(r=8, target_modules=QV))
    peft_model.print_trainable_parameters()
    assert capsys.readouterr().out.strip() == line
    print_trainable_parameters(peft_model)
    assert capsys.readouterr().out.strip() == line
    assert count_lora("meta-llama/Llama-2-7b-hf", "all-linear", 8).trainable == 19_988_480
    assert count_lora("meta-llama/Llama-2-7b-hf", "all-linear", 64).total == 6_898_323_456


def test_tied_embeddings_counted_once():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    unique = {id(p): p.numel() for p in model.state_dict(keep_vars=True).values()}
    assert count_parameters(model)[1] == sum(unique.values())


def test_formula_is_r_times_in_plus_out():
    model = meta_model("meta-llama/Llama-2-7b-hf")
    assert lora_parameter_count(model, ["q_proj"], 8) == 32 * 8 * (4096 + 4096)
    assert lora_parameter_count(model, ["down_proj"], 2) == 32 * 2 * (11008 + 4096)
    gqa = meta_model("mistralai/Mistral-7B-v0.1")  # 8 KV heads of 128: k_proj is 4096 -> 1024
    assert lora_parameter_count(gqa, ["k_proj"], 1) == 32 * (4096 + 1024)


def test_count_lora_fields():
    c = count_lora("Qwen/Qwen2.5-0.5B", "all-linear", 8)
    assert c.n_layers == 24 * 7
    assert c.total == c.base + c.trainable
    assert c.percent == pytest.approx(100 * c.trainable / c.total)


def test_tiny_lm_config_is_available():
    config = load_config("tiny-lm")
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
        load_config("meta-llama/Llama-3-8B")


@pytest.mark.parametrize("r,error", [(0, ValueError), (1.5, TypeError)])
def test_count_rejects_bad_rank(r, error):
    with pytest.raises(error, match="positive int"):
        count_lora("HuggingFaceTB/SmolLM2-135M", QV, r)


def test_count_rejects_bad_target():
    with pytest.raises(ValueError, match="matches no module"):
        count_lora("HuggingFaceTB/SmolLM2-135M", ["c_attn"], 8)


def test_format_trainable_is_peft_format():
    assert format_trainable(4_194_304, 6_742_609_920) == \
        "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622"
    with pytest.raises(ValueError):
        format_trainable(1, 0)


def test_bits_per_param_table():
    # the arithmetic lives in lorakit.quant.memory (tests/test_memory.py); the table uses QLoRA's numbers
    assert BITS_PER_PARAM["nf4"] == 4.5
    assert BITS_PER_PARAM["nf4"] - BITS_PER_PARAM["nf4-dq"] == pytest.approx(0.373, abs=1e-3)


@pytest.mark.parametrize("fmt,expected", [("fp32", 28e9), ("fp16", 14e9), ("int8", 7e9), ("nf4", 3.9375e9), (4, 3.5e9)])
def test_model_bytes(fmt, expected):
    assert model_bytes(7_000_000_000, fmt) == pytest.approx(expected)


def test_qlora_double_quant_saving_on_65b():
    """QLoRA §3: double quantisation saves about 3 GB on a 65B model."""
    saved = model_bytes(65e9, "nf4") - model_bytes(65e9, "nf4-dq")
    assert format_bytes(saved) == "3.0 GB"


def test_bits_per_param_rejects_unknown():
    with pytest.raises(ValueError, match="nf4"):
        bits_per_param("int3")
    assert bits_per_param(2.5) == 2.5


@pytest.mark.parametrize("n,text", [(350e9, "350 GB"), (37_748_736, "37.7 MB"), (13.48e9, "13.5 GB"), (512, "512 B")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


def test_table_and_description():
    rows = lora_table(["HuggingFaceTB/SmolLM2-135M"], {"q,v": QV, "all": "all-linear"}, [4, 8])
    assert [(r["targets"], r["r"]) for r in rows] == [("q,v", 4), ("q,v", 8), ("all", 4), ("all", 8)]
    assert rows[1]["trainable"] == count_lora("HuggingFaceTB/SmolLM2-135M", QV, 8).trainable
    lines = format_table(rows).splitlines()
    assert len(lines) == 5 and len({len(line) for line in lines}) == 1
    text = describe_lora("meta-llama/Llama-2-7b-hf", QV, 8)
    assert "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622" in text
    assert "64 linear layers" in text and "8.4 MB" in text


def test_explorer_widget_updates():
    pytest.importorskip("ipywidgets")
    from lorakit.count import lora_explorer

    box = lora_explorer(names=["HuggingFaceTB/SmolLM2-135M", "meta-llama/Llama-2-7b-hf"])
    arch, targets, rank, result = box.children
    assert "SmolLM2-135M" in result.value
    arch.value = "meta-llama/Llama-2-7b-hf"
    assert "4,194,304" in result.value
    rank.value = 64
    targets.value = "all-linear"
    assert "159,907,840" in result.value
