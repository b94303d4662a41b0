"""scripts/learner_time.py: learner minutes per section and notebook, the budgets, the generated tables."""
import importlib.util
import json
import sys

import pytest

from lorakit.course.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("learner_time", REPO_ROOT / "scripts" / "learner_time.py")
learner_time = importlib.util.module_from_spec(spec)
sys.modules["learner_time"] = learner_time   # dataclasses look their module up there
spec.loader.exec_module(learner_time)


def md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def code(text):
    return {"cell_type": "code", "metadata": {}, "source": text, "outputs": [], "execution_count": None}


def words(n):
    return " ".join(["word"] * n)


# Counted by hand: "Title" + 3 words; two code cells (an import is not an exercise); "One" + 179 words
# = 180 words = 1 min, one exercise (12 min), one code cell calling a checker lorakit.exercises did not
# give (1 min); "Going deeper" splits: "Going deeper" + 177 words + the link text "link" = 180 words, one
# code cell; "Two" + "not a heading" inside a fence (4 words, no new section).
TINY = {"cells": [
    md("# Title\n\nalpha beta gamma"),
    code("x = 1"),
    code("from lorakit.exercises.nb01 import check_a, check_b"),
    md("## One\n\n" + words(179)),
    code("def f():\n    return None\n\ncheck_a(f);"),
    code("check_other(1)"),
    md("## Going deeper\n\n" + words(177) + " [link](https://example.org/a/b)"),
    code("y = 2"),
    md("## Two\n```bash\n## not a heading\n```"),
]}


def test_tiny_notebook_counted_by_hand():
    nb = learner_time.analyse(TINY, "01_tiny")
    got = [(s.title, s.part, s.words, s.code_cells, s.exercises) for s in nb.sections]
    assert got == [("Title", "core", 4, 2, 0), ("One", "core", 180, 1, 1),
                   ("Going deeper", "deeper", 180, 1, 0), ("Two", "deeper", 4, 0, 0)]
    assert nb.minutes("core") == pytest.approx(4 / 180 + 2 + 1 + 1 + 12)
    assert nb.minutes("deeper") == pytest.approx(1 + 1 + 4 / 180)
    assert nb.budget == 60


def test_no_going_deeper_means_all_core_and_00_has_its_own_budget():
    cells = [c for c in TINY["cells"] if "Going deeper" not in learner_time._source(c)]
    nb = learner_time.analyse({"cells": cells}, "00_start")
    assert {s.part for s in nb.sections} == {"core"} and nb.minutes("deeper") == 0
    assert nb.budget == 20


def test_going_deeper_at_a_lower_level_still_splits():
    nb = learner_time.analyse({"cells": [md("## A\n\n" + words(10)), md("### Going deeper: more\n\nx y"),
                                         md("## B\n\nz")]}, "02_x")
    assert [(s.title, s.part) for s in nb.sections] == [("A", "core"), ("Going deeper: more", "deeper"),
                                                        ("B", "deeper")]


def test_an_exercise_counts_the_minutes_its_text_states():
    # the time told to the learner is the time counted: "About 20 minutes" 20, a range its midpoint, else 12;
    # the text is the markdown from the "Exercise" heading (or bold) down to the checker's cell
    imports = code("from lorakit.exercises.nb01 import check_a, check_b")
    nb = learner_time.analyse({"cells": [
        md("## Exercises"), imports,
        md("### Exercise 1: big\n\n(About 20 minutes; the check takes a few seconds.)"), code("check_a(f)"),
        md("**Exercise 2** says nothing of time."), md("Its second cell: about 15–25 min."), code("check_b(g)"),
        md("### Exercise 3: unstated"), code("check_a(h)"),
        md("The section says about 30 minutes, but no Exercise heading opens it."), code("check_b(k)"),
    ]}, "01_x")
    (section,) = [s for s in nb.sections if s.exercises]
    assert section.exercises == 4 and section.exercise_minutes == pytest.approx(20 + 20 + 12 + 12)
    assert learner_time.stated_minutes("about 5 min") == 5 and learner_time.stated_minutes("About 10 to 20 minutes") == 15
    assert learner_time.stated_minutes("takes a minute or two") is None


def test_an_exercise_heading_does_not_lend_its_time_past_the_next_section():
    nb = learner_time.analyse({"cells": [
        code("from lorakit.exercises.nb01 import check_a"),
        md("### Exercise 1: about 40 minutes"), md("## Another section"), code("check_a(f)")]}, "01_x")
    assert sum(s.exercise_minutes for s in nb.sections) == 12


def test_count_words_skips_link_targets_and_tags():
    assert learner_time.count_words("a [b c](http://x.org/y-z) <details><summary>d</summary>") == 4


def test_readme_fill_and_the_deeper_column():
    nb = learner_time.analyse(TINY, "01_tiny")
    readme = ("| # | notebook | learner time, core (deeper) | open |\n|---|---|---|---|\n"
              "| 01 | [Tiny](notebooks/01_tiny.ipynb) | ? | b |\n")
    out = learner_time.fill_readme(readme, [nb])
    assert out.splitlines()[2] == "| 01 | [Tiny](notebooks/01_tiny.ipynb) | 16 min (2 min) | b |"
    with pytest.raises(ValueError, match="learner time"):
        learner_time.fill_readme("| a | b |\n", [nb])


def test_main_writes_json(tmp_path):
    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / "01_tiny.ipynb").write_text(json.dumps(TINY))
    learner_time.main(["--notebooks", str(folder), "--json", str(tmp_path / "out.json")])
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["notebooks"]["01_tiny"]["core_minutes"] == 16.0
    assert data["notebooks"]["01_tiny"]["exercises"] == 1 and "180 words a minute" in data["formula"]


NOTEBOOKS = learner_time.analyse_all()
# The notebooks whose core path is over budget, expected to fail (strict xfail). Empty since issue 25
# gave every notebook a core path and a Going deeper part (reviews/25_restructure_plan.md); a notebook
# that goes over budget again fails the test below, unless it is named here with a reason.
OVER_TODAY: set[str] = set()


@pytest.mark.parametrize("nb", [
    pytest.param(nb, id=nb.stem, marks=[pytest.mark.xfail(
        strict=True, reason=f"core path {nb.minutes('core'):.0f} > {nb.budget:.0f} min today; issue 25 cuts it")]
        if nb.stem in OVER_TODAY else [])
    for nb in NOTEBOOKS])
def test_core_path_within_budget(nb):
    assert nb.minutes("core") <= nb.budget, f"{nb.stem}: core path {nb.minutes('core'):.0f} min > {nb.budget:.0f}"


def test_whole_core_within_seven_hours():
    total = sum(nb.minutes("core") for nb in NOTEBOOKS)
    assert total <= 7 * 60, f"whole core {total:.0f} min > 420"


def test_readme_column_is_generated():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert learner_time.fill_readme(readme, NOTEBOOKS) == readme, \
        "README's learner-time column is stale: run python scripts/learner_time.py --write"



def test_title_cells_carry_the_generated_reading_time():
    for path in sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb_json = json.loads(path.read_text(encoding="utf-8"))
        title = learner_time._source(nb_json["cells"][0])
        assert learner_time.TITLE_MARKER.search(title), f"{path.name}: no reading time in the title cell"
        assert learner_time.fill_title(title, learner_time.analyse(nb_json, path.stem)) == title, \
            f"{path.name}: the title cell's reading time is stale: run python scripts/learner_time.py --write"


def test_fill_title_adds_the_line_before_timed_on_and_refuses_a_title_without_it():
    nb = learner_time.Notebook("99_x", [learner_time.Section("t", words=180 * 30), learner_time.Section("d", "deeper", code_cells=5)])
    filled = learner_time.fill_title("# 99 · X\n\n**Timed on** a CPU.", nb)
    assert filled.index("30 min, and 5 min in Going deeper") < filled.index("**Timed on**")
    assert learner_time.fill_title(filled, nb) == filled
    with pytest.raises(ValueError, match="Timed on"):
        learner_time.fill_title("# 99 · X", nb)


def test_guide_tables_are_generated():
    guide = (REPO_ROOT / "instructor" / "README.md").read_text(encoding="utf-8")
    assert "<!-- learner-time:routes -->" in guide
    assert learner_time.fill_guide(guide, NOTEBOOKS, learner_time.load_routes()) == guide, \
        "the instructor guide's tables are stale: run python scripts/learner_time.py --write"


def test_routes_name_every_section_and_the_timetable_adds_up():
    nb = learner_time.analyse(TINY, "01_tiny")
    routes = {"routes": {"day": "", "morning": ""},
              "notebooks": {"01_tiny": {"title": ["teach", "skip"], "One": ["exercise", "exercise"],
                                        "Going deeper": ["demo", "skip"]}},
              "schedule": {"day": {"start": "09:00", "blocks": [["Welcome", 15], "01_tiny"]}}}
    with pytest.raises(ValueError, match="no route for 01_tiny section 'Two'"):
        learner_time.section_table(nb, routes)
    routes["notebooks"]["01_tiny"]["Two"] = ["skip", "later"]
    with pytest.raises(ValueError, match="one of"):
        learner_time.section_table(nb, routes)
    routes["notebooks"]["01_tiny"]["Two"] = ["skip", "skip"]
    # day: title (4/180 + 2) + One (14) + Going deeper (2) = 18.02 min; morning: One only = 14
    assert learner_time.kept_minutes(nb, routes, "day") == pytest.approx(18 + 4 / 180)
    assert learner_time.kept_minutes(nb, routes, "morning") == pytest.approx(14)
    table = learner_time.timetable([nb], routes, "day").splitlines()
    assert table[2] == "| 09:00 | 09:15 | Welcome | 15 |" and table[3].startswith("| 09:15 | 09:33 | 01_tiny")


@pytest.mark.parametrize("route", ["one-day", "half-day"])
def test_guide_timetable_rows_add_up(route):
    """Each row's "to" minus "from" equals its "min", and each row starts where the last one ended."""
    table = learner_time.timetable(NOTEBOOKS, learner_time.load_routes(), route).splitlines()[2:]
    minute = lambda hhmm: int(hhmm[:2]) * 60 + int(hhmm[3:])
    previous_end = None
    for row in table:
        start, end, _, length = [c.strip() for c in row.strip("|").split(" | ")]
        assert minute(end) - minute(start) == int(length), row
        assert previous_end in (None, start), row
        previous_end = end

