import math

import pytest
import torch
from peft import LoraConfig, get_peft_model

from lorakit.data.qa import make_split
from lorakit.models.loading import load_model, load_tokenizer
from lorakit.training.loop import IGNORE_INDEX, TrainConfig, batch_indices, collate, encode_pairs, finetune


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def test_loss_only_on_answer_and_eos(tok):
    (enc,) = encode_pairs(tok, [("### ANSWER\n", "Lima")])
    answer_ids = tok("Lima", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert [l for l in enc["labels"] if l != IGNORE_INDEX] == answer_ids
    assert enc["input_ids"][-len(answer_ids):] == answer_ids


def test_collate_pads_right_and_masks(tok):
    batch = collate(encode_pairs(tok, [("a b", "c"), ("a", "b c d e")]), tok.pad_token_id)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    short = batch["attention_mask"][0]
    assert short.sum() < short.numel() and (batch["labels"][0][short == 0] == IGNORE_INDEX).all()


def test_lora_finetune_lowers_loss_and_leaves_base_frozen(tok):
    model = load_model()
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    base_before = peft_model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight.clone()
    result = finetune(peft_model, tok, make_split("train", 64), TrainConfig(max_steps=30, max_seconds=None,
                                                                            batch_size=8, lr=3e-3))
    assert result.steps == 30 and result.examples_seen == 240
    assert sum(result.losses[-5:]) / 5 < sum(result.losses[:5]) / 5
    after = peft_model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight
    torch.testing.assert_close(after, base_before, rtol=0, atol=0)


def test_needs_a_stop_condition(tok):
    with pytest.raises(ValueError, match="max_steps or"):
        finetune(load_model(), tok, make_split("train", 2), TrainConfig(max_steps=None, max_seconds=None))


def test_needs_trainable_parameters(tok):
    model = load_model().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        finetune(model, tok, make_split("train", 2), TrainConfig(max_steps=1))


# ------------------------------------------------------------------ mixed precision (a T4 loads fp16)

def short_pair(example):
    """A few tokens per example, so float16 steps (about 10x slower than fp32 on a CPU) stay cheap."""
    return example["question"], example["answers"]["text"][0]


FP16_RUN = TrainConfig(max_steps=20, max_seconds=None, batch_size=2, warmup_steps=2, lr=1e-3)


def _finite(model) -> bool:
    return all(torch.isfinite(p).all() for p in model.parameters())


def _falls(losses) -> bool:
    return sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


def test_full_finetune_in_float16_stays_finite_and_learns(tok):
    model = load_model(dtype=torch.float16)
    before = model.model.layers[1].self_attn.v_proj.weight.detach().clone()
    run = finetune(model, tok, make_split("train", 8), FP16_RUN, to_pair=short_pair)
    assert run.compute_dtype == "float16" and run.steps == 20 and run.skipped_steps < 3
    assert all(math.isfinite(x) for x in run.losses) and _falls(run.losses), run.losses
    assert _finite(model), "a weight went non-finite: fp16 weights stepped without fp32 masters"
    after = model.model.layers[1].self_attn.v_proj.weight
    assert after.dtype == torch.float16, "the model comes back in the dtype it came in"
    assert not torch.equal(after, before), "the caller's model object must be the one trained"


def test_lora_over_a_float16_base_stays_finite_and_learns(tok):
    model = get_peft_model(load_model(dtype=torch.float16),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    base = model.base_model.model.model.layers[0].self_attn.q_proj
    frozen = base.base_layer.weight.detach().clone()
    run = finetune(model, tok, make_split("train", 8), FP16_RUN, to_pair=short_pair)
    assert run.compute_dtype == "float16"
    assert all(math.isfinite(x) for x in run.losses) and _falls(run.losses), run.losses
    assert _finite(model)
    assert base.lora_A["default"].weight.dtype == torch.float32, "LoRA weights stay fp32 masters"
    assert base.base_layer.weight.dtype == torch.float16
    torch.testing.assert_close(base.base_layer.weight, frozen, rtol=0, atol=0)
    assert torch.count_nonzero(base.lora_B["default"].weight) > 0


def test_float32_model_trains_without_autocast(tok):
    model = load_model(dtype=torch.float32)
    run = finetune(model, tok, make_split("train", 4), TrainConfig(max_steps=2, max_seconds=None, batch_size=2),
                   to_pair=short_pair)
    assert run.compute_dtype == "float32" and run.skipped_steps == 0
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_batch_indices_file_order_wraps_around():
    batches = batch_indices(5, 2, shuffle=False)
    assert [next(batches) for _ in range(4)] == [[0, 1], [2, 3], [4, 0], [1, 2]]


def test_batch_indices_shuffled_is_a_seeded_permutation_per_epoch():
    first = [i for _, b in zip(range(5), batch_indices(10, 2, seed=3)) for i in b]
    again = [i for _, b in zip(range(5), batch_indices(10, 2, seed=3)) for i in b]
    other = [i for _, b in zip(range(5), batch_indices(10, 2, seed=4)) for i in b]
    assert sorted(first) == list(range(10)), "one epoch visits every example once"
    assert first == again and first != other and first != list(range(10))


@pytest.mark.parametrize("n, batch_size", [(0, 2), (3, 0)])
def test_batch_indices_rejects_empty(n, batch_size):
    with pytest.raises(ValueError, match="n >= 1 and batch_size >= 1"):
        next(batch_indices(n, batch_size))
