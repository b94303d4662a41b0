"""Notebook 02's exercise 4 (fine-tune the record task yourself), graded by its result.

The honest solution trains for real, and the solutions notebook runs it (strict): these tests do not
train it a second time. They check the checker's verdicts cheaply: a stub, a model without LoRA, an
untrained adapter, full fine-tuning, the shipped adapter, the course's trainers, the time budget.
"""
import re

import pytest
import torch

from lorakit import exercises
from lorakit.exercises import nb02
from lorakit.exercises.nb02 import check_finetune_record
from lorakit.training.sft import sft_config   # a global here, as the notebook's import is for the learner


@pytest.fixture(autouse=True)
def not_strict():
    exercises.set_strict(False)
    yield
    exercises.set_strict(False)


def untrained(model, tokenizer, train):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))


def line(capsys) -> str:
    return capsys.readouterr().out.strip()


def test_exercise_4_is_listed_with_its_bar_and_budget():
    assert (2, 4) in {(e.notebook, e.number) for e in exercises.registered()}
    assert check_finetune_record.exercise.steps[-1].endswith("02_lora_finetune_solutions.ipynb")
    assert (nb02.RECORD_BAR, nb02.RECORD_SECONDS, nb02.RECORD_N_EVAL) == (0.9, 60.0, 100)


def test_stub_is_not_done(capsys):
    assert check_finetune_record(lambda m, t, d: None) is False
    assert line(capsys).startswith("Exercise 4: not done yet: the notebook trained the qa task")


def test_a_model_without_lora_is_refused(capsys):
    assert check_finetune_record(lambda model, tokenizer, train: model, n_eval=5) is False
    out = line(capsys)
    assert "without LoRA layers" in out and "get_peft_model" in out, out


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


def test_the_course_trainers_and_the_shipped_adapter_are_refused(capsys):
    from lorakit.studies.adapters import train_adapter

    def course(model, tokenizer, train):
        return train_adapter(model, tokenizer, "record", steps=1)[0]

    assert check_finetune_record(course, n_eval=5) is False
    # a closure keeps its own train_adapter; the trainer inside it is unavailable all the same
    assert re.search(r"calls lorakit\.(studies\.adapters\.train_adapter|training\.loop\.finetune)", line(capsys))

    def course_config(model, tokenizer, train):
        sft_config("/tmp/unused", max_steps=1)
        return untrained(model, tokenizer, train)

    assert check_finetune_record(course_config, n_eval=5) is False
    assert "calls lorakit.training.sft.sft_config" in line(capsys)

    def shipped(model, tokenizer, train):
        from peft import PeftModel

        from lorakit.studies.adapters import ADAPTERS_DIR
        return PeftModel.from_pretrained(model, str(ADAPTERS_DIR / "record"))

    assert check_finetune_record(shipped, n_eval=5) is False
    assert "shipped record adapter" in line(capsys)


def test_over_the_time_budget_is_refused(capsys):
    assert check_finetune_record(untrained, seconds=0.0, n_eval=5) is False
    assert "over the budget of 0 s" in line(capsys)
