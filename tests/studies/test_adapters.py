"""lorakit.studies.adapters: the shipped adapters, training, scoring, and the helpers the merging notebook checks with."""
import json

import pytest
import torch
from peft import PeftModel

from lorakit.studies import adapters
from lorakit.studies.adapters import (RECIPE, adapter_path, combination_scores, format_score_table, max_abs_diff,
                                      mean, next_token_logits, score, train_adapter)
from lorakit.lora.peft import base_weights
from lorakit.data.tasks import TASKS
from lorakit.evaluate import generate
from lorakit.models.loading import load_model, load_tokenizer


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


@pytest.fixture(scope="module")
def shipped(tok):
    """The shipped model with the three shipped adapters, as the notebook loads them."""
    model = PeftModel.from_pretrained(load_model(), adapter_path("qa"), adapter_name="qa")
    for t in ("record", "lookup"):
        model.load_adapter(adapter_path(t), adapter_name=t)
    return model


def test_shipped_adapters_are_peft_files_of_one_recipe():
    for task in TASKS:
        path = adapter_path(task)
        config = json.loads((path / "adapter_config.json").read_text())
        assert (config["r"], config["lora_alpha"]) == (RECIPE.r, RECIPE.lora_alpha)
        assert config["base_model_name_or_path"] == "data/tiny-lm", "no machine-specific path in the config"
        size = (path / "adapter_model.safetensors").stat().st_size
        assert 100_000 < size < 1_000_000, f"{task}: {size} bytes, expected a few hundred KB"
        card = (path / "README.md").read_text()
        assert f"`{task}`" in card and "exact match" in card
    with pytest.raises(ValueError, match="unknown task"):
        adapter_path("sum")


def test_each_shipped_adapter_solves_its_task_and_the_base_does_not(shipped, tok):
    """The issue's bars, on 100 held-out test examples per task."""
    for task in TASKS:
        test = TASKS[task].make_split("test", 100)
        with shipped.disable_adapter():
            assert mean(score(shipped, tok, task, test)) <= 0.10, f"base model on {task}"
        shipped.set_adapter(task)
        assert mean(score(shipped, tok, task, test)) >= 0.80, f"{task} adapter on its own task"


def test_combination_scores_leave_the_model_as_it_was(shipped, tok):
    shipped.set_adapter("record")
    before = set(shipped.peft_config)
    evals = {"record": TASKS["record"].make_split("validation", 8)}
    out = combination_scores(shipped, tok, ["qa", "record"], [1.0, 1.0], evals,
                             {"cat": {"combination_type": "cat"}, "ties": {"combination_type": "ties", "density": 0.5}})
    assert set(out) == {"cat", "ties"} and len(out["cat"]["record"]) == 8
    assert set(shipped.peft_config) == before and shipped.active_adapter == "record"


def test_mixed_batch_routes_each_row(shipped, tok):
    prompts = [TASKS[t].format_prompt(TASKS[t].make_split("test", 1)[0]) for t in ("record", "lookup")]
    mixed = generate(shipped, tok, prompts, adapter_names=["record", "__base__"], batch_size=1)
    shipped.set_adapter("record")
    assert mixed[0] == generate(shipped, tok, prompts[:1])[0]
    with shipped.disable_adapter():
        assert mixed[1] == generate(shipped, tok, prompts[1:])[0]
    with pytest.raises(ValueError, match="one name per prompt"):
        generate(shipped, tok, prompts, adapter_names=["qa"])


def test_next_token_logits_and_base_weights(tok):
    model = load_model()
    original = model.state_dict()
    logits = next_token_logits(model, tok, ["Tom lives in", "Q: Where does Ana live? A:"])
    assert logits.shape == (2, model.config.vocab_size) and logits.dtype == torch.float32
    peft_model = PeftModel.from_pretrained(model, adapter_path("qa"))
    plain = base_weights(peft_model)
    assert set(plain) <= set(original) and all(torch.equal(v, original[k]) for k, v in plain.items())
    assert max_abs_diff(logits, logits + 1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shapes"):
        max_abs_diff(logits, logits[0])


def test_train_adapter_saves_peft_format(tok, tmp_path):
    peft_model, run = train_adapter(load_model(), tok, "record", steps=3, out_dir=tmp_path / "a")
    assert run.steps == 3 and (tmp_path / "a" / "adapter_model.safetensors").exists()
    assert peft_model.peft_config["default"].r == RECIPE.r


def test_format_score_table_rows_and_intervals():
    text = format_score_table({"base": {"qa": [0, 0], "record": [1, 1]}, "qa": {"qa": [1, 1], "record": [0, 1]}})
    lines = text.splitlines()
    assert len(lines) == 3 and "qa" in lines[0] and "record" in lines[0]
    assert lines[1].startswith("base") and "100.0% [100.0, 100.0]" in lines[1]


def test_adapters_dir_is_under_data():
    assert adapters.ADAPTERS_DIR.name == "adapters" and adapters.ADAPTERS_DIR.parent.name == "data"
