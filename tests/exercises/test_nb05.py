"""The notebook-05 checkers: ✓ for right answers, "not done yet" for the stub, the slip named for
wrong ones, and an AssertionError for anything but ✓ in strict mode (the solutions notebook)."""
import math
import re

import pytest
import torch

from lorakit import exercises
from lorakit.data.tasks import TASKS
from lorakit.exercises.nb05 import BASE, check_linear_delta, check_route


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv(exercises.STRICT_ENV, raising=False)
    monkeypatch.setattr(exercises, "_strict", None)


def line(capsys) -> str:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return out[0]


def right_linear(As, Bs, scalings, weights):
    A = sum(math.copysign(math.sqrt(abs(w * s)), w * s) * a for a, w, s in zip(As, weights, scalings))
    B = sum(math.sqrt(abs(w * s)) * b for b, w, s in zip(Bs, weights, scalings))
    return B @ A


def _factors(As, Bs, wa, wb):
    return sum(c * b for b, c in zip(Bs, wb)) @ sum(c * a for a, c in zip(As, wa))


def test_right_linear_gets_a_check_mark(capsys):
    assert check_linear_delta(right_linear) is True
    assert line(capsys).startswith("Exercise 1: ✓")


def test_placeholder_is_not_done_yet(capsys):
    assert check_linear_delta(lambda *a: None) is False
    assert line(capsys).startswith("Exercise 1: not done yet: ")
    assert check_route(lambda p: None) is False
    assert line(capsys).startswith("Exercise 2: not done yet: ")


@pytest.mark.parametrize("linear,match", [
    (lambda As, Bs, s, w: sum(x * y * (b @ a) for a, b, x, y in zip(As, Bs, s, w)), "exact weighted sum"),
    (lambda As, Bs, s, w: _factors(As, Bs, [x * y for x, y in zip(s, w)], [x * y for x, y in zip(s, w)]),
     "counts twice"),
    (lambda As, Bs, s, w: _factors(As, Bs, [math.copysign(math.sqrt(abs(y)), y) for y in w],
                                   [math.sqrt(abs(y)) for y in w]), "scalings"),
    (lambda As, Bs, s, w: _factors(As, Bs, [math.sqrt(abs(x * y)) for x, y in zip(s, w)],
                                   [math.sqrt(abs(x * y)) for x, y in zip(s, w)]), "lost its sign"),
    (lambda As, Bs, s, w: _factors(As, Bs, [math.copysign(math.sqrt(abs(x * y)), y) for x, y in zip(s, w)],
                                   [math.copysign(math.sqrt(abs(x * y)), y) for x, y in zip(s, w)]), "cancels"),
    (lambda As, Bs, s, w: (sum(As), sum(Bs)), "not the factors"),
    (lambda As, Bs, s, w: right_linear(As, Bs, s, w).T, "has shape"),
    (lambda As, Bs, s, w: right_linear(As, Bs, s, w) + 0.1, "differs"),
    (lambda As, Bs, s, w: 1 / 0, "ZeroDivisionError"),
])
def test_linear_slips_are_named(linear, match, capsys):
    assert check_linear_delta(linear) is False
    out = line(capsys)
    assert out.startswith("Exercise 1: not right yet: ") and match in out, out


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setattr(exercises, "_strict", True)
    with pytest.raises(AssertionError, match="Exercise 1: not right yet"):
        check_linear_delta(lambda As, Bs, s, w: torch.zeros(6, 5))


def right_route(prompt):
    for task in TASKS.values():
        if prompt.endswith(task.template.rsplit("}", 1)[1]):
            return task.name
    return BASE


def test_right_routing_is_checked_name_by_name(capsys):
    assert check_route(right_route, shipped=False) is True
    assert "routed right" in line(capsys)


@pytest.mark.parametrize("route,match", [
    (lambda p: "qa", "routed wrong, e.g. a 'record' prompt to 'qa'"),
    (lambda p: right_route(p) if right_route(p) != BASE else "qa", "a '__base__' prompt to 'qa'"),   # no fallback
    (lambda p: 1 / 0, "raised ZeroDivisionError"),
])
def test_routing_slips_are_named(route, match, capsys):
    assert check_route(route, shipped=False) is False
    out = line(capsys)
    assert out.startswith("Exercise 2: not right yet: ") and match in out, out


def test_routing_stub_is_not_done(capsys):
    assert check_route(lambda p: None, shipped=False) is False
    assert "not done yet" in line(capsys)


# ---------------------------------------------------------------- exercise 3: merge weights chosen on validation

from lorakit.exercises import nb05  # noqa: E402
from lorakit.exercises.nb05 import check_choose_merge  # noqa: E402


@pytest.fixture(scope="module")
def three_adapters():
    from peft import PeftModel
    from lorakit.models.loading import load
    from lorakit.studies.adapters import adapter_path

    base, tokenizer, _ = load(None, quiet=True)
    model = PeftModel.from_pretrained(base, adapter_path("qa"), adapter_name="qa")
    for t in ("record", "lookup"):
        model.load_adapter(adapter_path(t), adapter_name=t)
    return model, tokenizer


def test_choose_merge_stub_is_not_done(three_adapters, capsys):
    model, tokenizer = three_adapters
    assert check_choose_merge(lambda m, t, v: None, model, tokenizer) is False
    assert line(capsys).startswith("Exercise 3: not done yet: each weight decides")


def test_choose_merge_gets_validation_only_and_cannot_make_the_test_split(three_adapters, capsys):
    model, tokenizer = three_adapters
    seen = {}

    def peeks(peft_model, tok, validation):
        seen.update({t: len(v) for t, v in validation.items()})
        assert validation["qa"] == TASKS["qa"].make_split("validation", len(validation["qa"]))
        TASKS["lookup"].make_split("test", 10)
        return {"weights": [1, 1], "combination_type": "svd"}
    assert check_choose_merge(peeks, model, tokenizer) is False
    assert "the test split is scored once, by the checker" in line(capsys)
    assert seen == {"qa": nb05.MERGE_N_VALIDATION, "lookup": nb05.MERGE_N_VALIDATION}

    namespace = {}
    exec("from lorakit.data.qa import make_split\n"
         "def imported(peft_model, tok, validation):\n"
         "    make_split('test', 5)\n"
         "    return {'weights': [1, 1], 'combination_type': 'svd'}", namespace)
    assert check_choose_merge(namespace["imported"], model, tokenizer) is False
    assert "the test split is scored once" in line(capsys)
    assert len(TASKS["qa"].make_split("test", 3)) == 3          # restored afterwards


@pytest.mark.parametrize("answer,match", [
    ([0.7, 0.9], "return a dict"),
    ({"weights": [0.7], "combination_type": "svd"}, "two numbers"),
    ({"weights": [0.7, 0.9], "combination_type": "average"}, "is not one of"),
    ({"weights": [0.7, 0.9], "combination_type": "ties"}, "needs a density"),
])
def test_choose_merge_malformed_answers(three_adapters, answer, match, capsys):
    model, tokenizer = three_adapters
    before = set(model.peft_config)

    def leaves_a_trial(peft_model, tok, validation):
        peft_model.add_weighted_adapter(["qa", "lookup"], [1.0, 1.0], "left_over", combination_type="svd")
        return answer
    assert check_choose_merge(leaves_a_trial, model, tokenizer) is False
    out = line(capsys)
    assert re.search(match, out), out
    assert set(model.peft_config) == before and model.active_adapter == "qa"   # the trial adapter was removed


def test_choose_merge_is_graded_by_its_test_score(three_adapters, capsys):
    """Weights of 1 (the notebook's) keep qa and lose lookup (the solutions notebook shows a right pick pass)."""
    model, tokenizer = three_adapters
    assert check_choose_merge(lambda m, t, v: {"weights": [1.0, 1.0], "combination_type": "svd"}, model, tokenizer) is False
    out = line(capsys)
    assert "falls more than 10% below the checker's own validation pick, which scores qa" in out, out
    assert re.search(r"lookup \d+%", out)
    # review 04-05, finding 7: the failure names the pick's scores only, not its type or weights (copyable)
    assert "cat" not in out and "weights [" not in out and "0.9" not in out, out


def test_choose_merge_refuses_the_checkers_own_pick(three_adapters, capsys):
    model, tokenizer = three_adapters
    namespace = {}
    exec("from lorakit.exercises.nb05 import _reference_pick\n"
         "def copied(peft_model, tok, validation):\n"
         "    return _reference_pick(peft_model, tok)[0]", namespace)
    assert check_choose_merge(namespace["copied"], model, tokenizer) is False
    assert "your function calls the checker's own pick" in line(capsys)


def test_choose_merge_cannot_read_the_notebooks_test_examples(three_adapters, capsys):
    """Review 04-05, finding 8: §3's eval_sets holds the test examples; it is hidden while choose_merge runs."""
    model, tokenizer = three_adapters
    eval_sets = {t: TASKS[t].make_split("test", 20) for t in TASKS}
    namespace = {"eval_sets": eval_sets, "qa_test": eval_sets["qa"], "validation_copy": None}
    exec("from lorakit.studies.adapters import score_tasks\n"
         "def on_test(peft_model, tok, validation):\n"
         "    score_tasks(peft_model, tok, eval_sets, batch_size=64)\n"
         "    return {'weights': [1, 1], 'combination_type': 'svd'}\n"
         "def on_a_list(peft_model, tok, validation):\n"
         "    return {'weights': [len(qa_test), 1], 'combination_type': 'svd'}", namespace)
    for fn in (namespace["on_test"], namespace["on_a_list"]):
        assert check_choose_merge(fn, model, tokenizer) is False
        out = line(capsys)
        assert "holds test examples" in out and "the test split is scored once, by the checker" in out, out
    assert namespace["eval_sets"] is eval_sets and namespace["qa_test"] is eval_sets["qa"]   # restored


def test_validation_examples_are_not_hidden():
    validation = {t: TASKS[t].make_split("validation", 5) for t in TASKS}
    assert not nb05._is_test_examples(validation) and not nb05._is_test_examples(validation["qa"])
    assert nb05._is_test_examples({"qa": TASKS["qa"].make_split("test", 5)})
    assert not nb05._is_test_examples({"qa": [0.0, 1.0]}) and not nb05._is_test_examples([])


def test_the_check_mark_line_says_neither_keeps_both_only_when_true():
    """Review 04-05, finding 10: on a hub model, or with a better merge, the sentence can be false."""
    choice = {"combination_type": "svd", "weights": [0.7, 0.9]}
    best = {"combination_type": "cat", "weights": [0.7, 0.9]}
    low = nb05._done_line(choice, {"qa": 0.54, "lookup": 0.57}, best, {"qa": 0.56, "lookup": 0.48})
    assert low.endswith("Neither keeps both tasks at 80%: a mixed batch (§8) does"), low
    high = nb05._done_line(choice, {"qa": 0.85, "lookup": 0.82}, best, {"qa": 0.56, "lookup": 0.48})
    assert "Neither" not in high and "qa 85%, lookup 82%" in high, high
