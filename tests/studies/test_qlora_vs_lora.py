"""lorakit.studies.qlora_vs_lora: both methods start from the same adapters; TRL's cast is undone."""
import warnings

import pytest
import torch

from lorakit.course.paths import TINY_LM_DIR
from lorakit.studies import qlora_vs_lora

SHIPPED = str(TINY_LM_DIR)


def test_lora_model_same_start_for_both_methods():
    q = qlora_vs_lora.lora_model(SHIPPED, "qlora", r=4, dtype=torch.float32, seed=3)
    lo = qlora_vs_lora.lora_model(SHIPPED, "lora", r=4, dtype=torch.float32, seed=3)
    qa = {n: p for n, p in q.named_parameters() if "lora_A" in n}
    la = {n: p for n, p in lo.named_parameters() if "lora_A" in n}
    assert qa.keys() == la.keys() and all(torch.equal(qa[n], la[n]) for n in qa)
    assert q.is_activation_checkpointing and not lo.is_activation_checkpointing
    with pytest.raises(ValueError, match="'qlora' or 'lora'"):
        qlora_vs_lora.lora_model(SHIPPED, "dora")


@pytest.mark.parametrize("adapters, expected", [(None, torch.float32), ("trl", torch.bfloat16)])
def test_train_sft_keeps_float32_adapters_on_the_cpu_unless_asked(adapters, expected):
    # TRL 1.x's SFTTrainer casts a quantized model's adapters to bfloat16 (its sft_trainer.py, "When using
    # QLoRA"); train_sft restores the course's rule (float32 on the CPU) unless adapters="trl". If the "trl"
    # case fails, TRL changed: update notebook 04's section 3.
    import datasets
    from lorakit.models import presets
    from lorakit.models.loading import load_tokenizer
    from lorakit.training.sft import load_qa_splits

    datasets.disable_progress_bars()
    tokenizer = load_tokenizer(SHIPPED)
    data = load_qa_splits(tokenizer.eos_token, sizes={"train": 16})
    preset = presets.get("cpu", batch_size=4)
    model = qlora_vs_lora.lora_model(SHIPPED, "qlora", r=4, dtype=torch.float32, checkpointing=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer, seconds = qlora_vs_lora.train_sft(model, tokenizer, data["train"], 2, preset, adapters=adapters)
    assert seconds > 0 and trainer.state.global_step == 2
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {expected}
    assert {s["state1"].dtype for s in trainer.optimizer.state.values()} == {torch.float32}


def test_train_sft_needs_a_step_after_warm_up():
    with pytest.raises(ValueError, match="steps must be an int >= 2"):
        qlora_vs_lora.train_sft(None, None, None, 1, None)


def test_producer_setup_shares_one_setup():
    from lorakit.studies.qlora_vs_lora import producer_setup

    preset, tokenizer, data, test = producer_setup(3)
    assert preset.name == "cpu" and len(test) == 3
    assert {"train"} <= set(data) and tokenizer.eos_token
    assert producer_setup()[3] is None
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_test"):
            producer_setup(bad)
