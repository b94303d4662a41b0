"""The reach study: reach by setting (by hand), keys inside or beyond it, the choice made on validation
only, and a toy stage 2 that trains under the setting's attention and is read with full attention."""
import pytest
import torch

from lorakit.longlora import s2_attn_enabled
from lorakit.models.loading import load
from lorakit.studies import longlora as exp
from lorakit.studies import longlora_reach as reach
from lorakit.studies.longlora_reach import SETTINGS, S2Setting

LONGLORA_TOY_OVERRIDES = dict(long_steps=3, n_long_train=6)       # read by tests/studies/conftest.py


@pytest.mark.parametrize("name, first", [("full", 0), ("g1/8", 512 - (64 + 3 * 32)), ("g1/4", 192), ("g1/2", 0),
                                         ("g1/4_noshift", 384), ("g1/2_noshift", 256), ("g1/4_layers012", 0)])
def test_reach_of_the_last_token_by_hand(name, first):
    """Half a group per layer with the shift (G + 3 G/2 through 4 layers), one group without; one
    full-attention layer reaches everything."""
    assert reach.reach_first(512, SETTINGS[name], 4, 511) == first


def test_reach_checks_its_position():
    with pytest.raises(ValueError, match="position"):
        reach.reach_first(512, SETTINGS["g1/4"], 4, 512)


def test_setting_rejects_bad_values():
    with pytest.raises(ValueError, match="group_size_ratio"):
        S2Setting(0.0)
    with pytest.raises(TypeError, match="shift"):
        S2Setting(0.25, shift="yes")
    with pytest.raises(ValueError, match="distinct"):
        S2Setting(0.25, layers=(1, 1))
    assert S2Setting(0.25, layers=[2, 0]).layers == (0, 2) and not SETTINGS["full"].s2


def test_keys_inside_and_beyond_the_reach():
    _, tokenizer, _ = load(None, quiet=True)
    config = exp.ExperimentConfig()
    examples = reach.validation_examples(tokenizer, config, n=10)            # depths 0, .25, .5, .75, 1, twice
    inside = reach.within_reach(tokenizer, examples, SETTINGS["g1/4"], 4, config.long_len)
    by_depth = {}
    for e, w in zip(examples, inside):
        by_depth.setdefault(e["depth"], set()).add(w)
    assert by_depth[0.0] == {False} and by_depth[0.25] == {False} and by_depth[1.0] == {True}
    assert all(reach.within_reach(tokenizer, examples, SETTINGS["full"], 4, config.long_len))
    q = reach.question_position(tokenizer, examples[0])
    assert config.long_len - 12 < q < config.long_len                        # the prompt ends just before the answer


def test_accuracy_by_reach():
    got = reach.accuracy_by_reach([1, 0, 1, 1, 0], [1, 1, 0, 0, 0])
    assert got == {"within": 0.5, "beyond": 2 / 3, "n_within": 2, "n_beyond": 3}
    assert reach.accuracy_by_reach([1], [1])["beyond"] is None
    with pytest.raises(ValueError, match="same length"):
        reach.accuracy_by_reach([1, 0], [1])


def test_choice_reads_validation_only():
    records = {"full": {"0": {"val_accuracy": 0.9, "test_accuracy": 0.9}},          # not an S2 setting
               "g1/4": {"0": {"val_accuracy": 0.1, "test_accuracy": 0.9}, "1": {"val_accuracy": 0.1, "test_accuracy": 0.9}},
               "g1/2": {"0": {"val_accuracy": 0.5, "test_accuracy": 0.0}, "1": {"val_accuracy": 0.4, "test_accuracy": 0.0}},
               "g1/8": {"0": {"val_accuracy": 0.4, "test_accuracy": 1.0}}}
    assert reach.choose_on_validation(records) == "g1/2"
    records["g1/8"]["0"]["val_accuracy"] = 0.45                                    # tie at 0.45: the first listed wins
    assert reach.choose_on_validation(records) == "g1/8"
    with pytest.raises(ValueError, match="no S2-Attn setting"):
        reach.choose_on_validation({"full": records["full"]})


def test_ppl_choice_reads_validation_ppl_of_shifted_settings_only():
    records = {"g1/2_noshift": {"0": {"val_ppl": 1.0, "ppl": 1.0}},                 # no shift: not a candidate
               "g1/4": {"0": {"val_ppl": 3.0, "ppl": 1.0}, "1": {"val_ppl": 3.2, "ppl": 1.0}},
               "g1/2": {"0": {"val_ppl": 3.1, "ppl": 9.0}, "1": {"val_ppl": 2.9, "ppl": 9.0}},
               "g1/8": {"0": {"val_ppl": 2.0, "ppl": 1.0}, "1": {"ppl": 1.0}}}       # a seed without val_ppl
    assert reach.SHIFTED == ("g1/8", "g1/4", "g1/2", "g1/4_layers012", "g1/4_layers123")
    assert reach.choose_on_validation_ppl(records) == "g1/2"                       # 3.0 < 3.1 (g1/4), test unread
    records["g1/4"]["1"]["val_ppl"] = 3.0                                          # tie at 3.0: the first listed wins
    assert reach.choose_on_validation_ppl(records) == "g1/4"
    with pytest.raises(ValueError, match="validation perplexity"):
        reach.choose_on_validation_ppl({"g1/2_noshift": records["g1/2_noshift"]})


def test_labels_keep_s2_attn_for_the_shift():
    assert SETTINGS["g1/2_noshift"].label == "short attention (no shift), G = N/2"
    assert SETTINGS["g1/4"].label == "S2-Attn, G = N/4, shift" and "S2" not in SETTINGS["g1/4_noshift"].label


@pytest.fixture(scope="module")
def toy(longlora_toy):
    return longlora_toy[:4]


def test_stage_two_trains_under_the_setting_and_reads_with_full_attention(toy):
    base, tokenizer, data, config = toy
    validation = reach.validation_examples(tokenizer, config, n=5)
    models = {}
    for name in ("full", "g1/4"):
        models[name], run = reach.train_setting(base, tokenizer, data, config, SETTINGS[name])
        assert run.steps == 3 and not s2_attn_enabled(models[name]) and not s2_attn_enabled(base)
    lora = lambda m: torch.cat([p.flatten() for n, p in m.named_parameters() if "lora_B" in n])
    assert (lora(models["full"]) - lora(models["g1/4"])).abs().max() > 0, "S2-Attn in training changed nothing"
    val_docs = reach.validation_documents(tokenizer, config, n=2)
    assert val_docs != data.heldout                                                  # validation documents are not test
    record = reach.evaluate_setting(models["g1/4"], tokenizer, data, validation, config, SETTINGS["g1/4"],
                                    val_docs=val_docs)
    assert len(record["val_correct"]) == len(record["test_correct"]) == len(record["within_reach"]) == 5
    assert len(record["val_doc_nll"]) == 2 and record["val_ppl"] > 1 and record["val_doc_nll"] != record["doc_nll"]
    assert "own_correct" in record and len(record["doc_nll"]) == 2 and not s2_attn_enabled(models["g1/4"])
    assert [e["key"] for e in validation] != [e["key"] for e in data.passkey_eval]   # validation is not test
    plain = reach.evaluate_setting(models["full"], tokenizer, data, None, config, SETTINGS["full"], ppl=False)
    assert set(plain) == {"test_correct", "test_accuracy", "test_by_depth", "within_reach"}


def test_reach_rows_splits_by_reach_and_window():
    """A made-up file: 4 keys at tokens 0, 200, 400, 500, the question at 506 of 512, two seeds."""
    file = {"config": {"short_len": 128, "factor": 4}, "n_layers": 4,
            "test_examples": {"key_position": [0, 200, 400, 500], "question_position": [506] * 4},
            "runs": {"g1/4": {"0": {"test_correct": [0, 1, 1, 1], "val_accuracy": 0.2},
                              "1": {"test_correct": [0, 0, 1, 0], "val_accuracy": 0.4}}}}
    rows = reach.reach_rows(file, reference_runs=[{"passkey_correct": [1, 1, 0, 1]}])
    g = rows["g1/4"]
    assert (g["reach_from"], g["window_from"]) == (192, 384)
    assert g["val"] == pytest.approx(0.3) and g["test"] == pytest.approx(0.5) and g["test_seeds"] == [0.75, 0.25]
    assert g["in_reach"] == pytest.approx(2 / 3) and g["beyond_reach"] == 0.0      # keys 200, 400, 500 vs key 0
    assert g["in_window"] == pytest.approx(0.75) and g["beyond_window"] == pytest.approx(0.25)
    assert g["between"] == pytest.approx(0.5)                                        # key 200 only: in reach, before 384
    full = rows["full"]
    assert full["val"] is None and full["reach_from"] == 0 and full["beyond_reach"] is None and full["test"] == 0.75
    assert full["between"] is None                                                   # window and reach: every key
    assert list(reach.reach_rows(file)) == ["g1/4"]
