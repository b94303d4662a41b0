"""The LongLoRA notebook's checkers accept right answers, report stubs, and name the slip in wrong ones."""
import re

import pytest
import torch
import torch.nn.functional as F

from lorakit.exercises import nb07, set_strict
from lorakit.exercises.nb07 import (check_interpolated_angles, check_leak_free_score_flops,
                                    check_rolled_s2_attention, leak_free_flops)


@pytest.fixture(autouse=True)
def lenient():
    set_strict(False)
    yield
    set_strict(False)


def rolled(q, k, v, group_size, heads=None, direction=-1, back=True, causal=True):
    B, H, N, D = q.shape
    heads = slice(H // 2, None) if heads is None else heads
    q, k, v = (x.clone() for x in (q, k, v))
    for x in (q, k, v):
        x[:, heads] = x[:, heads].roll(direction * (group_size // 2), dims=2)

    def split(x):
        return x.reshape(B, H, N // group_size, group_size, D).transpose(1, 2).reshape(-1, H, group_size, D)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=causal)
    out = out.reshape(B, N // group_size, H, group_size, D).transpose(1, 2).reshape(B, H, N, D)
    if back:
        out[:, heads] = out[:, heads].roll(-direction * (group_size // 2), dims=2)
    return out


def leak_free(q, k, v, G):
    from lorakit.longlora import s2_attention as reference
    return reference(q, k, v, G)


def right_flops(N, G, d, H):
    plain = N // G * G * G
    shifted = (N // G - 1) * G * G + 2 * (G // 2) ** 2
    return 2 * d * (H // 2 * plain + (H - H // 2) * shifted)


def right_angles(positions, head_dim, theta, factor):
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    return positions.double()[:, None] / factor * theta ** (-2 * i / head_dim)


def test_right_answers_pass(capsys):
    assert check_rolled_s2_attention(rolled)
    assert check_leak_free_score_flops(right_flops)
    assert check_interpolated_angles(right_angles)
    out = capsys.readouterr().out
    assert out.count("✓") == 3 and "4.27x fewer" in out


@pytest.mark.parametrize("check", [check_rolled_s2_attention, check_leak_free_score_flops, check_interpolated_angles])
def test_stubs_are_not_done(check, capsys):
    assert check(lambda *args: None) is False
    assert "not done yet" in capsys.readouterr().out


def test_strict_mode_raises():
    set_strict(True)
    try:
        with pytest.raises(AssertionError):
            check_leak_free_score_flops(lambda *a: None)
    finally:
        set_strict(False)


@pytest.mark.parametrize("fn, slip", [
    (lambda q, k, v, G: rolled(q, k, v, G, heads=slice(0, 0)), "no head is shifted"),
    (lambda q, k, v, G: rolled(q, k, v, G, back=False), "not rolled back"),
    (lambda q, k, v, G: rolled(q, k, v, G, heads=slice(0, q.shape[1] // 2)), "FIRST half"),
    (lambda q, k, v, G: rolled(q, k, v, G, heads=slice(None)), "every head is shifted"),
    (lambda q, k, v, G: rolled(q, k, v, G, causal=False), "must be causal (is_causal=True)"),
    # right shifted heads, but the plain heads attend over the whole sequence: the message points at the attention
    (lambda q, k, v, G: torch.cat([F.scaled_dot_product_attention(q, k, v, is_causal=True)[:, :q.shape[1] // 2],
                                   rolled(q, k, v, G)[:, q.shape[1] // 2:]], dim=1), "the plain heads differ too"),
    (lambda q, k, v, G: __import__("lorakit.longlora", fromlist=["x"]).s2_attention(q, k, v, G), "checked against"),
    (lambda q, k, v, G: leak_free(q, k, v, G), "leak-free cut"),
    (lambda q, k, v, G: q[:, :, :4], "input's shape"),
])
def test_rolled_slips_are_named(fn, slip, capsys):
    assert check_rolled_s2_attention(fn) is False
    assert slip in capsys.readouterr().out


def test_in_place_edit_is_reported(capsys):
    def in_place(q, k, v, G):
        q[:, 2:] = q[:, 2:].roll(-G // 2, dims=2)
        return rolled(q, k, v, G)
    assert check_rolled_s2_attention(in_place) is False
    assert "in place" in capsys.readouterr().out


@pytest.mark.parametrize("fn, slip", [
    (lambda N, G, d, H: 2 * d * H * N * N, "full attention"),
    (lambda N, G, d, H: 2 * d * H * (N // G) * G * G, "G/2 tokens"),
    (lambda N, G, d, H: right_flops(N, G, d, H) // 2, "2·d FLOPs"),
    (lambda N, G, d, H: right_flops(N, G, d, H) // H, "number of heads"),
    (lambda N, G, d, H: 7, "separately"),
])
def test_flops_slips_are_named(fn, slip, capsys):
    assert check_leak_free_score_flops(fn) is False
    assert slip in capsys.readouterr().out


def test_roll_direction_does_not_matter():
    """Rolling by +G/2 or -G/2 gives the same groups in the same order (they differ by one group)."""
    q, k, v = (torch.randn(1, 4, 16, 8) for _ in range(3))
    torch.testing.assert_close(rolled(q, k, v, 4, direction=+1), rolled(q, k, v, 4, direction=-1))


def test_leak_free_flops_is_a_bit_below_the_roll():
    assert leak_free_flops(512, 128, 32, 4) < 2 * 32 * 4 * 512 * 128
    assert leak_free_flops(512, 512, 32, 4) < 2 * 32 * 4 * 512 * 512


@pytest.mark.parametrize("fn, slip", [
    (lambda p, d, t, f: right_angles(p, d, t, 1 / f), "multiplied by the factor"),
    (lambda p, d, t, f: right_angles(p, d, t, 1.0), "no interpolation"),
    (lambda p, d, t, f: p.double()[:, None] / f * t ** (-torch.arange(d // 2) / d), "-2i / head_dim"),
    (lambda p, d, t, f: p.double()[:, None] / f * t ** (2 * torch.arange(d // 2) / d), "negative exponent"),
    (lambda p, d, t, f: torch.zeros(3), "shape"),
])
def test_angle_slips_are_named(fn, slip, capsys):
    assert check_interpolated_angles(fn) is False
    assert slip in capsys.readouterr().out


# ---------------------------------------------------------------- exercise 4: extend the context yourself
# The solutions notebook trains the honest solution and passes (strict); here only the cheap verdicts.


@pytest.fixture(scope="module")
def tokenizer():
    from lorakit.models.loading import load_tokenizer

    return load_tokenizer("tiny-lm")


def _shipped(rope_parameters=None):
    from transformers import AutoConfig, AutoModelForCausalLM

    from lorakit.course.paths import TINY_LM_DIR

    config = AutoConfig.from_pretrained(TINY_LM_DIR)
    if rope_parameters:
        config.rope_parameters = {**rope_parameters, "rope_theta": config.rope_parameters["rope_theta"]}
    return AutoModelForCausalLM.from_pretrained(TINY_LM_DIR, config=config, dtype=torch.float32)


def _lora(model):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))


LINEAR_4 = {"rope_type": "linear", "factor": 4.0}


def test_extend_context_stub_and_plain_model(tokenizer, capsys):
    assert nb07.check_extend_context_yourself(lambda tok, train: None, tokenizer) is False
    assert capsys.readouterr().out.startswith("Exercise 4: not done yet: three moves")
    assert nb07.check_extend_context_yourself(lambda tok, train: _shipped(LINEAR_4), tokenizer) is False
    assert "without LoRA layers" in capsys.readouterr().out


def test_extend_context_interpolation_set_after_loading_is_named(tokenizer, capsys):
    def late(tok, train):
        model = _shipped()
        model.config.rope_parameters = {**LINEAR_4, "rope_theta": 10000.0}   # too late: inv_freq is built
        return _lora(model)
    assert nb07.check_extend_context_yourself(late, tokenizer) is False
    assert "still computes plain positions" in capsys.readouterr().out
    assert nb07.check_extend_context_yourself(lambda tok, train: _lora(_shipped({"rope_type": "linear", "factor": 2.0})),
                                              tokenizer) is False
    assert "interpolated by 2" in capsys.readouterr().out


def test_extend_context_over_budget_and_untrained(tokenizer, capsys):
    untrained = lambda tok, train: _lora(_shipped(LINEAR_4))            # noqa: E731
    assert nb07.check_extend_context_yourself(untrained, tokenizer, seconds=0.0) is False
    assert "over the budget of 0 s" in capsys.readouterr().out
    assert nb07.check_extend_context_yourself(untrained, tokenizer) is False
    out = capsys.readouterr().out
    assert "Exercise 4: not right yet: passkey accuracy 0% on 50 held-out keys at 512 tokens, below 60%" in out, out
    step = float(re.search(r"231 reference training steps of ([0-9.]+) s measured on this machine", out)[1])
    budget = float(re.search(r"budget ([0-9]+) s, 231 reference", out)[1])
    assert step > 0 and abs(budget - 231 * step) <= 231 * 0.005 + 0.5, out     # the budget is the steps times the step


def test_extend_context_held_out_keys_are_not_in_training(tokenizer):
    train, heldout = nb07._passkey_sets(tokenizer)
    assert len(train) == 200 and len(heldout) == 50
    assert not {e["key"] for e in heldout} & {e["key"] for e in train}
    assert {len(tokenizer(e["text"])["input_ids"]) + 1 for e in train + heldout} == {512}


@pytest.mark.parametrize("source, helper", [
    ("from lorakit.longlora import extend_context\n"
     "def f(tok, train):\n    m = _shipped()\n    extend_context(m, 4)\n    return _lora(m)\n", "lorakit.longlora.extend_context"),
    ("from lorakit.longlora import longlora_trainable\n"
     "def f(tok, train):\n    return longlora_trainable(_shipped(LINEAR_4))\n", "lorakit.longlora.longlora_trainable"),
    ("from lorakit.studies.longlora import load_format\n"
     "def f(tok, train):\n    return _lora(load_format(_shipped(LINEAR_4), 'x'))\n", "lorakit.studies.longlora.load_format"),
    # the held-out keys' seed is public: rebuilding them to train on is refused
    ("from lorakit.data.longdocs import passkey_split\nfrom lorakit.exercises.nb07 import HELDOUT_KEYS_SEED\n"
     "def f(tok, train):\n    passkey_split(tok, 60, 512, seed=HELDOUT_KEYS_SEED)\n    return _lora(_shipped(LINEAR_4))\n",
     "lorakit.data.longdocs.passkey_split"),
    ("import random\nfrom lorakit.data import longdocs\n"
     "def f(tok, train):\n    longdocs.passkey_document(random.Random(4242), tok, 512, 0.5)\n"
     "    return _lora(_shipped(LINEAR_4))\n", "lorakit.data.longdocs.passkey_document"),
])
def test_extend_context_course_helpers_are_refused(source, helper, tokenizer, capsys):
    namespace = {"_shipped": _shipped, "_lora": _lora, "LINEAR_4": LINEAR_4}
    exec(source, namespace)
    assert nb07.check_extend_context_yourself(namespace["f"], tokenizer) is False
    assert capsys.readouterr().out.startswith(f"Exercise 4: not right yet: your function calls {helper}")
