"""The notebook-02 checkers accept right answers, name the slip in wrong ones, and never raise."""
import pytest
import torch

from lorakit import exercises
from lorakit.count import count_lora
from lorakit.exercises.nb02 import check_adamw_state_bytes, check_build_labels, check_largest_rank


@pytest.fixture(autouse=True)
def not_strict():
    exercises.set_strict(False)
    yield
    exercises.set_strict(False)


def right_labels(turns, eos_id):
    ids, labels = [], []
    for user, answer in turns:
        ids += user + answer + [eos_id]
        labels += [-100] * len(user) + answer + [eos_id]
    return ids, labels


def flat(turns, eos, answer_eos=True):
    """The conversation's ids, with (or without) an EOS after each answer."""
    return [t for u, a in turns for t in u + a + ([eos] if answer_eos else [])]


def right_rank(config, target_modules, budget):
    d, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    head_dim = config.get("head_dim") or d // config["num_attention_heads"]
    kv = config.get("num_key_value_heads", config["num_attention_heads"]) * head_dim
    q = config["num_attention_heads"] * head_dim          # not d for Qwen3 (16 heads x 128 against 1024)
    shapes = {"q_proj": (d, q), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (q, d),
              "gate_proj": (d, ff), "up_proj": (d, ff), "down_proj": (ff, d)}
    names = list(shapes) if target_modules == "all-linear" else target_modules
    return budget // (layers * sum(sum(shapes[n]) for n in names))


def right_state(model):
    return sum(2 * p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def test_right_answers_pass(capsys):
    assert check_build_labels(right_labels)
    assert check_largest_rank(right_rank)
    assert check_adamw_state_bytes(right_state)
    assert capsys.readouterr().out.count("✓") == 3


def test_right_labels_may_be_tensors():
    assert check_build_labels(lambda t, e: tuple(torch.tensor(x) for x in right_labels(t, e)))


@pytest.mark.parametrize("check", [check_build_labels, check_largest_rank, check_adamw_state_bytes])
def test_placeholder_says_not_done_and_does_not_raise(check, capsys):
    assert check(lambda *args: None) is False
    assert "not done yet" in capsys.readouterr().out


@pytest.mark.parametrize("build, slip", [
    (lambda t, e: (flat(t, e, False), [v for u, a in t for v in [-100] * len(u) + a]), "not followed by EOS"),
    (lambda t, e: (right_labels(t, e)[0], right_labels(t, e)[1][1:] + [-100]), "shifted"),
    (lambda t, e: (right_labels(t, e)[0], [0 if v == -100 else v for v in right_labels(t, e)[1]]), "not 0"),
    (lambda t, e: (right_labels(t, e)[0], [v for u, a in t for v in u + [-100] * (len(a) + 1)]),
     "masked the answers"),
    (lambda t, e: (right_labels(t, e)[0], [-100 if v == e else v for v in right_labels(t, e)[1]]), "EOS is masked"),
    (lambda t, e: (flat(t, e), flat(t, e)), "user turns are not masked"),
    (lambda t, e: (flat(t, e), [-100] * len(t[0][0]) + flat(t, e)[len(t[0][0]):]), "only the first user turn"),
    (lambda t, e: (right_labels(t, e)[0], right_labels(t, e)[1][:-1]), "one label per input id"),
    (lambda t, e: right_labels(t, e)[0], "pair"),
    (lambda t, e: 1 / 0, "ZeroDivisionError"),
])
def test_label_slips_are_named(build, slip, capsys):
    assert check_build_labels(build) is False
    out = capsys.readouterr().out
    assert "not right yet" in out and slip in out, out


def no_gqa_rank(config, targets, budget):
    return right_rank({**config, "num_key_value_heads": config["num_attention_heads"]}, targets, budget)


def one_layer_rank(config, targets, budget):
    return right_rank({**config, "num_hidden_layers": 1}, targets, budget)


def square_attention_rank(config, targets, budget):
    """The slip issue 23 found in the old solution: q_proj and o_proj taken as hidden_size x hidden_size."""
    d, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    head_dim = config.get("head_dim") or d // config["num_attention_heads"]
    kv = config.get("num_key_value_heads", config["num_attention_heads"]) * head_dim
    shapes = {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d),
              "gate_proj": (d, ff), "up_proj": (d, ff), "down_proj": (ff, d)}
    names = list(shapes) if targets == "all-linear" else targets
    return budget // (layers * sum(sum(shapes[n]) for n in names))


def test_the_checker_has_a_config_whose_attention_is_wider_than_hidden_size():
    from lorakit.exercises.nb02 import BUDGET_CASES, _config
    wide = [c for c in (_config(name) for name, _, _ in BUDGET_CASES)
            if c["num_attention_heads"] * (c.get("head_dim") or 0) not in (0, c["hidden_size"])]
    assert wide, "no config where num_attention_heads * head_dim != hidden_size"


@pytest.mark.parametrize("rank, slip", [
    (no_gqa_rank, "grouped-query attention"),
    (square_attention_rank, "head_dim (Qwen3)"),
    (lambda c, t, b: right_rank(c, t, b) + 1, "round down"),
    (one_layer_rank, "num_hidden_layers"),
    (lambda c, t, b: 2 * right_rank(c, t, b) + 3, "over the budget"),
    (lambda c, t, b: max(1, right_rank(c, t, b) // 2), "not the largest"),
    (lambda c, t, b: float(right_rank(c, t, b)), "as an int"),
])
def test_budget_slips_are_named(rank, slip, capsys):
    assert check_largest_rank(rank) is False
    out = capsys.readouterr().out
    assert "not right yet" in out and slip in out, out


def test_budget_cases_are_all_reachable():
    """Every case allows r >= 1, and the slips differ from the answer (else a slip would pass)."""
    from lorakit.exercises.nb02 import BUDGET_CASES, _config, _per_rank
    for name, targets, budget in BUDGET_CASES:
        config = _config(name)
        right = right_rank(config, targets, budget)
        assert right >= 1 and right == budget // _per_rank(name, targets)
        if name != "Qwen/Qwen3-0.6B":
            assert right == budget // count_lora(name, targets, 1).trainable
    for slip in (no_gqa_rank, square_attention_rank):
        assert any(slip(_config(n), t, b) != right_rank(_config(n), t, b) for n, t, b in BUDGET_CASES)


@pytest.mark.parametrize("state, slip", [
    (lambda m: sum(8 * p.numel() for p in m.parameters()), "only the trainable"),
    (lambda m: sum(4 * p.numel() for p in m.parameters() if p.requires_grad), "that is half"),
    (lambda m: sum(2 * p.numel() for p in m.parameters() if p.requires_grad), "bytes per entry"),
    (lambda m: sum(8 * p.numel() for _, p in m.named_parameters(remove_duplicate=False) if p.requires_grad), "tied"),
    (lambda m: sum(8 * p.numel() for p in m.parameters() if p.requires_grad), "own dtype"),   # 4 bytes hard-coded
    (lambda m: 12345, "expected"),
])
def test_state_slips_are_named(state, slip, capsys):
    assert check_adamw_state_bytes(state) is False
    out = capsys.readouterr().out
    assert "not right yet" in out and slip in out, out


def test_strict_mode_raises_on_a_wrong_answer():
    exercises.set_strict(True)
    with pytest.raises(AssertionError, match="Exercise 1"):
        check_build_labels(lambda t, e: (flat(t, e), flat(t, e)))

