"""The notebook-01 checkers: ✓ for right answers, "not done yet" for the stub, the slip named for
wrong ones, and an AssertionError for anything but ✓ in strict mode (the solutions notebook)."""
import re

import pytest

from lorakit import exercises
import torch

from lorakit.exercises.nb01 import MERGE_CONFIGS, check_lora_count, check_lora_macs, check_merge_by_hand


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv(exercises.STRICT_ENV, raising=False)
    monkeypatch.setattr(exercises, "_strict", None)


def right_macs(tokens, d_in, d_out, r):
    return tokens * (d_in * r + r * d_out), d_out * r * d_in + tokens * d_in * d_out


def right_count(config, r, target_modules):
    d, layers = config["hidden_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    head_dim = d // heads
    kv = config.get("num_key_value_heads", heads) * head_dim
    ff = config["intermediate_size"]
    shapes = {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d),
              "gate_proj": (d, ff), "up_proj": (d, ff), "down_proj": (ff, d)}
    return layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in target_modules)


def stub(*args):
    return None


def line(capsys) -> str:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return out[0]


def test_right_answers_get_a_check_mark(capsys):
    assert check_lora_macs(right_macs) is True
    assert line(capsys).startswith("Exercise 1: ✓ one token through a 4096 x 4096 layer at r = 8: 65,536")
    assert check_lora_count(right_count) is True
    assert line(capsys).startswith("Exercise 2: ✓")


@pytest.mark.parametrize("checker,number", [(check_lora_macs, 1), (check_lora_count, 2), (check_merge_by_hand, 3)])
def test_placeholder_is_not_done_yet(checker, number, capsys):
    assert checker(stub) is False
    assert line(capsys).startswith(f"Exercise {number}: not done yet: ")


@pytest.mark.parametrize("macs,match", [
    (lambda T, i, o, r: right_macs(T, i, o, r)[::-1], "swapped"),
    (lambda T, i, o, r: (r * (i + o), right_macs(T, i, o, r)[1]), "multiply by `tokens`"),
    (lambda T, i, o, r: (right_macs(T, i, o, r)[0], T * i * o), "forming ΔW = B·A is a matmul too"),
    (lambda T, i, o, r: (right_macs(T, i, o, r)[0], o * r * i), "still multiply every token"),
    (lambda T, i, o, r: (T * i * r * o, right_macs(T, i, o, r)[1]), "add, .* not multiply"),
    (lambda T, i, o, r: (right_macs(T, i, o, r)[0] + 1, right_macs(T, i, o, r)[1]), "wrong count"),
    (lambda T, i, o, r: 7, "two numbers"),
    (lambda T, i, o, r: 1 / 0, "raised ZeroDivisionError"),
])
def test_macs_slips_are_named(macs, match, capsys):
    assert check_lora_macs(macs) is False
    text = line(capsys)
    assert text.startswith("Exercise 1: not right yet: ")
    assert re.search(match, text), text


def no_gqa(config, r, targets):
    return right_count({**config, "num_key_value_heads": config["num_attention_heads"]}, r, targets)


def full_matrices(config, r, targets):
    d, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    kv = config["num_key_value_heads"] * (d // config["num_attention_heads"])
    shapes = {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d),
              "gate_proj": (d, ff), "up_proj": (d, ff), "down_proj": (ff, d)}
    return layers * sum(shapes[t][0] * shapes[t][1] for t in targets)


@pytest.mark.parametrize("count,match", [
    (no_gqa, "num_key_value_heads"),
    (lambda c, r, t: right_count(c, r, t) // c["num_hidden_layers"], "one layer"),
    (lambda c, r, t: right_count(c, r, t) // r, "left out the rank"),
    (full_matrices, r"r \* \(in \+ out\)"),
    (lambda c, r, t: right_count(c, r, t) + 1, "wrong count .*SmolLM2-135M"),
    (lambda c, r, t: 460_800, "wrong count"),   # a constant cannot pass
])
def test_count_slips_are_named(count, match, capsys):
    assert check_lora_count(count) is False
    text = line(capsys)
    assert text.startswith("Exercise 2: not right yet: ")
    assert re.search(match, text), text


def test_count_refuses_building_the_model(capsys):
    """§6's route (a model on the meta device, then summing r·(in + out)) is a shortcut here."""
    def via_meta_model(config, r, targets):
        import transformers
        raw = dict(config)
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**raw))
        chosen = set(targets)
        return sum(r * (m.in_features + m.out_features) for n, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in chosen)

    assert check_lora_count(via_meta_model) is False
    assert "building the model" in line(capsys)
    from transformers import LlamaConfig, LlamaForCausalLM
    LlamaForCausalLM(LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 vocab_size=32))   # restored after the check
    assert check_lora_count(right_count) is True


def test_count_message_formats_both_numbers_alike(capsys):
    assert check_lora_count(lambda c, r, t: right_count(c, r, t) + 1) is False
    text = line(capsys)
    found = re.search(r"got (\S+), expected (\S+)\)", text)
    assert found, text
    got, expected = (int(v.replace(",", "")) for v in found.groups())
    assert got == expected + 1 and found.group(1) == f"{got:,}" and found.group(2) == f"{expected:,}", text


def test_strict_mode_raises_on_anything_but_a_check_mark(capsys):
    exercises.set_strict(True)
    with pytest.raises(AssertionError, match="not done yet"):
        check_lora_macs(stub)
    with pytest.raises(AssertionError, match="grouped-query attention"):
        check_lora_count(no_gqa)
    assert check_lora_count(right_count) is True


# ---------------------------------------------------------------- exercise 3: merging a PEFT adapter by hand


def lora_layers_of(peft_model):
    """(name in the plain model, PEFT LoRA layer) pairs."""
    return [(name.removeprefix("base_model.model."), m) for name, m in peft_model.named_modules()
            if hasattr(m, "lora_A") and "default" in m.lora_A]


def merge_with(scale, transpose=False, only=None):
    """A merge by hand that adds ``scale(layer, config) * B @ A`` (a slip picks another scale)."""
    def merge_by_hand(peft_model, base):
        config = peft_model.peft_config["default"]
        for name, m in lora_layers_of(peft_model):
            if only and not name.endswith(only):
                continue
            update = m.lora_B["default"].weight @ m.lora_A["default"].weight
            with torch.no_grad():
                base.get_submodule(name).weight += scale(m, config) * (update.T if transpose else update)
        return base
    return merge_by_hand


right_merge = merge_with(lambda m, c: m.scaling["default"])


def test_right_merge_gets_a_check_mark(capsys):
    assert check_merge_by_hand(right_merge) is True
    text = line(capsys)
    assert text.startswith("Exercise 3: ✓ your merge gives PEFT's merge_and_unload logits"), text
    assert f"on {len(MERGE_CONFIGS)} configs" in text


def peft_merge(peft_model, base):
    return peft_model.merge_and_unload()


def peft_delta(peft_model, base):
    for name, m in lora_layers_of(peft_model):
        with torch.no_grad():
            base.get_submodule(name).weight += m.get_delta_weight("default")
    return base


def lorakit_merge(peft_model, base):
    from lorakit.lora import merge_and_unload
    return merge_and_unload(peft_model)


def lora_left_in(peft_model, base):
    right_merge(peft_model, base)
    return peft_model.get_base_model()


def merged_into_peft_model(peft_model, base):
    """Folds the updates into PEFT's own base layers and returns the PEFT model: counted twice."""
    for name, m in lora_layers_of(peft_model):
        with torch.no_grad():
            m.base_layer.weight += m.scaling["default"] * (m.lora_B["default"].weight @ m.lora_A["default"].weight)
    return peft_model


def merge_without_no_grad(peft_model, base):
    for name, m in lora_layers_of(peft_model):
        base.get_submodule(name).weight += m.scaling["default"] * (m.lora_B["default"].weight @ m.lora_A["default"].weight)
    return base


@pytest.mark.parametrize("merge,match", [
    (merge_with(lambda m, c: 1.0), r"the update is scaled: .*r=8, lora_alpha=16, target_modules=\['q_proj'"),
    (merge_with(lambda m, c: c.lora_alpha / c.r), r"use_rslora=True the scaling is lora_alpha / sqrt\(r\)"),
    (merge_with(lambda m, c: c.lora_alpha / (c.r ** 0.5 if c.use_rslora else c.r)), "rank_pattern and alpha_pattern"),
    (merge_with(lambda m, c: -m.scaling["default"]), "you subtracted it"),
    (merge_with(lambda m, c: 2 * m.scaling["default"]), "added the update twice"),
    (merge_with(lambda m, c: m.scaling["default"], transpose=True), "its transpose"),
    (merge_with(lambda m, c: m.scaling["default"], only="q_proj"), r"1 of 2|adapted layers were not merged"),
    (merge_with(lambda m, c: 1.01 * m.scaling["default"]), "other logits than PEFT merge_and_unload"),
    (peft_merge, "calls PEFT's merge_and_unload"),
    (peft_delta, "calls PEFT's get_delta_weight"),
    (lorakit_merge, r"calls lorakit\.lora\.merge_and_unload"),
    (lora_left_in, r"with its LoRA layers and nothing merged .*return `base`, a plain model"),
    (lambda p, b: p, r"with its LoRA layers and nothing merged .*return `base`, a plain model"),
    (merged_into_peft_model, r"still has LoRA layers .*adds the update a second time"),
    (merge_without_no_grad, r"wrap the in-place update in `with torch.no_grad\(\):`"),
    (lambda p, b: 3, "return the plain model"),
])
def test_merge_slips_and_shortcuts_are_named(merge, match, capsys):
    assert check_merge_by_hand(merge) is False
    text = line(capsys)
    assert text.startswith("Exercise 3: not right yet: "), text
    assert re.search(match, text), text


def test_peft_merges_are_restored_after_the_check(capsys):
    from peft.tuners.lora.layer import Linear
    from peft.tuners.tuners_utils import BaseTuner

    before = (BaseTuner.merge_and_unload, Linear.get_delta_weight)
    assert check_merge_by_hand(peft_merge) is False
    assert (BaseTuner.merge_and_unload, Linear.get_delta_weight) == before
    line(capsys)
