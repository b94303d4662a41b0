"""The notebook-01 checkers accept right answers and name the slip in wrong ones."""
import pytest
import torch

from lorakit.exercises.nb01 import check_lora_count, check_lora_forward


def right_forward(x, W, A, B, scaling):
    return x @ W.T + scaling * (x @ A.T @ B.T)


def right_count(config, r, target_modules):
    d, layers = config["hidden_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    head_dim = d // heads
    kv = config.get("num_key_value_heads", heads) * head_dim
    ff = config["intermediate_size"]
    shapes = {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d),
              "gate_proj": (d, ff), "up_proj": (d, ff), "down_proj": (ff, d)}
    return layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in target_modules)


def test_right_answers_pass(capsys):
    check_lora_forward(right_forward)
    check_lora_count(right_count)
    assert capsys.readouterr().out.count("Correct") == 2


def test_stub_raises_not_implemented():
    def stub(*args):
        raise NotImplementedError("write it")
    with pytest.raises(NotImplementedError):
        check_lora_forward(stub)
    with pytest.raises(NotImplementedError):
        check_lora_count(stub)


@pytest.mark.parametrize("forward,match", [
    (lambda x, W, A, B, s: x @ W.T, "only the base output"),
    (lambda x, W, A, B, s: x @ W.T + x @ A.T @ B.T, "missing its factor `scaling`"),
    (lambda x, W, A, B, s: s * (x @ A.T @ B.T), "only the LoRA branch"),
    (lambda x, W, A, B, s: x @ W.T + s * (x @ A @ B), "A .* = \\(r, in\\)"),
    (lambda x, W, A, B, s: (x @ W.T + s * (x @ A.T @ B.T)).sum(0), "shape"),
    (lambda x, W, A, B, s: x @ W.T + s * (x @ A.T @ B.T) + 0.1, "differs"),
    (lambda x, W, A, B, s: right_forward(x, W.add_(1) - 1, A, B, s), "in place"),
    (lambda x, W, A, B, s: (x @ W.T).tolist(), "return a tensor"),
])
def test_forward_slips_are_named(forward, match):
    with pytest.raises(AssertionError, match=match):
        check_lora_forward(forward)


def no_gqa(config, r, targets):
    return right_count({**config, "num_key_value_heads": config["num_attention_heads"]}, r, targets)


@pytest.mark.parametrize("count,match", [
    (no_gqa, "num_key_value_heads"),
    (lambda c, r, t: right_count(c, r, t) // c["num_hidden_layers"], "one layer"),
    (lambda c, r, t: right_count(c, r, t) // r, "left out the rank"),
    (lambda c, r, t: right_count(c, r, t) + 1, "wrong count for HuggingFaceTB/SmolLM2-135M"),
])
def test_count_slips_are_named(count, match):
    with pytest.raises(AssertionError, match=match):
        check_lora_count(count)


def test_full_matrix_count_is_named():
    def full(config, r, targets):
        d, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
        kv = config["num_key_value_heads"] * (d // config["num_attention_heads"])
        shapes = {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d),
                  "gate_proj": (d, ff), "up_proj": (d, ff), "down_proj": (ff, d)}
        return layers * sum(shapes[t][0] * shapes[t][1] for t in targets)
    with pytest.raises(AssertionError, match=r"r \* \(in \+ out\)"):
        check_lora_count(full)


def test_checker_does_not_trust_a_constant():
    with pytest.raises(AssertionError):
        check_lora_count(lambda c, r, t: 460_800)
    with pytest.raises(AssertionError):
        check_lora_forward(lambda x, W, A, B, s: torch.zeros(2, 3, 4))
