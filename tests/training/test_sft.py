"""lorakit.training.sft: the QA data in TRL's prompt/completion format, the course's SFTConfig, the time cap."""
import json

import pytest
import torch
from peft import LoraConfig, get_peft_model
from trl import SFTTrainer

from lorakit.data.qa import TEMPLATE, format_prompt, make_split
from lorakit.models.loading import load_model, load_tokenizer
from lorakit.training.sft import (TimeLimitCallback, load_qa_splits, loss_history, mixed_precision, qa_data_files,
                                  sft_config, to_prompt_completion)
from lorakit.training.loop import IGNORE_INDEX, encode_pairs

EXAMPLE = {"context": "Tom lives in Lima. Mia has a cat.", "question": "Where does Tom live?",
           "answers": {"text": ["Lima"], "answer_start": [13]}}


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


@pytest.fixture
def small_qa(tmp_path):
    """train/validation/test files of 16/8/8 examples, written as the shipped ones are."""
    for split, n in (("train", 16), ("validation", 8), ("test", 8)):
        with (tmp_path / f"{split}.jsonl").open("w") as f:
            for example in make_split(split, n):
                f.write(json.dumps(example) + "\n")
    return tmp_path


def test_template_has_the_three_headings_in_order():
    prompt = format_prompt(EXAMPLE)
    assert prompt == "### CONTEXT\nTom lives in Lima. Mia has a cat.\n\n### QUESTION\nWhere does Tom live?\n\n### ANSWER\n"
    assert TEMPLATE.index("### CONTEXT") < TEMPLATE.index("### QUESTION") < TEMPLATE.index("### ANSWER")


def test_prompt_completion_puts_the_answer_and_eos_after_the_template():
    pair = to_prompt_completion(EXAMPLE, eos_token="<|endoftext|>")
    assert pair == {"prompt": format_prompt(EXAMPLE), "completion": "Lima<|endoftext|>"}
    assert to_prompt_completion(EXAMPLE)["completion"] == "Lima"
    with pytest.raises(TypeError, match="eos_token must be a string"):
        to_prompt_completion(EXAMPLE, eos_token=0)


def test_load_qa_splits_keeps_only_prompt_and_completion(tok, small_qa):
    data = load_qa_splits(tok.eos_token, data_dir=small_qa, sizes={"validation": 3})
    assert {split: len(ds) for split, ds in data.items()} == {"train": 16, "validation": 3, "test": 8}
    assert data["train"].column_names == ["prompt", "completion"]
    first = make_split("train", 1)[0]
    assert data["train"][0] == to_prompt_completion(first, tok.eos_token)


def test_qa_data_files_names_the_missing_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="write_splits"):
        qa_data_files(tmp_path)
    assert set(qa_data_files()) == {"train", "validation", "test"}


@pytest.mark.parametrize("dtype, device, expected", [
    (torch.float32, "cpu", {"fp16": False, "bf16": False}),
    (torch.float16, "cpu", {"fp16": False, "bf16": False}),      # the CPU float16 simulation: no autocast
    (torch.float16, "cuda", {"fp16": True, "bf16": False}),      # a T4
    (torch.bfloat16, "cuda", {"fp16": False, "bf16": True}),     # an A100
    (torch.float32, "cuda", {"fp16": False, "bf16": False}),
])
def test_mixed_precision_flags(dtype, device, expected):
    assert mixed_precision(dtype, device) == expected


def test_sft_config_is_the_course_recipe(tmp_path):
    args = sft_config(tmp_path, learning_rate=1e-3, batch_size=4, max_steps=7, eval_steps=5,
                      dtype=torch.float32, device="cpu")
    assert args.completion_only_loss is True and args.eval_strategy == "steps" and args.eval_steps == 5
    assert (args.learning_rate, args.per_device_train_batch_size, args.max_steps) == (1e-3, 4, 7)
    assert args.lr_scheduler_type == "constant_with_warmup" and args.max_grad_norm == 1.0
    assert not args.fp16 and not args.bf16 and not args.gradient_checkpointing and not args.disable_tqdm
    assert sft_config(tmp_path, max_steps=3, activation_checkpointing=True).activation_checkpointing
    with pytest.raises(ValueError, match="max_steps"):
        sft_config(tmp_path, max_steps=0)


def _trainer(tok, small_qa, tmp_path, max_steps, callbacks=()):
    torch.manual_seed(0)
    model = get_peft_model(load_model(), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                    task_type="CAUSAL_LM"))
    data = load_qa_splits(tok.eos_token, data_dir=small_qa)
    args = sft_config(tmp_path / "run", batch_size=4, max_steps=max_steps, eval_steps=2, logging_steps=1,
                      eval_batch_size=8, disable_tqdm=True)
    return SFTTrainer(model=model, args=args, train_dataset=data["train"], eval_dataset=data["validation"],
                      processing_class=tok, callbacks=list(callbacks))


def test_trl_masks_the_prompt_exactly_as_lorakit_does(tok, small_qa, tmp_path):
    trainer = _trainer(tok, small_qa, tmp_path, max_steps=1)
    ours = encode_pairs(tok, [(format_prompt(e), e["answers"]["text"][0]) for e in make_split("train", 16)])
    theirs = trainer.train_dataset
    for i in range(16):
        assert theirs[i]["input_ids"] == ours[i]["input_ids"], "same tokens: prompt, answer, EOS"
        assert theirs[i]["labels"] == ours[i]["labels"], "-100 on the prompt, the ids on answer and EOS"
    answer = [t for t in ours[0]["labels"] if t != IGNORE_INDEX]
    assert answer[-1] == tok.eos_token_id and len(answer) >= 2


def test_time_limit_stops_training_at_the_first_step_past_the_cap(tok, small_qa, tmp_path):
    # a cap far below one step's time: whatever the machine's load, training stops after step 1
    limit = TimeLimitCallback(max_seconds=1e-6)
    trainer = _trainer(tok, small_qa, tmp_path, max_steps=10_000, callbacks=[limit])
    trainer.train()
    assert limit.stopped_early and trainer.state.global_step == 1
    assert limit.seconds >= 1e-6


def test_loss_history_has_the_train_and_eval_curves(tok, small_qa, tmp_path):
    trainer = _trainer(tok, small_qa, tmp_path, max_steps=4)
    trainer.train()
    curves = loss_history(trainer.state.log_history)
    assert curves["train"][0] == [1, 2, 3, 4] and len(curves["train"][1]) == 4
    assert curves["eval"][0] == [2, 4] and all(loss > 0 for loss in curves["eval"][1])
    assert loss_history([{"loss": 1.0}, {"eval_loss": 2.0, "step": 3}]) == {"train": ([], []), "eval": ([3], [2.0])}


def test_a_run_the_time_cap_cuts_short_still_ends_with_a_validation_loss(tok, small_qa, tmp_path):
    # eval_steps is 2 in _trainer: the cap stops it after step 1, before any scheduled evaluation
    limit = TimeLimitCallback(max_seconds=1e-6)
    trainer = _trainer(tok, small_qa, tmp_path, max_steps=10_000, callbacks=[limit])
    trainer.train()
    curves = loss_history(trainer.state.log_history)
    assert limit.stopped_early and trainer.state.global_step == 1
    assert curves["eval"][0] == [1] and curves["eval"][1][0] > 0
    assert curves["train"][0] == [1]


def test_time_limit_is_silent_when_steps_run_out_first(tok, small_qa, tmp_path):
    limit = TimeLimitCallback(max_seconds=600)
    trainer = _trainer(tok, small_qa, tmp_path, max_steps=2, callbacks=[limit])
    trainer.train()
    assert trainer.state.global_step == 2 and not limit.stopped_early and limit.seconds > 0


@pytest.mark.parametrize("bad", [0, -1.0, True, "60"])
def test_time_limit_rejects_bad_caps(bad):
    with pytest.raises((ValueError, TypeError), match="max_seconds"):
        TimeLimitCallback(bad)
