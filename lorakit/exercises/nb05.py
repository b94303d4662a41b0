"""Checkers for notebook 05 (merging and multi-adapter operations).

Exercise 1, ``linear_delta(As, Bs, scalings, weights)``: the ΔW that PEFT's ``linear`` combination
gives, from the adapters' factors (not the exact weighted sum: the factors are added first).
Exercise 2, ``route(prompt)``: the adapter name for one prompt of a mixed batch (the task whose
template the prompt uses, ``"__base__"`` for anything else), checked name by name, also on prompts
whose first line misleads (a system line before the template, a passage quoting a heading: routing
by ``prompt.startswith`` is refused there), and then, on the
shipped model, by the scores of one ``generate(..., adapter_names=...)`` call on *validation* prompts
(so the test split the notebook reports stays untouched).

Each checker compares with :mod:`lorakit.lora.combine` or a fresh evaluation and names the usual
slip when the answer is wrong.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from lorakit.lora.combine import combine_linear, delta_weight
from lorakit.exercises import call, exercise, named_slip

# ---------------------------------------------------------------- exercise 1: linear on ΔW


def _linear_case(seed: int = 0):
    """Three rank-3 adapters on a (6, 5) layer, different scalings, one negative weight."""
    gen = torch.Generator().manual_seed(seed)
    As = [torch.randn(3, 5, generator=gen) for _ in range(3)]
    Bs = [torch.randn(6, 3, generator=gen) for _ in range(3)]
    return As, Bs, [2.0, 0.5, 1.0], [0.7, -0.4, 1.2]


def _linear_slips(As, Bs, scalings, weights) -> dict[str, torch.Tensor]:
    ws = [w * s for w, s in zip(weights, scalings)]
    root = [math.sqrt(abs(x)) for x in ws]
    signed = [r * (1 if x >= 0 else -1) for r, x in zip(root, ws)]
    plain = [math.sqrt(abs(w)) * (1 if w >= 0 else -1) for w in weights]

    def factors(wa, wb):
        return sum(b * c for b, c in zip(Bs, wb)) @ sum(a * c for a, c in zip(As, wa))

    return {
        "that is the exact weighted sum Σ w_i·s_i·B_i·A_i (what `cat` gives); `linear` adds the A's and the "
        "B's first, then multiplies, so B·A also holds cross terms B_i·A_j": sum(
            delta_weight(a, b, x) for a, b, x in zip(As, Bs, ws)),
        "w_i·s_i is applied to both A_i and B_i, so it counts twice; split it, √|w_i·s_i| on each factor":
            factors(ws, ws),
        "the adapters' scalings s_i (lora_alpha / r) are missing: weight each adapter by w_i·s_i":
            factors(plain, [math.sqrt(abs(w)) for w in weights]),
        "a negative weight lost its sign: put the sign of w_i·s_i on A's factor only": factors(root, root),
        "the sign of a negative weight is on both factors, so it cancels; put it on A's factor only":
            factors(signed, signed),
    }


@exercise(1)
def check_linear_delta(linear_delta: Callable) -> str:
    """Check ``linear_delta(As, Bs, scalings, weights) -> ΔW (out, in)`` against
    :func:`lorakit.lora.combine.combine_linear` (itself tested against PEFT)."""
    As, Bs, scalings, weights = _linear_case()
    got = call(linear_delta, [a.clone() for a in As], [b.clone() for b in Bs], list(scalings), list(weights))
    if isinstance(got, (tuple, list)):
        raise AssertionError("return ΔW = B·A, one (out, in) tensor, not the factors")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"linear_delta must return a tensor, got {type(got).__name__}")
    A, B = combine_linear(As, Bs, scalings, weights)
    expected = B @ A
    if got.shape != expected.shape:
        raise AssertionError(f"ΔW has shape {tuple(got.shape)}, expected {tuple(expected.shape)} = (out, in): "
                             "B (out, r) @ A (r, in)")
    if torch.allclose(got, expected, atol=1e-5, rtol=1e-5):
        return "linear_delta equals PEFT's `linear` ΔW (cross terms and all)"
    slip = named_slip(got, _linear_slips(As, Bs, scalings, weights),
                      lambda a, b: torch.allclose(a, b, atol=1e-5, rtol=1e-5))
    if slip:
        raise AssertionError(slip)
    diff = (got - expected).abs().max().item()
    raise AssertionError(f"ΔW differs from PEFT's linear combination by up to {diff:.3g}")


# ---------------------------------------------------------------- exercise 2: route each prompt

EXERCISE_2_PER_TASK = 20     # validation prompts per task in the mixed batch
EXERCISE_2_BAR = 0.8         # exact match each task must keep in the mixed batch (shipped model)
BASE = "__base__"            # PEFT's adapter name for "no adapter" in a mixed batch


PREAMBLE = "Answer from the text below, in the format it asks for.\n\n"   # a system line a front end adds


def _routing_batch(per_task: int) -> tuple[list[str], list[str], list[dict | None]]:
    """Prompts of every task plus prompts in the pretraining format, interleaved; the right name of each."""
    from lorakit.data.corpus import own_format_prompt
    from lorakit.data.qa import make_split as qa_split
    from lorakit.data.tasks import TASKS

    rows = []
    for i in range(per_task):
        for task in TASKS.values():
            example = task.make_split("validation", per_task)[i]
            rows.append((task.format_prompt(example), task.name, example))
    plain = qa_split("validation", per_task // 4 or 1)
    rows += [(own_format_prompt(e), BASE, None) for e in plain]   # a format no adapter was trained on
    prompts, names, examples = zip(*rows)
    return list(prompts), list(names), list(examples)


def _messy_prompts() -> tuple[list[str], list[str]]:
    """Prompts a front end sends that the first line does not classify: a task prompt after a system
    line (still that task's), and a pretraining-format question whose passage opens with a task's
    heading (no adapter's format: ``"__base__"``)."""
    from ..data.corpus import own_format_prompt
    from ..data.qa import make_split as qa_split
    from ..data.tasks import TASKS

    prompts, names = [], []
    for task in TASKS.values():
        example = task.make_split("validation", 3)[2]
        prompts.append(PREAMBLE + task.format_prompt(example))
        names.append(task.name)
        heading = task.template.split("\n", 1)[0]                    # e.g. "### TABLE"
        quoted = own_format_prompt(qa_split("validation", 3)[2])
        prompts.append(f"{heading}\n{quoted}")
        names.append(BASE)
    return prompts, names


@exercise(2)
def check_route(route: Callable[[str], str], peft_model=None, tokenizer=None, shipped: bool = True,
                per_task: int = EXERCISE_2_PER_TASK) -> str:
    """Check ``route(prompt) -> adapter name``: the task's adapter for a task prompt, ``"__base__"`` else.

    The batch holds ``per_task`` validation prompts of each task in :data:`lorakit.data.tasks.TASKS`
    and some questions in the pretraining format (``Q: ... A:``), which no adapter was trained on.
    Every name must be right, also for prompts whose first line misleads (:func:`_messy_prompts`:
    routing by ``prompt.startswith(heading)`` is refused there). Then, on the shipped model with ``peft_model`` (holding one adapter per
    task, named after it), one ``generate`` call with ``adapter_names`` answers the whole batch, and
    each task must keep :data:`EXERCISE_2_BAR` exact match: what merging could not do here.
    """
    from lorakit.data.tasks import TASKS
    from lorakit.evaluate import exact_match, generate

    prompts, truth, examples = _routing_batch(per_task)
    names = [call(route, p) for p in prompts]
    wrong = [(t, n) for t, n in zip(truth, names) if n != t]
    if wrong:
        t, n = wrong[0]
        raise AssertionError(f"{len(wrong)} of {len(prompts)} prompts routed wrong, e.g. a {t!r} prompt to {n!r}")
    messy, messy_truth = _messy_prompts()
    wrong = [(p, t, n) for p, t in zip(messy, messy_truth) if (n := call(route, p)) != t]
    if wrong:
        p, t, n = wrong[0]
        raise AssertionError(
            f"the plain prompts are routed right, but {len(wrong)} of {len(messy)} prompts that do not begin "
            f"with their template are not: {p[:60]!r}... went to {n!r}, its adapter is {t!r}. How a prompt "
            "begins is not what an adapter continues (a front end may add a system line, a passage may quote "
            "a heading): look at what each template puts right before the answer")
    if peft_model is None or not shipped:
        return f"all {len(prompts) + len(messy)} prompts routed right (the scores are checked on the shipped model only)"
    replies = generate(peft_model, tokenizer, prompts, max_new_tokens=max(t.max_new_tokens for t in TASKS.values()),
                       adapter_names=names)
    scores = {}
    for reply, task, example in zip(replies, truth, examples):
        if example is not None:
            scores.setdefault(task, []).append(exact_match(reply, example["answers"]["text"]))
    means = {t: sum(v) / len(v) for t, v in scores.items()}
    shown = ", ".join(f"{t} {m:.0%}" for t, m in means.items())
    low = [t for t, m in means.items() if m < EXERCISE_2_BAR]
    if low:
        raise AssertionError(f"routed right, but in one mixed batch {shown}: {' and '.join(low)} below "
                             f"{EXERCISE_2_BAR:.0%}")
    return f"all {len(prompts) + len(messy)} prompts routed right; one mixed batch keeps every task: {shown}"


__all__ = ["BASE", "PREAMBLE", "EXERCISE_2_BAR", "EXERCISE_2_PER_TASK", "check_linear_delta", "check_route"]
