"""Hints come in steps (the idea first, the solutions notebook last) and never hold the answer's code.

The answer's code is read from the solutions notebooks: every statement line of each solution
function, and every formula-like expression in it (arithmetic, comparisons, calls with arguments).
"""
import ast
import json
import re
from pathlib import Path

import pytest

from lorakit import exercises
from lorakit.exercises import registered, set_strict, step_text
from lorakit.exercises.nb03 import check_scale_index

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[1-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*_solutions.ipynb"))
FORMULA_NODES = (ast.BinOp, ast.BoolOp, ast.Compare, ast.Subscript)


def _cells(path: Path):
    nb = json.loads(path.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _answer_code() -> dict[str, set[str]]:
    """checker name -> code fragments of its solution (whitespace removed)."""
    found: dict[str, set[str]] = {}
    for path in SOLUTIONS:
        for cell in _cells(path):
            src = _source(cell)
            checkers = re.findall(r"^(check_\w+)\(", src, re.M)
            if not checkers:
                continue
            tree = ast.parse(src)
            fragments = set()
            for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
                for stmt in fn.body:
                    if not isinstance(stmt, ast.Expr):          # docstrings are not code
                        fragments.add(_squash(ast.get_source_segment(src, stmt)))
                for node in ast.walk(fn):
                    if isinstance(node, FORMULA_NODES) or (isinstance(node, ast.Call) and node.args):
                        fragments.add(_squash(ast.get_source_segment(src, node)))
            for name in checkers:
                found.setdefault(name, set()).update(f for f in fragments if len(f) >= 8)
    return found


ANSWERS = _answer_code()


@pytest.fixture(autouse=True)
def not_strict():
    set_strict(False)
    yield
    set_strict(False)


def test_every_solved_exercise_is_registered():
    assert {f"check_{e.name}" for e in registered()} == set(ANSWERS)


@pytest.mark.parametrize("ex", registered(), ids=lambda e: e.key)
def test_steps_end_in_the_solution_link(ex):
    assert len(ex.steps) >= 2, "at least the idea and the solution"
    assert ex.steps[-1] == f"the solution, explained: {exercises.solution_link(ex.notebook)}"
    assert (ROOT / exercises.solution_link(ex.notebook)).is_file()
    for step in ex.steps[:-1]:
        assert "solutions" not in step


# The formula's key expression, written as a hint would spell it (the solutions' markdown), per checker:
# extraction finds the solution's code, these find the same formula in words and symbols.
KEY_EXPRESSIONS = {
    "check_lora_macs": ["T·in·r", "r·(in+out)", "tokens*r*(d_in+d_out)"],
    "check_lora_count": ["r*(in+out)", "r·(in+out)"],
    "check_merge_by_hand": ["B@A", "scaling[", "removeprefix("],
    "check_build_labels": ["[-100]*len(", "+[eos"],
    "check_largest_rank": ["budget//", "r=1costs"],
    "check_adamw_state_bytes": ["2*p.numel()", "8bytes"],
    "check_finetune_record": ["max_steps=", "learning_rate=", "SFTConfig(output_dir"],
    "check_absmax_in_sigmas": ["(1+0.5**", "2Φ(", "=1/2", "(2Phi"],
    "check_scale_index": ["row*n_cols+col", "//blocksize"],
    "check_storage_bytes": ["ceil(numel", "numel/2"],
    "check_outlier_errors": ['quant_type="nf4"', "//blocksize*blocksize", ".pow(2).sum("],
    "check_qlora_bytes": ["4.127", "4+8/64"],
    "check_paged_bytes": ["2*n*"],
    "check_choose_setup": ["estimate_footprint("],
    "check_my_qlora": ["4.127", "4+8/64", "get_peft_model(meta_model", "16*n_lora", "4*n_other"],
    "check_linear_delta": ["√|w", "sqrt(abs("],
    "check_route": ["startswith(", "endswith("],
    "check_choose_merge": ["(0.7,0.8)", "(0.8,0.9)", "[0.7,0.9]", "min(mean(", "add_weighted_adapter(["],
    "check_pool_groups": ["(in//group_size,group_size)", "unflatten(", ".sum("],
    "check_merged_zeros_mean_pool": ["/group_size/scales", "s·(B·A)[j,l]/group_size", "zeros-"],
    "check_max_update_rank": ["min(r,", "in//group_size"],
    "check_pick_format": ["32/g", "b+32", "16*(scales", "bits+(16"],
    "check_rolled_s2_attention": ["-group_size//2", "[H//2:]", "(B*N//G,H,G,D)"],
    "check_interpolated_angles": ["m/factor", "theta**(-2"],
    "check_leak_free_score_flops": ["N/G-1", "2·d", "G/2"],
    "check_extend_context_yourself": ["rope_parameters=", "\"factor\":4", "[-100]*len(", "PeftModel.from_pretrained"],
}


def _leaks(checker: str, text: str) -> list[str]:
    squashed = _squash(text)
    return [f for f in ANSWERS.get(checker, set()) | set(KEY_EXPRESSIONS[checker]) if f in squashed]


@pytest.mark.parametrize("ex", registered(), ids=lambda e: e.key)
def test_no_hint_holds_the_answers_code(ex):
    name = f"check_{ex.name}"
    assert ANSWERS[name], "the solution's code was found"
    for step in ex.steps[:-1]:
        assert not _leaks(name, step), f"hint {step!r} holds the answer's code {_leaks(name, step)}"


def test_the_check_catches_the_hints_that_gave_the_answer_away():
    """The committed hints the issue named (07's formula, 06's reshape, 04's loop) fail the check."""
    old = {"check_interpolated_angles": "angle[m, i] = (m / factor) * theta ** (-2 i / head_dim)",
           "check_pool_groups": "view the last axis as (in // group_size, group_size) and sum over the group axis",
           "check_choose_setup": "return the first (method, optimizer) whose estimate_footprint(...).total fits",
           "check_scale_index": "the block is (row * n_cols + col) // blocksize"}
    for name, hint in old.items():
        assert _leaks(name, hint), name


def stub(row, col, n_cols, blocksize):
    return None


def other_stub(row, col, n_cols, blocksize):
    x = 1
    return None


def test_the_same_stub_again_shows_the_next_step_then_stays_on_the_last(capsys):
    ex = check_scale_index.exercise
    for _ in range(len(ex.steps) + 1):
        check_scale_index(stub)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Exercise 2: not done yet: {step_text(ex, k)}" for k in (1, 2, 3, 3)]
    assert "hint 1 of 3: run the cell again for the next" in lines[0]
    assert lines[-1].endswith("(hint 3 of 3)") and "solutions/03_nf4_solutions.ipynb" in lines[-1]


def test_a_changed_stub_keeps_its_step_and_hint_advances(capsys):
    check_scale_index(stub)
    check_scale_index(other_stub)          # changed: the same step again
    exercises.hint(3, 2)                   # asked: the next one
    lines = capsys.readouterr().out.splitlines()
    ex = check_scale_index.exercise
    assert lines[0] == lines[1] == f"Exercise 2: not done yet: {step_text(ex, 1)}"
    assert lines[2] == f"Exercise 2, {step_text(ex, 2, 'call hint again for the next')}"
    with pytest.raises(ValueError, match="no exercise 9 in notebook 3"):
        exercises.hint(3, 9)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_not_done_lines_are_the_first_step(path):
    """Each exercise cell's committed output is exactly what its checker prints for the stub."""
    by_name = {f"check_{e.name}": e for e in registered() if e.notebook == int(path.name[:2])}
    seen = set()
    for cell in _cells(path):
        for name in re.findall(r"^(check_\w+)\(", _source(cell), re.M):
            ex = by_name[name]
            text = "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")
            assert f"Exercise {ex.number}: not done yet: {step_text(ex, 1)}\n" in text, name
            seen.add(name)
    assert seen == set(by_name), "every registered exercise of the notebook has its cell"


def test_a_stub_with_a_nested_function_is_recognised_when_its_cell_runs_again(capsys):
    source = "def stub(row, col, n_cols, blocksize):\n    helper = lambda x: x\n    return None\n"
    for _ in range(2):                     # the cell run twice: new function objects, same code
        namespace = {}
        exec(source, namespace)
        check_scale_index(namespace["stub"])
    lines = capsys.readouterr().out.splitlines()
    assert "hint 1 of 3" in lines[0] and "hint 2 of 3" in lines[1]


def test_hints_file_has_one_table_per_exercise_and_no_orphans():
    """hints.toml is where the steps live: every declared exercise has its table, and no table is left over."""
    import tomllib
    with exercises.HINTS_FILE.open("rb") as f:
        tables = tomllib.load(f)
    declared = {ex.key for ex in registered(drafts=True)}
    assert set(tables) == declared, (set(tables) ^ declared)
    for key, table in tables.items():
        assert set(table) == {"steps"}, key
        assert len(table["steps"]) >= 2 and all(s.strip() for s in table["steps"]), key


def test_a_checker_without_hints_is_refused_with_the_key_to_add():
    with pytest.raises(ValueError, match=r'\["01\.99"\]'):
        exercises.exercise(99, notebook=1)(lambda fn: "ok")
    with pytest.raises(ValueError, match="at least one non-empty step"):
        exercises.exercise(98, hints=("  ",), notebook=1)
