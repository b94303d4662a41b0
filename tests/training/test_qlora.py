"""lorakit.training.qlora: the config, the byte-for-byte check against lorakit.quant, and merging into a full-precision base."""
import warnings

import pytest
import torch
from peft import LoraConfig, get_peft_model

from lorakit.training import qlora
from lorakit.studies import qlora_vs_lora
from lorakit.models.loading import load_model
from lorakit.course.paths import TINY_LM_DIR

SHIPPED = str(TINY_LM_DIR)


def test_bnb_config_asks_for_nf4_and_the_course_dtype():
    quant = qlora.bnb_config(dtype=torch.float16)
    assert quant.load_in_4bit and quant.bnb_4bit_quant_type == "nf4" and quant.bnb_4bit_use_double_quant
    assert quant.bnb_4bit_compute_dtype == torch.float16
    assert qlora.bnb_config(double_quant=False).bnb_4bit_use_double_quant is False


@pytest.mark.parametrize("double_quant", [True, False])
def test_shipped_4bit_weights_equal_lorakit_quant(double_quant):
    model4 = load_model(SHIPPED, quantization_config=qlora.bnb_config(double_quant, torch.float32))
    reference = load_model(SHIPPED, dtype=torch.float32)
    check = qlora.compare_with_lorakit(model4, reference)
    assert check["layers"] == 28 and check["equal_layers"] == 28 and check["unequal_bytes"] == 0
    assert qlora.rows_are_whole_blocks(model4)


def test_compare_with_lorakit_can_fail():
    model4 = load_model(SHIPPED, quantization_config=qlora.bnb_config(True, torch.float32))
    reference = load_model(SHIPPED, dtype=torch.float32)
    with torch.no_grad():
        reference.model.layers[1].mlp.up_proj.weight.mul_(1.5)   # not the weights bitsandbytes quantized
    check = qlora.compare_with_lorakit(model4, reference)
    assert check["equal_layers"] == 27 and check["unequal_bytes"] > 0


def test_merge_into_base_equals_the_adapter_on_the_full_precision_base(tmp_path):
    base = load_model(SHIPPED, dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    peft_model.save_pretrained(tmp_path)
    ids = torch.randint(2, 1000, (2, 12))
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        merged = qlora.merge_into_base(tmp_path, base_model_id=SHIPPED, dtype=torch.float32)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, expected, atol=1e-4, rtol=1e-4)


def test_adapter_dtype_rule():
    assert qlora.adapter_dtype(torch.float32) == torch.float32      # CPU
    assert qlora.adapter_dtype(torch.float16) == torch.float32      # T4: the gradient scaler wants fp32 masters
    assert qlora.adapter_dtype(torch.bfloat16) == torch.bfloat16    # compute capability >= 8.0: the paper's


def test_cast_adapters_touches_only_trainable_parameters():
    model = qlora_vs_lora.lora_model(SHIPPED, "lora", r=4, dtype=torch.float32)
    frozen = {n: p.dtype for n, p in model.named_parameters() if not p.requires_grad}
    assert qlora.cast_adapters_(model, torch.bfloat16) == sum(p.requires_grad for p in model.parameters())
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.bfloat16}
    assert {n: p.dtype for n, p in model.named_parameters() if not p.requires_grad} == frozen
    with pytest.raises(TypeError, match="floating torch.dtype"):
        qlora.cast_adapters_(model, "float32")


def test_restore_adapters_puts_back_the_values_before_a_bfloat16_cast():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    model[0].requires_grad_(False)
    with torch.no_grad():
        model[1].weight.fill_(1 + 2 ** -12)            # rounds to 1.0 in bfloat16
    before = qlora.trainable_snapshot(model)
    assert set(before) == {"1.weight", "1.bias"}
    qlora.cast_adapters_(model, torch.bfloat16)         # what TRL does to a quantized model's adapters
    assert model[1].weight.dtype == torch.bfloat16 and (model[1].weight == 1).all()
    assert qlora.restore_adapters_(model, before, qlora.adapter_dtype(torch.float32)) == 0
    assert model[1].weight.dtype == torch.float32 and (model[1].weight == 1 + 2 ** -12).all()
    assert model[0].weight.dtype == torch.float32


def test_bnb_config_quant_type_and_storage():
    assert qlora.bnb_config(quant_type="fp4").bnb_4bit_quant_type == "fp4"
    assert qlora.bnb_config(quant_storage=torch.bfloat16).bnb_4bit_quant_storage == torch.bfloat16
    with pytest.raises(ValueError, match="nf4"):
        qlora.bnb_config(quant_type="int4")
