"""Checkers for notebook 02 (LoRA fine-tuning with PEFT and TRL).

Exercise 1, ``build_labels(prompt_ids, answer_ids, eos_id)``: the ``(input_ids, labels)`` of one
training example, the prompt masked with -100 (what TRL's ``completion_only_loss`` does).
Exercise 2, ``largest_rank(config, target_modules, budget)``: the largest LoRA rank whose adapter
fits a budget of trainable parameters on a real architecture, from its ``config.json`` alone.
Exercise 3, ``adamw_state_bytes(model)``: what AdamW's state will take for a model, before training.

Each checker compares with an independent answer (lorakit's training code, a meta model, a real
optimizer after one step) and, when the answer is wrong, recognises the usual slips and names them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from lorakit.count import count_lora, load_config_dict
from lorakit.training.loop import IGNORE_INDEX
from lorakit.exercises import call, exercise

# ---------------------------------------------------------------- exercise 1: the labels

LABEL_CASES = (([11, 12, 13, 14], [21, 22], 0), ([5], [7, 8, 9], 2), ([3, 3, 4], [3], 1))


def _as_list(x, what: str) -> list[int]:
    if isinstance(x, torch.Tensor):
        if x.dim() != 1:
            raise AssertionError(f"{what} must be one flat sequence of ids, got a tensor of shape {tuple(x.shape)}")
        x = x.tolist()
    if not isinstance(x, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in x):
        raise AssertionError(f"{what} must be a list (or 1-D tensor) of ints, got {x!r}")
    return list(x)


def _label_slips(prompt: list[int], answer: list[int], eos: int) -> dict[str, tuple[list[int], list[int]]]:
    """Wrong (input_ids, labels) pairs a learner is likely to produce, keyed by what went wrong."""
    ids = prompt + answer + [eos]
    masked = [IGNORE_INDEX] * len(prompt)
    return {
        "the answer is not followed by EOS: append eos_id to both input_ids and labels, or the model "
        "never learns where to stop": (prompt + answer, masked + answer),
        "you shifted the labels by one; keep labels aligned with input_ids: the model shifts them "
        "itself (logits at position t are scored against labels[t + 1])": (ids, (masked + answer + [eos])[1:] + [IGNORE_INDEX]),
        "masked positions must be -100 (cross_entropy's ignore_index), not 0": (ids, [0] * len(prompt) + answer + [eos]),
        "you masked the answer and kept the prompt: the loss must be on the answer and EOS only":
            (ids, prompt + [IGNORE_INDEX] * (len(answer) + 1)),
        "EOS is masked: keep it in the loss, so the model learns to stop after the answer":
            (ids, masked + answer + [IGNORE_INDEX]),
        "the prompt is not masked: set its labels to -100, so the loss is on the answer only": (ids, list(ids)),
    }


@exercise(1, hint="return (input_ids, labels): the model reads the prompt, the answer and EOS; the labels say "
                  "which of those tokens the loss counts (section 5 shows one example)")
def check_build_labels(build_labels: Callable) -> str:
    """Check ``build_labels(prompt_ids, answer_ids, eos_id) -> (input_ids, labels)`` on a few cases."""
    for prompt, answer, eos in LABEL_CASES:
        got = call(build_labels, list(prompt), list(answer), eos)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(f"return a pair (input_ids, labels), got {type(got).__name__}")
        ids, labels = _as_list(got[0], "input_ids"), _as_list(got[1], "labels")
        expected = (list(prompt) + list(answer) + [eos], [IGNORE_INDEX] * len(prompt) + list(answer) + [eos])
        if (ids, labels) == expected:
            continue
        for message, wrong in _label_slips(list(prompt), list(answer), eos).items():
            if (ids, labels) == wrong:
                raise AssertionError(message)
        if len(ids) != len(labels):
            raise AssertionError(f"input_ids has {len(ids)} ids but labels has {len(labels)}: one label per input id")
        raise AssertionError(f"for prompt {prompt}, answer {answer}, eos {eos} expected {expected}, got {(ids, labels)}")
    return "labels match what lorakit.training.loop.encode_pairs and TRL's completion-only loss build"


# ---------------------------------------------------------------- exercise 2: a parameter budget

BUDGET_CASES = (
    ("HuggingFaceTB/SmolLM2-135M", "all-linear", 2_000_000),
    ("HuggingFaceTB/SmolLM2-135M", ["q_proj", "v_proj"], 1_000_000),
    ("mistralai/Mistral-7B-v0.1", ["q_proj", "k_proj", "v_proj", "o_proj"], 20_000_000),
    ("meta-llama/Llama-2-7b-hf", "all-linear", 4_194_304),
    ("Qwen/Qwen2.5-0.5B", "all-linear", 10_000_000),
)
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _per_rank(name: str, targets) -> int:
    """Trainable parameters at r = 1: the cost of one unit of rank (the count is linear in r)."""
    return count_lora(name, targets, 1).trainable


def _budget_slips(config: dict, targets, budget: int, right: int, per_rank: int) -> dict[str, int]:
    d, layers = config["hidden_size"], config["num_hidden_layers"]
    names = ALL_LINEAR if targets == "all-linear" else targets
    no_gqa = layers * sum(d + (config["intermediate_size"] if n in ("gate_proj", "up_proj", "down_proj") else d)
                          for n in names)
    return {
        "k_proj and v_proj output num_key_value_heads * head_dim features (grouped-query attention), "
        "not hidden_size": budget // no_gqa,
        "that rank does not fit: round down (budget // cost of one rank), never up": right + 1,
        "you found the rank for one layer; the adapter has a pair in every one of the num_hidden_layers layers":
            budget // (per_rank // layers),
    }


@exercise(2, hint="the count is linear in r: work out what r = 1 costs on this config, then divide the budget")
def check_largest_rank(largest_rank: Callable) -> str:
    """Check ``largest_rank(config: dict, target_modules, budget: int) -> int`` on real configs."""
    for name, targets, budget in BUDGET_CASES:
        config = load_config_dict(name)
        got = call(largest_rank, dict(config), targets if isinstance(targets, str) else list(targets), budget)
        if isinstance(got, bool) or not isinstance(got, int):
            raise AssertionError(f"return the rank as an int, got {got!r}")
        per_rank = _per_rank(name, targets)
        right = budget // per_rank
        if got == right:
            continue
        where = f"({name}, targets {targets}, budget {budget:,}: got r = {got}, expected r = {right})"
        for message, wrong in _budget_slips(config, targets, budget, right, per_rank).items():
            if got == wrong:
                raise AssertionError(f"{message} {where}")
        if got * per_rank > budget:
            raise AssertionError(f"r = {got} trains {got * per_rank:,} parameters, over the budget {where}")
        raise AssertionError(f"not the largest rank that fits {where}")
    return f"largest ranks right on {len(BUDGET_CASES)} budgets (SmolLM2, Mistral, Llama-2, Qwen2.5)"


# ---------------------------------------------------------------- exercise 3: optimizer state


def _state_cases() -> list[torch.nn.Module]:
    """A frozen base with a small trainable part, a fully trainable model, tied weights, and a
    bfloat16 model (AdamW keeps its state in each weight's dtype: 2 bytes a number there, not 4)."""
    torch.manual_seed(0)
    frozen = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Linear(16, 4, bias=False))
    frozen[0].requires_grad_(False)
    full = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    tied = torch.nn.Sequential(torch.nn.Embedding(10, 6), torch.nn.Linear(6, 10, bias=False))
    tied[1].weight = tied[0].weight
    half = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Linear(8, 3)).to(torch.bfloat16)
    half[0].requires_grad_(False)
    return [frozen, full, tied, half]


def _measured_state_bytes(model: torch.nn.Module) -> int:
    from lorakit.memory.probe import optimizer_state_bytes

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params)
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return optimizer_state_bytes(optimizer)


@exercise(3, hint="which weights get optimizer state, how many numbers AdamW keeps for each, and how many "
                  "bytes is each number? (p.requires_grad, p.numel(), p.element_size())")
def check_adamw_state_bytes(adamw_state_bytes: Callable) -> str:
    """Check ``adamw_state_bytes(model) -> int`` against AdamW's real state after one step."""
    for model in _state_cases():
        got = call(adamw_state_bytes, model)
        expected = _measured_state_bytes(model)
        if got == expected:
            continue
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        every = sum(p.numel() for p in model.parameters())
        listed = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad)
        slips = {
            "count only the trainable weights (requires_grad=True): frozen ones get no optimizer state":
                (8 * every, 4 * every),
            "that is half: AdamW keeps two tensors per trainable weight (exp_avg and exp_avg_sq), "
            "each float32 here (4 bytes)": (4 * trainable,),
            "that is the number of state entries; multiply by the bytes per entry (element_size())":
                (2 * trainable,),
            "AdamW keeps its state in each weight's own dtype: a bfloat16 weight's state takes 2 bytes a "
            "number, not 4 (use p.element_size())": (8 * trainable,),
            "a tied weight (one tensor used twice) has one state: count each tensor once": (8 * listed,),
        }
        for message, wrongs in slips.items():
            if got in wrongs:
                raise AssertionError(f"{message} (expected {expected:,} bytes, got {got:,})")
        raise AssertionError(f"expected {expected:,} bytes (AdamW's state after one step), got {got:,}")
    return "your estimate equals AdamW's state after a real step, frozen weights, tied weights and bfloat16 included"


__all__ = ["check_adamw_state_bytes", "check_build_labels", "check_largest_rank"]
