"""Every notebook follows the conventions in notebooks/README.md (checked without running it).

The rule numbers below are notebooks/README.md's. The Setup cell's exact text is checked by
tests/scripts/test_set_course_repo.py (scripts/set_course_repo.py owns it).
"""
import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
ALL = NOTEBOOKS + SOLUTIONS
WITH_EXERCISES = [p for p in NOTEBOOKS if p.stem != "00_start_here"]
TOKEN = re.compile(r"hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9]{20,}|ghp_[A-Za-z0-9]{20,}")
LOCAL_PATH = re.compile(r"(/work/|/root/|/home/[^/\s\"]+/|/Users/[^/\s\"]+/|[A-Z]:\\\\Users)")
CHECKER_CALL = re.compile(r"^(check_\w+)\(", re.M)
BARE_NOTEBOOK_NUMBER = re.compile(r"\bnotebooks? \d{1,2}\b", re.I)


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _source(cell) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _text(outputs) -> str:
    return "".join(o["text"] if isinstance(o["text"], str) else "".join(o["text"])
                   for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout")


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def _solutions_for(path: Path) -> Path | None:
    return next(iter((ROOT / "notebooks" / "solutions").glob(f"{path.stem[:2]}_*_solutions.ipynb")), None)


def _exercise_cells(path: Path):
    """(checker names, cell) for every code cell that calls a checker imported from lorakit.exercises.nbNN.

    The import may sit in the exercise cell or in any earlier cell of the notebook.
    """
    cells = _code_cells(_load(path))
    module = re.compile(rf"^from lorakit\.exercises\.nb{path.stem[:2]} import (?:\(([^)]*)\)|([\w ,]+)$)", re.M)
    checkers = {n.strip() for c in cells for m in module.finditer(_source(c))
                for n in (m.group(1) or m.group(2)).split(",")}
    found = [([n for n in CHECKER_CALL.findall(_source(c)) if n in checkers], c) for c in cells]
    return [(names, c) for names, c in found if names]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"
    assert (ROOT / "notebooks" / "00_start_here.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_1_title_cell(path):
    first = _load(path)["cells"][0]
    assert first["cell_type"] == "markdown" and _source(first).startswith("# "), "first cell must be a markdown title"
    text = _source(first)
    assert "You will learn" in text, "the title cell lists what the learner will learn"
    assert "Timed on" in text or "timed on" in text, "the title cell names the hardware it was timed on"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_2_to_5_setup_parameters_version_and_results_cells(path):
    cells = _code_cells(_load(path))
    assert _source(cells[0]).startswith("# Setup"), "first code cell must be the '# Setup' cell"
    if path in NOTEBOOKS:
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
        assert re.search(r"^MODEL_ID = None\b", _source(tagged[0]), re.M), \
            "the parameters cell sets MODEL_ID = None (the shipped model; LORAKIT_MODEL_ID overrides it)"
        versions = [c for c in cells if _source(c).startswith("# NBVAL_SKIP") and "print_versions" in _source(c)]
        assert versions, "a version cell starting with '# NBVAL_SKIP' that calls lorakit.course.env.print_versions()"
        assert any(f'results.start("{path.stem}")' in _source(c) for c in cells), \
            f'call lorakit.course.results.start("{path.stem}") so results land in the right file'


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_6_deterministic_cells_are_checked(path):
    assert any(_source(c).startswith("# NBVAL_CHECK_OUTPUT") for c in _code_cells(_load(path))), \
        "at least one deterministic cell marked '# NBVAL_CHECK_OUTPUT'"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_8_nothing_stops_run_all(path):
    for i, c in enumerate(_code_cells(_load(path))):
        assert "raises-exception" not in c.get("metadata", {}).get("tags", []), \
            f"code cell {i} is tagged raises-exception: Colab and Kaggle ignore tags, so nothing may raise"
        assert not re.search(r"^\s*raise NotImplementedError", _source(c), re.M), \
            f"code cell {i}: an exercise stub returns None, it does not raise"
        assert not [o for o in c.get("outputs", []) if o["output_type"] == "error"], \
            f"code cell {i} was committed with an error"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=_ids(WITH_EXERCISES))
def test_8_exercises_stubs_and_checkers(path):
    exercises = _exercise_cells(path)
    assert len(exercises) >= 2, f"at least two exercises: cells calling a check_...() from lorakit.exercises.nb{path.stem[:2]}"
    for names, cell in exercises:
        stubs = [f for f in ast.walk(ast.parse(_source(cell))) if isinstance(f, ast.FunctionDef)]
        assert stubs, f"{names}: the exercise cell defines the function the learner writes"
        assert all(isinstance(f.body[-1], ast.Return) and isinstance(f.body[-1].value, ast.Constant)
                   and f.body[-1].value.value is None for f in stubs), \
            f"{names}: each stub ends with `return None` (the placeholder its checker reports as not done)"
        assert "not done yet" in _text(cell.get("outputs", [])), \
            f"{names}: commit the notebook with its stubs, so the checker printed 'not done yet'"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=_ids(WITH_EXERCISES))
def test_8_solutions_run_the_same_checkers_strictly(path):
    solutions = _solutions_for(path)
    assert solutions, f"notebooks/solutions/{path.stem[:2]}_<topic>_solutions.ipynb is missing"
    cells = _code_cells(_load(solutions))
    strict = next((i for i, c in enumerate(cells) if "set_strict(True)" in _source(c)), None)
    assert strict is not None, "the solutions notebook calls lorakit.exercises.set_strict(True)"
    solved = _exercise_cells(solutions)
    first = min(i for i, c in enumerate(cells) if CHECKER_CALL.search(_source(c)))
    assert strict < first, "set_strict(True) comes before the first checker"
    assert {n for names, _ in solved for n in names} == {n for names, _ in _exercise_cells(path) for n in names}, \
        "the solutions notebook calls the same checkers as the notebook"
    for names, cell in solved:
        assert "✓" in _text(cell.get("outputs", [])), f"{names}: the committed solution passes its checker"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_9_no_remote_code_no_tokens(path):
    text = path.read_text()
    assert "trust_remote_code" + "=True" not in text  # split so this file does not match itself
    assert not TOKEN.search(text), "a notebook must never hold a token"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_10_committed_with_outputs_and_no_local_paths(path):
    nb = _load(path)
    cells = _code_cells(nb)
    assert any(c.get("outputs") for c in cells), "commit notebooks executed, with their outputs"
    counts = [c.get("execution_count") for c in cells]
    assert counts == list(range(1, len(cells) + 1)), "run scripts/clean_notebooks.py (execution counts 1..n)"
    for i, c in enumerate(cells):
        blob = json.dumps(c.get("outputs", []))
        blob = re.sub(r'"image/png": "[^"]*"', "", blob)
        match = LOCAL_PATH.search(blob)
        assert not match, f"code cell {i} output holds a local path {match.group(0)!r}"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_12_no_output_noise(path):
    for i, c in enumerate(_code_cells(_load(path))):
        for out in c.get("outputs", []):
            if out["output_type"] == "stream":
                assert out["name"] == "stdout", \
                    f"code cell {i} wrote to stderr (a warning, a progress bar or a log line): silence it at its source"
            if out["output_type"] == "execute_result":
                assert set(out["data"]) != {"text/plain"}, \
                    f"code cell {i} shows a stray Out[] value ({''.join(out['data']['text/plain'])[:40]!r}): end it with a statement or ';'"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_13_notebooks_are_named_by_title_not_number(path):
    for i, c in enumerate(_load(path)["cells"]):
        if c["cell_type"] == "markdown":
            match = BARE_NOTEBOOK_NUMBER.search(_source(c))
            assert not match, f"cell {i} says {match.group(0)!r}: refer to a notebook by its title or a link"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_15_headings_are_plain_text(path):
    for i, c in enumerate(_load(path)["cells"]):
        if c["cell_type"] == "markdown":
            for line in _source(c).splitlines():
                assert not (re.match(r"#{1,6} ", line) and "`" in line), \
                    f"cell {i} heading {line!r} holds inline code: the website's anchor would not match its link"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=_ids(WITH_EXERCISES))
def test_16_progress_is_the_last_cell(path):
    last = _load(path)["cells"][-1]
    number = int(path.stem[:2])
    assert last["cell_type"] == "code", "the last cell shows the notebook's progress"
    assert re.search(rf"^lorakit\.progress\.show\(notebook={number}\)$", _source(last), re.M), \
        f"the last cell calls lorakit.progress.show(notebook={number})"
    assert "NBVAL_CHECK_OUTPUT" not in _source(last), "its output is the learner's own progress: not compared"
    out = _text(last.get("outputs", []))
    assert out.startswith(f"Your progress: {number:02d} "), "committed with its output"
    assert "(not tried)" in out and "(done)" not in out and "(tried)" not in out, \
        "committed as after Run all with the stubs: every exercise not tried"


OLD_VERDICT_CALL = re.compile(r"(?<![\w.])(?:stats\.)?(verdict|compare_scores|seed_verdict|said)\s*\(")
# "tie" as a verdict; not TIES/`ties` (the merge method), "ties to" (rounding), "a tie goes to" (a tie-break
# in a selection rule), "tied to"/"tied head"/"tied embeddings" (weight tying). Markdown only, code spans out.
TIE_WORD = re.compile(r"(?<![-\w])(?:tie|ties|tied)(?![-\w])(?!\s+(?:to|goes|break|head|embeddings?|weights?|output|tensors?)\b)(?!,\s*dare)")
CODE_SPAN = re.compile(r"`[^`]*`|^\s*(```|~~~).*?^\s*\1", re.M | re.S)


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_17_one_verdict_rule(path):
    nb = _load(path)
    calls = [m.group(0) for c in _code_cells(nb) for m in OLD_VERDICT_CALL.finditer(_source(c))]
    assert not calls, f"{path.name}: old verdict helpers {calls}; use lorakit.stats.compare + comparison_table"
    ties = [m.group(0) for c in nb["cells"] if c["cell_type"] == "markdown"
            for m in TIE_WORD.finditer(CODE_SPAN.sub(" ", _source(c)))]
    assert not ties, f"{path.name}: 'tie' used as a verdict {ties}: say inconclusive, equivalent or both fail"


def test_17_catches_the_old_words():
    assert OLD_VERDICT_CALL.search("v = verdict(a, b)") and OLD_VERDICT_CALL.search("stats.verdict(a, b)")
    assert not OLD_VERDICT_CALL.search("c.verdict == 'x'") and not OLD_VERDICT_CALL.search("speed_verdict(t)")
    assert TIE_WORD.search("a tie at 4 bits") and TIE_WORD.search("ranks 2 to 64 tie") and TIE_WORD.search("they tied")
    for fine in ("TIES and DARE", "rounding ties to the lower value", "embeddings tied to the output head",
                 "a tie goes to the higher weakest task", "the tied head", "near-ties may flip",
                 "for the ties, dare and magnitude_prune types", "yields a tied tensor once"):
        assert not TIE_WORD.search(fine), fine
    assert not TIE_WORD.search(CODE_SPAN.sub(" ", "the `ties` and `dare_ties` types"))
