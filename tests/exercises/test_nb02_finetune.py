"""Notebook 02's draft exercise 4 (fine-tune the record task yourself), graded by its result.

The honest solution trains for real: marked slow, and run only with LORAKIT_DRAFT_TESTS=1 until the
exercise is in the notebook (its time on 2 cores is not measured yet). The quick tests
cover a stub, an untrained adapter, full fine-tuning, the shipped adapter and the course's trainer.
"""
import os
import re
import tempfile

import pytest
import torch

from lorakit import exercises
from lorakit.data.tasks import TASKS
from lorakit.exercises import nb02
from lorakit.exercises.nb02 import check_finetune_record
from lorakit.models.loading import load


@pytest.fixture(autouse=True)
def not_strict():
    exercises.set_strict(False)
    yield
    exercises.set_strict(False)


def finetune_record(model, tokenizer, train):
    """The draft's solution: the learner's own LoraConfig and SFTConfig, TRL's SFTTrainer."""
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from trl import SFTConfig, SFTTrainer

    task = TASKS["record"]
    pairs = [task.format_example(e) for e in train]
    data = Dataset.from_list([{"prompt": p, "completion": a + tokenizer.eos_token} for p, a in pairs])
    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                                  lora_dropout=0.0, task_type="CAUSAL_LM"))
    args = SFTConfig(output_dir=tempfile.mkdtemp(prefix="record-"), max_steps=150, learning_rate=2e-3,
                     per_device_train_batch_size=16, lr_scheduler_type="constant_with_warmup", warmup_steps=10,
                     completion_only_loss=True, max_length=256, save_strategy="no", eval_strategy="no",
                     logging_steps=50, report_to="none", disable_tqdm=True, seed=0, data_seed=0,
                     dataloader_num_workers=0, dataloader_pin_memory=False,
                     bf16=False, fp16=False)   # TRL 1.x asks for bf16 by default, which a CPU refuses
    SFTTrainer(model=peft_model, args=args, train_dataset=data, processing_class=tokenizer).train()
    return peft_model


def untrained(model, tokenizer, train):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))


def line(capsys) -> str:
    return capsys.readouterr().out.strip()


def test_the_draft_is_registered_but_not_listed():
    assert (2, 4) not in {(e.notebook, e.number) for e in exercises.registered()}
    assert (2, 4) in {(e.notebook, e.number) for e in exercises.registered(drafts=True)}
    assert check_finetune_record.exercise.steps[-1].endswith("02_lora_finetune_solutions.ipynb")


def test_stub_is_not_done(capsys):
    assert check_finetune_record(lambda m, t, d: None) is False
    assert line(capsys).startswith("Exercise 4: not done yet: the notebook trained the qa task")


def test_an_untrained_adapter_is_graded_by_its_score(capsys):
    assert check_finetune_record(untrained, n_eval=20) is False
    out = line(capsys)
    assert out.startswith("Exercise 4: not right yet: exact match 0% on 20 validation examples, below 90%"), out


def test_full_fine_tuning_is_not_lora(capsys):
    def full(model, tokenizer, train):
        peft_model = untrained(model, tokenizer, train)
        with torch.no_grad():
            peft_model.base_model.model.model.embed_tokens.weight.add_(0.01)
        return peft_model

    assert check_finetune_record(full, n_eval=5) is False
    assert "base weights changed" in line(capsys)


def test_the_course_trainer_and_the_shipped_adapter_are_refused(capsys):
    from lorakit.studies.adapters import train_adapter

    def course(model, tokenizer, train):
        return train_adapter(model, tokenizer, "record", steps=1)[0]

    assert check_finetune_record(course, n_eval=5) is False
    # a closure keeps its own train_adapter; the trainer inside it is unavailable all the same
    assert re.search(r"calls lorakit\.(studies\.adapters\.train_adapter|training\.loop\.finetune)", line(capsys))

    def shipped(model, tokenizer, train):
        from peft import PeftModel

        from lorakit.studies.adapters import ADAPTERS_DIR
        return PeftModel.from_pretrained(model, str(ADAPTERS_DIR / "record"))

    assert check_finetune_record(shipped, n_eval=5) is False
    assert "shipped record adapter" in line(capsys)


def test_over_the_time_budget_is_refused(capsys):
    assert check_finetune_record(untrained, seconds=0.0, n_eval=5) is False
    assert "over the budget of 0 s" in line(capsys)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("LORAKIT_DRAFT_TESTS") != "1",
                    reason="draft exercise, not in notebook 02 yet: LORAKIT_DRAFT_TESTS=1 runs its solution "
                           "(its time on 2 cores is not measured yet)")
def test_the_solution_reaches_the_bar_within_the_budget(capsys):
    model, tokenizer, _ = load(None, quiet=True)
    assert check_finetune_record(finetune_record, model, tokenizer), line(capsys)
    assert line(capsys).startswith("Exercise 4: ✓ exact match")
    assert nb02.RECORD_SECONDS == 60.0 and nb02.RECORD_BAR == 0.9
