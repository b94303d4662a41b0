"""Notebook 02's exercise 4 (fine-tune the record task yourself), graded by its result.

The honest solution trains for real, and the solutions notebook runs it (strict): these tests do not
train it a second time. They check the checker's verdicts cheaply: a stub, a model without LoRA, an
untrained adapter, full fine-tuning, changed weights of adapted layers, the shipped adapter and a near
copy of it, the course's trainers, the graded examples the learner never sees, the time budget.
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
    assert out.startswith("Exercise 4: not right yet: exact match 0% on 20 examples you did not tune on, below 90%"), out


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


# ---------------------------------------------------------------- what the learner never sees, and two ways to fool it

def test_graded_examples_are_none_the_learner_tunes_on():
    """Exercise 4 is graded on a split only the checker draws: no validation or test example in it."""
    from lorakit.data.tasks import TASKS
    from lorakit.exercises.nb02 import RECORD_N_EVAL, _check_examples

    graded = _check_examples()
    assert len(graded) == RECORD_N_EVAL
    for split in ("validation", "test"):
        seen = TASKS["record"].make_split(split)
        assert not {e["context"] for e in graded} & {e["context"] for e in seen}, split
        assert not {e["id"] for e in graded} & {e["id"] for e in seen}, split


def test_graded_examples_are_unavailable_to_the_learner(capsys):
    from lorakit.exercises import nb02

    def peeks(model, tokenizer, train):
        return nb02._check_examples()          # to train on the graded examples
    assert nb02.check_finetune_record(peeks) is False
    out = capsys.readouterr().out
    assert "not right yet" in out and "_check_examples" in out, out


def _shipped_record(model):
    from peft import PeftModel
    from lorakit.studies.adapters import ADAPTERS_DIR
    return PeftModel.from_pretrained(model, str(ADAPTERS_DIR / "record"), is_trainable=True)


def test_a_near_copy_of_the_shipped_adapter_is_refused(capsys):
    from lorakit.exercises.nb02 import check_finetune_record

    def touched_up(model, tokenizer, train):
        peft_model = _shipped_record(model)
        torch.manual_seed(0)
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if "lora_" in name:
                    p.add_(1e-4 * torch.randn_like(p))
        return peft_model
    assert check_finetune_record(touched_up) is False
    out = capsys.readouterr().out
    assert "not right yet" in out and "shipped record adapter" in out, out


def test_shipped_distance_tells_a_copy_from_another_adapter():
    from peft import LoraConfig, get_peft_model
    from lorakit.exercises.nb02 import SHIPPED_DISTANCE, shipped_distance
    from lorakit.models.loading import load_model

    assert shipped_distance(_shipped_record(load_model())) == 0.0
    torch.manual_seed(0)
    fresh = get_peft_model(load_model(), LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                                    task_type="CAUSAL_LM"))
    assert shipped_distance(fresh) > SHIPPED_DISTANCE          # lora_B at zero: distance 1 at least
    other = get_peft_model(load_model(), LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    assert shipped_distance(other) is None                     # nothing of the same name and shape


@pytest.mark.parametrize("layer", ["q_proj", "down_proj"])
def test_changed_weights_of_adapted_layers_are_refused(layer, capsys):
    from peft import LoraConfig, get_peft_model
    from lorakit.exercises.nb02 import check_finetune_record

    def edits_the_base(model, tokenizer, train):
        peft_model = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
        with torch.no_grad():
            peft_model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight.mul_(3) \
                if layer == "q_proj" else peft_model.base_model.model.model.layers[1].mlp.down_proj.base_layer.weight.add_(1e-3)
        return peft_model
    assert check_finetune_record(edits_the_base) is False
    out = capsys.readouterr().out
    assert "not right yet" in out and "base weights changed" in out and f"{layer}.weight" in out, out


def test_an_untouched_lora_model_has_every_base_weight_compared():
    from peft import LoraConfig, get_peft_model
    from lorakit.exercises.nb02 import changed_base_weights
    from lorakit.models.loading import load_model

    model = load_model()
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    peft_model = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    changed, compared = changed_base_weights(peft_model, base)
    assert changed == [] and compared == len(base)
