"""The notebook-06 checkers: right answers pass, placeholders and the usual slips are named, nothing raises."""
import pytest
import torch

from lorakit import exercises
from lorakit.exercises import nb06


@pytest.fixture(autouse=True)
def not_strict(monkeypatch):
    monkeypatch.setattr(exercises, "_strict", False)  # restored after each test


def outcome(checker, fn, capsys):
    ok = checker(fn)
    return ok, capsys.readouterr().out.strip()


# ---------------------------------------------------------------- exercise 1


def pool_right(x, group_size):
    return x.unflatten(-1, (-1, group_size)).sum(-1)


@pytest.mark.parametrize("fn,expected", [
    (lambda x, g: x.unflatten(-1, (-1, g)).mean(-1), "mean of each group"),
    (lambda x, g: x.unflatten(-1, (-1, g)).mean(-1) * (x.shape[-1] // g), "PEFT's variant"),
    (lambda x, g: x.unflatten(-1, (g, -1)).sum(-2), "strided"),
    (lambda x, g: x.unflatten(-1, (-1, g)).sum(-1, keepdim=True), "has shape"),
    (lambda x, g: x.sum(-1), "has shape"),
])
def test_pool_groups_slips(fn, expected, capsys):
    ok, line = outcome(nb06.check_pool_groups, fn, capsys)
    assert not ok and line.startswith("Exercise 1: not right yet:") and expected in line


def test_pool_groups_right_and_not_done(capsys):
    assert outcome(nb06.check_pool_groups, pool_right, capsys) == (True, "Exercise 1: ✓ pool_groups sums consecutive "
                                                                        "groups, for any leading dimensions")
    ok, line = outcome(nb06.check_pool_groups, lambda x, g: None, capsys)
    assert not ok and line.startswith("Exercise 1: not done yet:")


def test_pool_groups_in_place_is_caught(capsys):
    def in_place(x, g):
        x.mul_(1)
        x.add_(1)
        return pool_right(x, g)
    ok, line = outcome(nb06.check_pool_groups, in_place, capsys)
    assert not ok and "in place" in line


# ---------------------------------------------------------------- exercise 2


def zeros_right(zeros, scales, A, B, scaling, group_size):
    return zeros - scaling * (B @ A) / group_size / scales


@pytest.mark.parametrize("fn,expected", [
    (lambda z, s, A, B, k, g: z + k * (B @ A) / g / s, "sign is flipped"),
    (lambda z, s, A, B, k, g: z - k * (B @ A) / s, "SUM pooling"),
    (lambda z, s, A, B, k, g: z - k * (B @ A) / g * s, "you multiplied"),
    (lambda z, s, A, B, k, g: z - k * (B @ A) / g, "forgot to divide by scales"),
    (lambda z, s, A, B, k, g: z - (B @ A) / g / s, "`scaling`"),
    (lambda z, s, A, B, k, g: (z - k * (B @ A) / g / s).T, "transposed"),
    (lambda z, s, A, B, k, g: z - k * (B @ A) / g / s + 0.3, "do not reproduce"),
])
def test_merged_zeros_slips(fn, expected, capsys):
    ok, line = outcome(nb06.check_merged_zeros_mean_pool, fn, capsys)
    assert not ok and line.startswith("Exercise 2: not right yet:") and expected in line


def test_merged_zeros_right_in_place_and_not_done(capsys):
    ok, line = outcome(nb06.check_merged_zeros_mean_pool, zeros_right, capsys)
    assert ok and line.startswith("Exercise 2: ✓")

    def in_place(zeros, scales, A, B, scaling, group_size):
        zeros -= scaling * (B @ A) / group_size / scales
        return zeros
    ok, line = outcome(nb06.check_merged_zeros_mean_pool, in_place, capsys)
    assert not ok and "in place" in line
    ok, line = outcome(nb06.check_merged_zeros_mean_pool, lambda *a: None, capsys)
    assert not ok and line.startswith("Exercise 2: not done yet:")


# ---------------------------------------------------------------- exercise 3


@pytest.mark.parametrize("fn,expected", [
    (lambda o, i, r, g: min(r, o, i), "only in // group_size distinct columns"),
    (lambda o, i, r, g: min(r, i // g), "at most out_features"),
    (lambda o, i, r, g: min(i // g, o), "at most r"),
    (lambda o, i, r, g: i // g, "at most r"),
    (lambda o, i, r, g: 1, "count the distinct columns"),
    (lambda o, i, r, g: "4", "must return an int"),
])
def test_max_update_rank_slips(fn, expected, capsys):
    ok, line = outcome(nb06.check_max_update_rank, fn, capsys)
    assert not ok and line.startswith("Exercise 3: not right yet:") and expected in line


def test_max_update_rank_right_and_matches_real_updates(capsys):
    ok, line = outcome(nb06.check_max_update_rank, lambda o, i, r, g: min(r, i // g, o), capsys)
    assert ok and "✓" in line
    from lorakit.qalora import QALoRALinear
    for out, inp, r, g in [(8, 64, 16, 8), (48, 64, 8, 16), (48, 64, 8, 64), (48, 64, 2, 16)]:
        layer = QALoRALinear(torch.nn.Linear(inp, out), r, 1, g)
        torch.nn.init.normal_(layer.lora_B.weight)
        assert torch.linalg.matrix_rank(layer.delta_weight()).item() == nb06._rank(out, inp, r, g)


def test_strict_mode_raises_on_a_wrong_answer(capsys):
    exercises.set_strict(True)
    with pytest.raises(AssertionError, match="Exercise 3: not right yet"):
        nb06.check_max_update_rank(lambda o, i, r, g: 1)
    assert nb06.check_max_update_rank(lambda o, i, r, g: min(r, i // g, o)) is True


# ---------------------------------------------------------------- exercise 4: a format for a bit budget


def _formats(weights, budget, count_zero_bits=16, fits=lambda bpw, budget: bpw <= budget, code_bits=None,
             scale_bits=16):
    """pick_format, written with a choice of slip: the zero points' bits, how the budget is compared, the bits
    counted per code (None: b) and per scale (and zero, when count_zero_bits follows it); None if nothing fits."""
    from lorakit.qalora import dequantize_groupwise, quantize_groupwise

    best = None
    for bits in (2, 3, 4):
        for g in (16, 32, 64, 128):
            stored = n = 0
            error = 0.0
            for w in weights.values():
                codes, scales, zeros = quantize_groupwise(w, bits, g)
                zero_bits = bits if count_zero_bits is None else count_zero_bits
                stored += codes.numel() * (code_bits or bits) + scale_bits * scales.numel() + zero_bits * zeros.numel()
                n += w.numel()
                error += (dequantize_groupwise(codes, scales, zeros) - w).pow(2).sum().item()
            if fits(stored / n, budget) and (best is None or error < best[0]):
                best = (error, bits, g)
    return None if best is None else (best[1], best[2])


def test_pick_format_right_answer_and_its_types(capsys):
    ok, line = outcome(nb06.check_pick_format, _formats, capsys)
    assert ok, line
    assert line == ("Exercise 4: ✓ you picked what the checker measured: shipped model within 4.0: INT3, groups of 32; "
                    "shipped model within 4.7: INT4, groups of 64; outlier layer within 5.0: INT3, groups of 16")
    ok, line = outcome(nb06.check_pick_format, lambda w, b: list(map(torch.tensor, _formats(w, b))), capsys)
    assert ok, line


@pytest.mark.parametrize("fn,expected", [
    (lambda w, b: _formats(w, b, count_zero_bits=None), "over the budget of 4.7: a merged QA-LoRA model's zero points"),
    # scales and zeros counted at their in-memory float32 width: named first (at 4.0 it is also the `<` pick)
    (lambda w, b: _formats(w, b, count_zero_bits=32, scale_bits=32),
     "budget of 4.0 bits per weight: count 16 bits per scale and per zero: float32 is how"),
    # codes counted at their in-memory uint8 width: nothing fits; returning None or failing is named, not "not done"
    (lambda w, b: _formats(w, b, code_bits=8), "returned None at a budget of 4.0 bits per weight, but answers (4, 16) "
                                               "at 64: it found no format within 4.0"),
    (lambda w, b: _formats(w, b, code_bits=8)[0:2], "raised TypeError: 'NoneType' object is not subscriptable at a "
                                                    "budget of 4.0"),
    (lambda w, b: _formats(w, b, code_bits=8), "uint8 is how the codes are kept in memory"),
    (lambda w, b: _formats(w, b, fits=lambda bpw, budget: bpw < budget), "(<=, not <)"),
    (lambda w, b: max(((x, g) for x in (2, 3, 4) for g in (16, 32, 64, 128) if x + 32 / g <= b),
                      key=lambda k: (k[0], -k[1])), "layer with outliers"),
    (lambda w, b: (4, 16), "its share of its group's scale and zero point"),
    (lambda w, b: (2, 16), "INT2 in groups of 16 fits (4.000 bits)"),
    (lambda w, b: (5, 32), "not one of the candidates"),
    (lambda w, b: 4, "a pair of ints"),
    (lambda w, b: (3.5, 32), "a pair of ints"),
    # the three named cases hard-coded: the unannounced fourth case (a random budget) catches it
    (lambda w, b: {4.0: (3, 32), 4.7: (4, 64), 5.0: (3, 16)}[b], "raised KeyError"),
    (lambda w, b: {4.0: (3, 32), 4.7: (4, 64), 5.0: (3, 16)}.get(b, (2, 128)), "another layer with outliers"),
])
def test_pick_format_slips(fn, expected, capsys):
    ok, line = outcome(nb06.check_pick_format, fn, capsys)
    assert not ok and line.startswith("Exercise 4: not right yet:") and expected in line, line


def test_pick_format_extra_case_is_drawn_afresh():
    import random

    cases = [nb06._extra_case(random.Random(seed)) for seed in range(20)]
    budgets = [b for _, b in cases]
    assert all(3.5 <= b <= 5.0 and b not in (4.0, 4.7, 5.0) for b in budgets) and len(set(budgets)) > 10
    first, second = cases[0][0]["layer"], cases[1][0]["layer"]
    assert first.shape == second.shape == (256, 512) and not torch.equal(first, second)
    assert not torch.equal(first, nb06._outlier_weights()["outliers"])
    assert not torch.equal(nb06._extra_case()[0]["layer"], nb06._extra_case()[0]["layer"])   # unseeded: a fresh draw


def test_pick_format_stub_and_in_place_change(capsys):
    ok, line = outcome(nb06.check_pick_format, lambda w, b: None, capsys)
    assert not ok and line.startswith("Exercise 4: not done yet: a budget of bits per weight")

    def in_place(weights, budget):
        for w in weights.values():
            w.zero_()
        return 3, 32
    ok, line = outcome(nb06.check_pick_format, in_place, capsys)
    assert not ok and "changed the weights" in line
