"""The notebook-04 checkers accept right answers, say "not done" for stubs, and name the slip in wrong ones."""
import pytest

import torch

from lorakit.count import meta_model
from lorakit.exercises import set_strict
from lorakit.exercises.nb04 import (PREFERENCE, check_choose_setup, check_paged_bytes, check_qlora_bytes)


@pytest.fixture(autouse=True)
def strict():
    set_strict(True)
    yield
    set_strict(False)


def right_qlora(n_quantized, n_other, n_lora):
    return {"base_weights": n_quantized * (4 + 8 / 64 + 32 / (64 * 256)) / 8 + 2 * n_other,
            "lora_weights": 4 * n_lora, "gradients": 4 * n_lora, "optimizer_states": 8 * n_lora}


def right_paged(numels, optimizer):
    per_value = 1 if optimizer == "paged_adamw_8bit" else 4
    return sum(2 * n * (per_value if n >= 4096 else 4) for n in numels if n >= 1e5)


def right_choice(name, gib):
    """By hand, as the solutions notebook does: no estimate_footprint (the checker refuses it)."""
    model = meta_model(name)
    n = sum(p.numel() for p in model.parameters())
    linears = [m for k, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "lm_head" not in k]
    n_q = sum(m.weight.numel() for m in linears)
    n_lora = sum(64 * (m.in_features + m.out_features) for m in linears)
    nf4 = n_q * (4 + 8 / 64 + 32 / (64 * 256)) / 8 + 4 * (n - n_q)
    need = [12 * n, 6 * n, 2 * n + 16 * n_lora, 2 * n + 10 * n_lora, nf4 + 16 * n_lora, nf4 + 10 * n_lora]
    return next(option for option, b in zip(PREFERENCE, need) if b <= gib * 2**30)


def test_right_answers_pass(capsys):
    assert check_qlora_bytes(right_qlora)
    assert check_paged_bytes(right_paged)
    assert check_choose_setup(right_choice)
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("check", [check_qlora_bytes, check_paged_bytes, check_choose_setup])
def test_stubs_are_not_done(check, capsys):
    set_strict(False)
    assert check(lambda *args: None) is False
    assert "not done yet" in capsys.readouterr().out


def _with(part, fn):
    def answer(n_quantized, n_other, n_lora):
        got = right_qlora(n_quantized, n_other, n_lora)
        got[part] = fn(n_quantized, n_other, n_lora)
        return got
    return answer


@pytest.mark.parametrize("answer,match", [
    (_with("base_weights", lambda q, o, n: q / 2 + 2 * o), "forgets the block scales"),
    (_with("base_weights", lambda q, o, n: q * 4.5 / 8 + 2 * o), "4.5 bits"),
    (_with("base_weights", lambda q, o, n: q * 4.127 + 16 * o), "those are bits"),
    (_with("base_weights", lambda q, o, n: q * 4.127 / 8), "stay in 16 bits"),
    (_with("lora_weights", lambda q, o, n: 2 * n), "float32"),
    (_with("gradients", lambda q, o, n: 4 * (q + o + n)), "only trainable weights"),
    (_with("optimizer_states", lambda q, o, n: 4 * n), "TWO float32 states"),
    (_with("optimizer_states", lambda q, o, n: 2 * n), "8-bit AdamW"),
    (_with("optimizer_states", lambda q, o, n: 8 * (q + o + n)), "only the trainable"),
    (lambda q, o, n: {"base": 1}, "exactly the keys"),
    (_with("gradients", lambda q, o, n: 3 * n), "expected"),
])
def test_qlora_slips(answer, match):
    wrapped = (lambda n_quantized, n_other, n_lora: answer(n_quantized, n_other, n_lora))
    with pytest.raises(AssertionError, match=match):
        check_qlora_bytes(wrapped)


@pytest.mark.parametrize("answer,match", [
    (lambda numels, opt: sum(2 * n * (1 if opt.endswith("8bit") and n >= 4096 else 4) for n in numels),
     "never paged"),
    (lambda numels, opt: sum(8 * n for n in numels if 4 * n >= 1e5), "not bytes"),
    (lambda numels, opt: right_paged(numels, opt) // 2, "two states"),
    (lambda numels, opt: right_paged(numels, opt) + 1, "expected"),
])
def test_paged_slips(answer, match):
    with pytest.raises(AssertionError, match=match):
        check_paged_bytes(answer)


def test_paged_8bit_scales_slip():
    import math

    def with_scales(numels, opt):
        extra = sum(8 * math.ceil(n / 256) for n in numels if n >= 1e5) if opt == "paged_adamw_8bit" else 0
        return right_paged(numels, opt) + extra
    with pytest.raises(AssertionError, match="never paged"):
        check_paged_bytes(with_scales)


@pytest.mark.parametrize("answer,match", [
    (lambda name, gib: ("full", "adamw_32bit"), "does not fit"),
    (lambda name, gib: ("qlora", "paged_adamw_8bit"), "closer to full fine-tuning"),
    (lambda name, gib: "qlora", "tuple"),
    (lambda name, gib: ("dora", "sgd"), "not one of the options"),
])
def test_choice_slips(answer, match):
    with pytest.raises(AssertionError, match=match):
        check_choose_setup(answer)
