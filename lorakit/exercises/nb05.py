"""Checkers for notebook 05 (merging and multi-adapter operations).

Exercise 1, ``linear_delta(As, Bs, scalings, weights)``: the ΔW that PEFT's ``linear`` combination
gives, from the adapters' factors (not the exact weighted sum: the factors are added first).
Exercise 2, ``route(prompt)``: the adapter name for one prompt of a mixed batch (the task whose
template the prompt uses, ``"__base__"`` for anything else), checked name by name, also on prompts
whose first line misleads (a system line before the template, a passage quoting a heading: routing
by ``prompt.startswith`` is refused there), and then, on the
shipped model, by the scores of one ``generate(..., adapter_names=...)`` call on *validation* prompts
(so the test split the notebook reports stays untouched).

Exercise 3, ``choose_merge(peft_model, tokenizer, validation)``: the real thing. The learner merges the
``qa`` and ``lookup`` adapters with PEFT's ``add_weighted_adapter``, choosing the weights (and the
combination type, density) on the *validation* examples they are given; the checker builds the choice
once and scores it on test (while the learner's function runs the test split cannot be made and the
notebook's globals holding test examples, §3's ``eval_sets``, cannot be read), next to
its own pick from a small validation grid. On the shipped model no weights keep both tasks at 80%:
the bar is the weaker task's score, within 10 points of the checker's pick.

Each checker compares with :mod:`lorakit.lora.combine` or a fresh evaluation and names the usual
slip when the answer is wrong.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from collections.abc import Callable, Iterator, Sequence

import torch

from lorakit.lora.combine import combine_linear, delta_weight
from lorakit.exercises import call, exercise, named_slip, without

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



# ---------------------------------------------------------------- exercise 3: merge weights chosen on validation

MERGE_PAIR = ("qa", "lookup")        # the pair that keeps most of both on the shipped model (measured on validation)
MERGE_N_VALIDATION = 100             # validation examples per task handed to the learner (at 40, picks with equal
                                     # validation scores landed 13 points apart on test)
MERGE_N_TEST = 100                   # test examples per task the checker scores the choice on (as §3)
MERGE_POINTS = 0.10                  # the weaker task within 10 points of the checker's own pick
# the checker's own pick comes from this grid, chosen on the same validation examples: on the shipped model cat
# and svd at weights near (0.7, 0.9) kept about half of each task on validation (40 examples a task), the most
# of any pair and type tried while writing this exercise (528 settings, weights 0.3-1.2: qa+record and qa+lookup
# with cat, svd, linear, ties, ties_svd, magnitude_prune_svd; record+lookup with cat and part of svd: at most
# about 30% on its weaker task); at weights of 1 qa keeps over 80% and lookup drops to about 10%
REFERENCE_GRID = [{"weights": [a, 0.9], "combination_type": "cat"} for a in (0.6, 0.7, 0.8)]


class TestSplitTouched(Exception):
    """Raised when the learner's function asks for a task's test split while choosing."""


class _HiddenTestExamples:
    """Stands in, while the learner's function runs, for a notebook global that holds test examples."""

    def __init__(self, name: str):
        self._name = name

    def _refuse(self, *args, **kwargs):
        raise TestSplitTouched(f"{self._name} holds test examples (the notebook scored on them): choose on the "
                               "validation examples you are given; the test split is scored once, by the checker")

    __getitem__ = __iter__ = __len__ = __contains__ = __bool__ = _refuse

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._refuse()


def _is_test_examples(value) -> bool:
    """Whether ``value`` is a prefix of a task's test split, or a dict holding one (the notebook's ``eval_sets``)."""
    from lorakit.data.tasks import TASKS

    def prefix(v, task):
        return (isinstance(v, (list, tuple)) and len(v) > 0 and isinstance(v[0], dict)
                and list(v) == TASKS[task].make_split("test", len(v)))

    if isinstance(value, dict):
        return any(t in TASKS and prefix(v, t) for t, v in value.items() if isinstance(t, str))
    return isinstance(value, (list, tuple)) and any(prefix(value, t) for t in MERGE_PAIR)


@contextlib.contextmanager
def _test_examples_hidden(fn: Callable) -> Iterator[None]:
    """While ``fn`` runs, every global of its module (the notebook) holding test examples (§3's ``eval_sets``)
    refuses to be read: :class:`TestSplitTouched`."""
    namespace = getattr(fn, "__globals__", None) or {}
    saved = [(k, v) for k, v in list(namespace.items()) if not k.startswith("_") and _is_test_examples(v)]
    for key, _ in saved:
        namespace[key] = _HiddenTestExamples(key)
    try:
        yield
    finally:
        for key, value in saved:
            namespace[key] = value


@contextlib.contextmanager
def _validation_only(fn: Callable) -> Iterator[None]:
    """While ``fn`` runs, asking any task for its ``"test"`` split raises :class:`TestSplitTouched`."""
    from lorakit.data import tasks as tasks_module

    originals = {name: task.make_split for name, task in tasks_module.TASKS.items()}

    def guarded(make_split):
        def make(split, *args, **kwargs):
            if split == "test":
                raise TestSplitTouched("choose on the validation examples you are given: the test split is "
                                       "scored once, by the checker")
            return make_split(split, *args, **kwargs)
        return make

    by_id = {id(f): guarded(f) for f in originals.values()}
    saved = []
    spaces = [getattr(fn, "__globals__", {})] + [vars(m) for n, m in list(sys.modules.items())
                                                 if m is not None and n.startswith("lorakit.data")]
    for ns in spaces:
        for key, value in list(ns.items()):
            if id(value) in by_id:
                saved.append((ns, key, value))
                ns[key] = by_id[id(value)]
    saved_tasks = dict(tasks_module.TASKS)
    for name, task in saved_tasks.items():
        tasks_module.TASKS[name] = dataclasses.replace(task, make_split=by_id[id(task.make_split)])
    try:
        yield
    finally:
        tasks_module.TASKS.update(saved_tasks)
        for ns, key, value in reversed(saved):
            ns[key] = value


def _merge_scores(peft_model, tokenizer, choice: dict, examples: dict, name: str = "exercise_3_merge") -> dict:
    """Exact match per task of ``choice`` built with ``add_weighted_adapter`` (removed again afterwards)."""
    from lorakit.studies.adapters import mean, score_tasks

    active = peft_model.active_adapter
    kwargs = {"combination_type": choice["combination_type"]}
    if choice.get("density") is not None:
        kwargs["density"] = choice["density"]
    torch.manual_seed(0)                  # the dare types drop entries at random
    peft_model.add_weighted_adapter(list(MERGE_PAIR), [float(w) for w in choice["weights"]], name, **kwargs)
    try:
        peft_model.set_adapter(name)
        return {t: mean(v) for t, v in score_tasks(peft_model, tokenizer, examples, batch_size=64).items()}
    finally:
        peft_model.set_adapter(active)
        peft_model.delete_adapter(name)


_REFERENCE: dict[int, tuple[dict, dict]] = {}


def _reference_pick(peft_model, tokenizer) -> tuple[dict, dict]:
    """The checker's own choice, the best weaker-task score of :data:`REFERENCE_GRID` on validation, and its
    test scores (computed once per model in a kernel)."""
    if id(peft_model) not in _REFERENCE:
        _REFERENCE[id(peft_model)] = _reference_pick_now(peft_model, tokenizer)
    return _REFERENCE[id(peft_model)]


def _reference_pick_now(peft_model, tokenizer) -> tuple[dict, dict]:
    from lorakit.data.tasks import TASKS

    validation = {t: TASKS[t].make_split("validation", MERGE_N_VALIDATION) for t in MERGE_PAIR}
    scored = [(min(_merge_scores(peft_model, tokenizer, c, validation).values()), i) for i, c in enumerate(REFERENCE_GRID)]
    best = REFERENCE_GRID[max(scored)[1]]
    test = {t: TASKS[t].make_split("test", MERGE_N_TEST) for t in MERGE_PAIR}
    return best, _merge_scores(peft_model, tokenizer, best, test)


def _valid_choice(choice) -> dict:
    from lorakit.lora.peft import peft_combination_types

    if not isinstance(choice, dict) or not {"weights", "combination_type"} <= set(choice):
        raise AssertionError("return a dict such as {\"weights\": [w_qa, w_lookup], \"combination_type\": \"svd\"} "
                             f"(and \"density\" for the ties, dare and magnitude_prune types), got {choice!r}")
    weights = choice["weights"]
    if (not isinstance(weights, (list, tuple)) or len(weights) != 2
            or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in weights)):
        raise AssertionError(f"weights: two numbers, one for qa and one for lookup, got {weights!r}")
    types = peft_combination_types()
    if choice["combination_type"] not in types:
        raise AssertionError(f"combination_type {choice['combination_type']!r} is not one of {types}")
    density = choice.get("density")
    needs = not choice["combination_type"] in ("linear", "cat", "svd")
    if needs and not (isinstance(density, (int, float)) and 0 < density <= 1):
        raise AssertionError(f"{choice['combination_type']} needs a density in (0, 1], got {density!r}")
    return {"weights": list(weights), "combination_type": choice["combination_type"],
            "density": density if needs else None}


@exercise(3)
def check_choose_merge(choose_merge: Callable, peft_model, tokenizer) -> str:
    """Check ``choose_merge(peft_model, tokenizer, validation) -> {"weights", "combination_type", ...}``.

    ``peft_model`` holds the shipped adapters, named after their tasks. The learner's function gets
    :data:`MERGE_N_VALIDATION` validation examples of each task of :data:`MERGE_PAIR` and cannot make
    the test split. The checker then scores the choice once on :data:`MERGE_N_TEST` test examples per
    task; done when its weaker task is within :data:`MERGE_POINTS` of the checker's own pick
    (:data:`REFERENCE_GRID`, chosen on the same validation examples).
    """
    from lorakit.data.tasks import TASKS

    validation = {t: TASKS[t].make_split("validation", MERGE_N_VALIDATION) for t in MERGE_PAIR}
    adapters_before, active = set(peft_model.peft_config), peft_model.active_adapter
    try:
        with _test_examples_hidden(choose_merge), _validation_only(choose_merge), without(choose_merge, {"the checker's own pick (_reference_pick)":
                                                                    _reference_pick, "_reference_pick_now":
                                                                    _reference_pick_now}):
            choice = call(choose_merge, peft_model, tokenizer, {t: list(v) for t, v in validation.items()})
    finally:                                   # leave the model as it was: the learner's trial adapters go
        for extra in set(peft_model.peft_config) - adapters_before:
            peft_model.delete_adapter(extra)
        peft_model.set_adapter(active)
    choice = _valid_choice(choice)
    test = {t: TASKS[t].make_split("test", MERGE_N_TEST) for t in MERGE_PAIR}
    got = _merge_scores(peft_model, tokenizer, choice, test)
    best, ref = _reference_pick(peft_model, tokenizer)
    shown = ", ".join(f"{t} {m:.0%}" for t, m in got.items())
    ref_shown = ", ".join(f"{t} {m:.0%}" for t, m in ref.items())
    if min(got.values()) < min(ref.values()) - MERGE_POINTS - 1e-9:
        weak = min(got, key=got.get)
        raise AssertionError(f"on test your merge scores {shown}: {weak} falls more than {MERGE_POINTS:.0%} below the "
                             f"checker's own validation pick, which scores {ref_shown}. Choose by the weaker task on "
                             "validation, and look between the weights where one task collapses and where the other "
                             "does (the two weights need not be equal)")
    return _done_line(choice, got, best, ref)


def _done_line(choice: dict, got: dict, best: dict, ref: dict) -> str:
    """The ✓ line: both picks and their test scores; "neither keeps both" only when that is what they show."""
    shown = ", ".join(f"{t} {m:.0%}" for t, m in got.items())
    ref_shown = ", ".join(f"{t} {m:.0%}" for t, m in ref.items())
    neither = (" Neither keeps both tasks at 80%: a mixed batch (§8) does"
               if max(min(got.values()), min(ref.values())) < 0.8 else "")
    return (f"on test your merge ({choice['combination_type']}, weights {choice['weights']}) keeps {shown}; the checker's "
            f"own validation pick ({best['combination_type']}, weights {best['weights']}): {ref_shown}.{neither}")


__all__ = ["BASE", "PREAMBLE", "EXERCISE_2_BAR", "EXERCISE_2_PER_TASK", "MERGE_PAIR", "REFERENCE_GRID", "TestSplitTouched",
           "check_choose_merge", "check_linear_delta", "check_route"]
