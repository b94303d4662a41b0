"""lorakit.count.lora against PEFT on the meta device, for every shipped config."""
import pytest
from peft import LoraConfig, get_peft_model

from lorakit.count import (available_configs, count_lora, count_parameters, describe_lora, format_table,
                           lora_parameter_count, lora_table, meta_model, print_trainable_parameters)
from lorakit.lora import inject_lora

CONFIGS = available_configs()
QV = ["q_proj", "v_proj"]
BIG = {"meta-llama/Llama-2-70b-hf", "huggyllama/llama-65b", "meta-llama/Llama-2-13b-hf", "huggyllama/llama-30b"}


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
    """Llama-2-7B's published total (its model card), and PEFT's own print on the same meta model."""
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


@pytest.mark.parametrize("r,error", [(0, ValueError), (1.5, TypeError)])
def test_count_rejects_bad_rank(r, error):
    with pytest.raises(error, match="positive int"):
        count_lora("HuggingFaceTB/SmolLM2-135M", QV, r)


def test_count_rejects_bad_target():
    with pytest.raises(ValueError, match="matches no module"):
        count_lora("HuggingFaceTB/SmolLM2-135M", ["c_attn"], 8)


def test_table_and_description():
    rows = lora_table(["HuggingFaceTB/SmolLM2-135M"], {"q,v": QV, "all": "all-linear"}, [4, 8])
    assert [(r["targets"], r["r"]) for r in rows] == [("q,v", 4), ("q,v", 8), ("all", 4), ("all", 8)]
    assert rows[1]["trainable"] == count_lora("HuggingFaceTB/SmolLM2-135M", QV, 8).trainable
    lines = format_table(rows).splitlines()
    assert len(lines) == 5 and len({len(line) for line in lines}) == 1
    text = describe_lora("meta-llama/Llama-2-7b-hf", QV, 8)
    assert "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622" in text
    assert "64 linear layers" in text and "8.4 MB" in text
