"""Checkers refuse the shortcuts that the notebooks' own imports offer, and pass the honest solutions.

Each shortcut is written as a learner would, in a namespace holding the notebook's imports (a
notebook's functions see its globals). The test first shows the shortcut computes the right answer
when the helper is available, so the refusal is the checker's doing. The honest solutions are the
functions of notebooks/solutions/*.ipynb, run as they are written there.
"""
import json
import re
from pathlib import Path

import pytest

from lorakit import exercises
from lorakit.exercises import nb01, nb02, nb04, nb05, nb06

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def not_strict():
    exercises.set_strict(False)
    yield
    exercises.set_strict(False)


def in_notebook(source: str, name: str, **imports):
    """The function ``name`` defined by ``source`` in a fresh namespace (a notebook's globals)."""
    namespace = dict(imports)
    exec(source, namespace)
    return namespace[name]


def solution(notebook: str, name: str, **imports):
    """The function ``name`` as the solutions notebook defines it (the checker's call left out)."""
    path = next((ROOT / "notebooks" / "solutions").glob(f"{notebook}_*_solutions.ipynb"))
    for cell in json.loads(path.read_text())["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "code" and re.search(rf"^def {name}\(", src, re.M):
            src = "\n".join(line for line in src.splitlines() if not line.startswith("check_"))
            return in_notebook(src, name, **imports)
    raise AssertionError(f"no def {name} in {path}")


def line(capsys) -> str:
    return capsys.readouterr().out.strip()


# ---------------------------------------------------------------- 02 ex. 1: cell 29's formula retyped

CELL_29 = '''
def build_labels(turns, eos_id):
    prompt_ids, answer_ids = turns[0]
    return prompt_ids + answer_ids + [eos_id], [-100] * len(prompt_ids) + answer_ids + [eos_id]
'''
CELL_29_FLAT = '''
def build_labels(turns, eos_id):
    prompt_ids = [t for user, answer in turns[:-1] for t in user + answer + [eos_id]] + turns[-1][0]
    answer_ids = turns[-1][1]
    return prompt_ids + answer_ids + [eos_id], [-100] * len(prompt_ids) + answer_ids + [eos_id]
'''


@pytest.mark.parametrize("source, slip", [(CELL_29, "first turn only"), (CELL_29_FLAT, "only the last answer")])
def test_02_1_the_one_turn_formula_is_refused(source, slip, capsys):
    fn = in_notebook(source, "build_labels")
    prompt, answer, eos = [11, 12], [21], 0
    assert fn([(prompt, answer)], eos) == nb02.reference_labels([(prompt, answer)], eos)   # right on one turn
    assert nb02.check_build_labels(fn) is False
    out = line(capsys)
    assert out.startswith("Exercise 1: not right yet: ") and slip in out and "section 5" in out, out


def test_02_1_the_solution_passes(capsys):
    assert nb02.check_build_labels(solution("02", "build_labels"))
    assert "✓" in line(capsys)


# ---------------------------------------------------------------- 02 ex. 2 (and 01 ex. 2): count_lora

COUNT_LORA = '''
from transformers import AutoConfig
from lorakit.count import count_lora, meta_model

def largest_rank(config, target_modules, budget):
    return budget // count_lora(meta_model(AutoConfig.for_model(**config)), target_modules, 1).trainable
'''


def test_02_2_count_lora_on_a_meta_model_is_refused(capsys):
    fn = in_notebook(COUNT_LORA, "largest_rank")
    name, targets, budget = nb02.BUDGET_CASES[1]
    config = nb02.load_config_dict(name)
    assert fn(dict(config), list(targets), budget) == budget // nb02.count_lora(name, targets, 1).trainable
    assert nb02.check_largest_rank(fn) is False
    out = line(capsys)
    assert re.match(r"Exercise 2: not right yet: your function calls (meta_model|count_lora), which "
                    r"computes the answer for you", out), out
    assert nb02.count_lora is nb02.COUNTING_HELPERS["count_lora"]      # restored after the check
    assert fn(dict(config), list(targets), budget) > 0


def test_02_2_the_solution_passes(capsys):
    assert nb02.check_largest_rank(solution("02", "largest_rank"))
    assert "✓" in line(capsys)


def test_01_2_count_lora_is_refused_too(capsys):
    fn = in_notebook('''
from lorakit.count import count_lora
def count_lora_by_hand(config, r, target_modules):
    from transformers import AutoConfig
    from lorakit.count import meta_model
    return count_lora(meta_model(AutoConfig.for_model(**config)), target_modules, r).trainable
''', "count_lora_by_hand")
    assert nb01.check_lora_count(fn) is False
    assert re.search("calls (meta_model|count_lora)", line(capsys))
    assert nb01.check_lora_count(solution("01", "count_lora_by_hand"))


# ---------------------------------------------------------------- 04 ex. 3: the loop over estimate_footprint

ESTIMATE_LOOP = '''
from lorakit.memory.estimate import TrainingSetup, estimate_footprint

def choose_setup(model_name, gpu_gib):
    for method, optimizer in PREFERENCE:
        if estimate_footprint(model_name, TrainingSetup(method=method, optimizer=optimizer)).total <= (gpu_gib - 1) * 2**30:
            return method, optimizer
'''


def test_04_3_the_loop_over_estimate_footprint_is_refused(capsys):
    fn = in_notebook(ESTIMATE_LOOP, "choose_setup", PREFERENCE=nb04.PREFERENCE)
    name, gib = nb04.CHOICE_CASES[2]
    assert fn(name, gib) == nb04.reference_choice(name, gib)          # right, with the helper
    assert nb04.check_choose_setup(fn) is False
    out = line(capsys)
    assert out.startswith("Exercise 3: not right yet: your function calls estimate_footprint"), out
    cheat = in_notebook("from lorakit.exercises.nb04 import reference_choice\n"
                        "def choose_setup(m, g):\n    return reference_choice(m, g)", "choose_setup")
    assert nb04.check_choose_setup(cheat) is False
    assert "calls reference_choice" in line(capsys)


def test_04_3_the_solution_passes(capsys):
    assert nb04.check_choose_setup(solution("04", "choose_setup"))
    assert "✓" in line(capsys)


# ---------------------------------------------------------------- 04 ex. 4: the prediction by the estimator

PREDICT_BY_ESTIMATOR = '''
from lorakit.memory.estimate import TrainingSetup, estimate_footprint

def predict_qlora(model_name, lora_config):
    fp = estimate_footprint(model_name, TrainingSetup(r=lora_config.r, target_modules=tuple(lora_config.target_modules)))
    return {"trainable": int(fp.lora_weights) // 4, "bytes": fp.total}
'''


def test_04_4_predicting_with_estimate_footprint_is_refused(capsys):
    fn = in_notebook(PREDICT_BY_ESTIMATOR, "predict_qlora")
    assert nb04.check_my_qlora(solution("04", "my_qlora"), fn, "meta-llama/Llama-2-7b-hf") is False
    out = line(capsys)
    assert out.startswith("Exercise 4: not right yet: your function calls estimate_footprint"), out


# ---------------------------------------------------------------- 05 ex. 2: routing by the first line

STARTSWITH = '''
def route(prompt):
    for task in TASKS.values():
        if prompt.startswith(task.template.split("\\n")[0] + "\\n"):
            return task.name
    return "__base__"
'''


def test_05_2_routing_by_how_the_prompt_begins_is_refused(capsys):
    from lorakit.data.tasks import TASKS

    fn = in_notebook(STARTSWITH, "route", TASKS=TASKS)
    prompts, truth, _ = nb05._routing_batch(4)
    assert [fn(p) for p in prompts] == truth                          # right on the plain batch
    assert nb05.check_route(fn, shipped=False) is False
    out = line(capsys)
    assert out.startswith("Exercise 2: not right yet: the plain prompts are routed right") and \
        "do not begin with their template" in out, out


def test_05_2_the_solution_passes(capsys):
    from lorakit.data.tasks import TASKS

    assert nb05.check_route(solution("05", "route", TASKS=TASKS), shipped=False)
    assert "✓ all 71 prompts routed right" in line(capsys)


# ---------------------------------------------------------------- 06 ex. 1: pool_groups imported as group_sum

GROUP_SUM = '''
from lorakit.qalora import pool_groups as group_sum

def pool_groups(x, group_size):
    return group_sum(x, group_size)
'''


def test_06_1_the_imported_group_sum_is_refused(capsys):
    import torch

    fn = in_notebook(GROUP_SUM, "pool_groups")
    x = torch.randn(2, 12)
    assert torch.equal(fn(x, 4), x.unflatten(-1, (-1, 4)).sum(-1))    # right, with the helper
    assert nb06.check_pool_groups(fn) is False
    out = line(capsys)
    assert out.startswith("Exercise 1: not right yet: your function calls lorakit.qalora.pool_groups "
                          "(imported as group_sum)"), out
    assert torch.equal(fn(x, 4), x.unflatten(-1, (-1, 4)).sum(-1))    # restored after the check


def test_06_1_the_solution_passes(capsys):
    assert nb06.check_pool_groups(solution("06", "pool_groups"))
    assert "✓" in line(capsys)


def test_a_refused_shortcut_raises_in_strict_mode():
    exercises.set_strict(True)
    with pytest.raises(AssertionError, match="group_sum"):
        nb06.check_pool_groups(in_notebook(GROUP_SUM, "pool_groups"))


# ---------------------------------------------------------------- 06 ex. 4: groupwise_bits (cell 5) counts the bits

WITH_GROUPWISE_BITS = '''
from lorakit.qalora import dequantize_groupwise, groupwise_bits, quantize_groupwise

def pick_format(weights, budget):
    def error(bits, g):
        return sum((dequantize_groupwise(*quantize_groupwise(w, bits, g)) - w).pow(2).sum().item() for w in weights.values())
    fits = [(b, g) for b in (2, 3, 4) for g in (16, 32, 64, 128) if groupwise_bits(b, g, zero_bits=16) <= budget]
    return min(fits, key=lambda k: error(*k))
'''


def test_06_4_the_imported_groupwise_bits_is_refused(capsys):
    from lorakit.exercises.nb06 import _cases

    fn = in_notebook(WITH_GROUPWISE_BITS, "pick_format")
    sources, tables = _cases()
    table = tables["shipped"]
    right = min((k for k in table if table[k][0] <= 4.0), key=lambda k: table[k][1])
    assert fn(sources["shipped"], 4.0) == right                         # right, with the helper
    assert nb06.check_pick_format(fn) is False
    out = line(capsys)
    assert out.startswith("Exercise 4: not right yet: your function calls lorakit.qalora.groupwise_bits"), out


def test_06_4_the_solution_passes(capsys):
    from lorakit.qalora import dequantize_groupwise, quantize_groupwise

    fn = solution("06", "pick_format", quantize_groupwise=quantize_groupwise, dequantize_groupwise=dequantize_groupwise)
    assert nb06.check_pick_format(fn)
    assert "✓" in line(capsys)
