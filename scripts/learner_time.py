#!/usr/bin/env python
"""Estimate each notebook's learner minutes from its cells, per section and per notebook.

    python scripts/learner_time.py            # print the table, write build/learner_time.json
    python scripts/learner_time.py --write    # also write the minutes into README.md and instructor/README.md

The formula (a reading estimate for a self-paced learner, not a measurement of people):

* prose: the words of the markdown cells at 180 words a minute (a word is a run of letters or
  digits, with inner ' or - allowed; link targets, HTML tags and code fences' language names are not words);
* one minute per code cell, to read it and its output;
* per exercise, in place of that cell's minute, the time its own text tells the learner ("About 20
  minutes", "about 25 min"; a range such as "About 15–25 minutes" counts its midpoint), else twelve
  minutes: an exercise is a code cell that calls a ``check_*`` checker imported from
  ``lorakit.exercises`` (the course's exercise convention); its text is the markdown from its
  "Exercise" heading (any level, or a bold "**Exercise") down to that cell. The estimate and what
  the notebook tells the learner cannot disagree.

A section is a ``##`` heading and everything up to the next one (cells before the first ``##``
heading form the section named by the title). A markdown heading of any level whose text starts with
"Going deeper" splits the notebook: everything after it is *deeper*, everything before it *core*. A
notebook without one is all core. Headings inside fenced code blocks are not headings.

The numbers go to ``build/learner_time.json`` (generated, like everything in ``build/``: it is
recomputed from the committed notebooks in a second, so committing it would only let it go stale).
With ``--write`` they also go into each notebook's title cell (between ``<!-- learner-time -->`` and
``<!-- /learner-time -->``; the line is added before the "Timed on" paragraph if missing), into
README.md's notebook table (the column "learner time, core (deeper)") and into the tables of the instructor guide (``instructor/README.md``) between the markers
``<!-- learner-time:... -->`` and ``<!-- /learner-time -->``, built from the routes in
``instructor/routes.yaml``. ``tests/scripts/test_learner_time.py`` fails when those committed copies differ
from what this script computes, and when a notebook's core path is over its budget.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lorakit.course.paths import BUILD_DIR, NOTEBOOKS_DIR, REPO_ROOT
from lorakit.course.readme import fill_column

WORDS_PER_MINUTE = 180
CODE_CELL_MINUTES = 1.0
EXERCISE_MINUTES = 12.0
BUDGET_MINUTES = {"00": 20.0}          # the core path's budget per notebook number (issue 25)
DEFAULT_BUDGET = 60.0
DEEPER_PREFIX = "going deeper"
FORMULA = (f"prose at {WORDS_PER_MINUTE} words a minute + {CODE_CELL_MINUTES:g} min per code cell "
           f"+ per exercise (a cell calling a lorakit.exercises check_*) the minutes its text states "
           f"(a range: the midpoint), else {EXERCISE_MINUTES:g}")
README_COLUMN = "learner time, core (deeper)"
GUIDE = REPO_ROOT / "instructor" / "README.md"
ROUTES = REPO_ROOT / "instructor" / "routes.yaml"
JSON_OUT = BUILD_DIR / "learner_time.json"

WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
LINK_TARGET = re.compile(r"\]\([^)]*\)")
HTML_TAG = re.compile(r"<[^>]+>")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
FENCE_LINE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
EXERCISE_IMPORT = re.compile(r"from\s+lorakit\.exercises(?:\.\w+)*\s+import\s+\(?([\w\s,]+)\)?")
EXERCISE_HEADING = re.compile(r"^\s*(?:#{1,6}\s+|\*\*)Exercise\b", re.MULTILINE)
STATED_MINUTES = re.compile(r"\babout\s+(\d+)(?:\s*(?:[–-]|to)\s*(\d+))?\s*min", re.IGNORECASE)
EXERCISE_CALL = re.compile(r"(?<![\w.])(check_\w+)\s*\(|lorakit\.exercises(?:\.\w+)+\.(check_\w+)\s*\(")


@dataclass
class Section:
    title: str
    part: str = "core"        # "core" or "deeper"
    words: int = 0
    code_cells: int = 0
    exercises: int = 0
    exercise_minutes: float = 0.0   # the exercises' minutes, each as its text states (else EXERCISE_MINUTES)

    @property
    def minutes(self) -> float:
        return self.words / WORDS_PER_MINUTE + CODE_CELL_MINUTES * self.code_cells + self.exercise_minutes


@dataclass
class Notebook:
    stem: str
    sections: list[Section] = field(default_factory=list)

    def minutes(self, part: str | None = None) -> float:
        return sum(s.minutes for s in self.sections if part is None or s.part == part)

    @property
    def budget(self) -> float:
        return BUDGET_MINUTES.get(self.stem[:2], DEFAULT_BUDGET)

    def as_dict(self) -> dict:
        return {"core_minutes": round(self.minutes("core"), 1), "deeper_minutes": round(self.minutes("deeper"), 1),
                "budget_minutes": self.budget,
                "words": sum(s.words for s in self.sections),
                "code_cells": sum(s.code_cells for s in self.sections),
                "exercises": sum(s.exercises for s in self.sections),
                "sections": [{**asdict(s), "minutes": round(s.minutes, 1)} for s in self.sections]}


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def count_words(markdown: str) -> int:
    """Words a learner reads in ``markdown``: link targets and HTML tags left out.

    >>> count_words("See [the table](../README.md#notebooks), <b>now</b>: it's 3 words-ish.")
    7
    """
    markdown = FENCE_LINE.sub("", markdown)            # a fence's language name is not read
    return len(WORD.findall(HTML_TAG.sub(" ", LINK_TARGET.sub("]", markdown))))


def headings(markdown: str) -> list[tuple[int, int, str]]:
    """``(line index, level, text)`` of each heading outside fenced code blocks."""
    found, fenced = [], False
    for i, line in enumerate(markdown.splitlines()):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            found.append((i, len(m.group(1)), m.group(2).strip()))
    return found


def exercise_names(cells: list[dict]) -> set[str]:
    """Names of ``check_*`` functions a notebook imports from ``lorakit.exercises``."""
    names = set()
    for cell in cells:
        if cell["cell_type"] == "code":
            for group in EXERCISE_IMPORT.findall(_source(cell)):
                names |= {n.strip() for n in group.replace("\n", ",").split(",") if n.strip().startswith("check_")}
    return names


def stated_minutes(markdown: str) -> float | None:
    """The minutes an exercise's text tells the learner, or None: the first "about N min" (a range: its midpoint).

    >>> stated_minutes("(About 20 minutes; the check takes a few seconds.)"), stated_minutes("About 15–25 minutes")
    (20.0, 20.0)
    >>> stated_minutes("Done when the checker prints ✓.") is None
    True
    """
    m = STATED_MINUTES.search(markdown)
    if not m:
        return None
    low, high = float(m.group(1)), float(m.group(2) or m.group(1))
    return (low + high) / 2


def is_exercise(code: str, names: set[str]) -> bool:
    """Whether a code cell calls a checker from ``lorakit.exercises`` (a call, not just its import)."""
    for plain, dotted in EXERCISE_CALL.findall(code):
        if dotted or plain in names:
            return True
    return False


def analyse(nb: dict, stem: str) -> Notebook:
    """Sections of ``nb`` with their words, code cells and exercises, each marked core or deeper."""
    names = exercise_names(nb["cells"])
    current = Section("(before the first section)")
    out, part = Notebook(stem, [current]), "core"
    exercise_text: str | None = None          # the markdown since the last "Exercise" heading
    for cell in nb["cells"]:
        text = _source(cell)
        if cell["cell_type"] == "code":
            if is_exercise(text, names):
                current.exercises += 1
                stated = stated_minutes(exercise_text) if exercise_text else None
                current.exercise_minutes += EXERCISE_MINUTES if stated is None else stated
                exercise_text = None
            else:
                current.code_cells += 1
            continue
        if cell["cell_type"] != "markdown":
            continue
        if EXERCISE_HEADING.search(FENCE_LINE.sub("", text)):
            exercise_text = text
        elif exercise_text is not None and headings(text):
            exercise_text = None                  # another section began before the exercise's check
        elif exercise_text is not None:
            exercise_text += "\n" + text
        lines, start = text.splitlines(), 0
        for index, level, title in headings(text):
            deeper = title.lower().startswith(DEEPER_PREFIX)
            if level == 1 and current is out.sections[0] and not current.words and not current.code_cells:
                current.title = title        # the notebook's title names the opening section
            elif level == 2 or deeper:
                current.words += count_words("\n".join(lines[start:index]))
                start = index
                part = "deeper" if deeper or part == "deeper" else "core"
                current = Section(title, part)
                out.sections.append(current)
        current.words += count_words("\n".join(lines[start:]))
    out.sections = [s for s in out.sections if s.words or s.code_cells or s.exercises]
    return out


def analyse_all(folder: Path = NOTEBOOKS_DIR) -> list[Notebook]:
    """Every course notebook ``NN_*.ipynb`` in ``folder`` (not the solutions), in course order."""
    return [analyse(json.loads(p.read_text(encoding="utf-8")), p.stem)
            for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))]


# ---------------------------------------------------------------------------- what gets written

def cell_text(nb: Notebook) -> str:
    """The README cell: ``"95 min"`` (no deeper part) or ``"45 min (50 min)"``."""
    core, deeper = nb.minutes("core"), nb.minutes("deeper")
    return f"{core:.0f} min" + (f" ({deeper:.0f} min)" if deeper else " (—)")




TITLE_MARKER = re.compile(r"(<!-- learner-time -->)(.*?)(<!-- /learner-time -->)")
TITLE_LINE = ("**Reading time:** <!-- learner-time -->{text}<!-- /learner-time --> (estimated from the cells by "
              "`scripts/learner_time.py`; the formula is under the [README's table](../README.md#notebooks)).")
TIMED_ON = re.compile(r"^(\*\*Timed on\*\*|\*Timed on\*)", re.MULTILINE)


def title_text(nb: Notebook) -> str:
    """The title cell's reading time: ``"54 min"`` or ``"54 min, and 30 min in Going deeper"``."""
    core, deeper = nb.minutes("core"), nb.minutes("deeper")
    return f"{core:.0f} min" + (f", and {deeper:.0f} min in Going deeper" if deeper else "")


def fill_title(markdown: str, nb: Notebook) -> str:
    """The title cell ``markdown`` with its reading time set from ``nb`` (the line added if missing)."""
    if TITLE_MARKER.search(markdown):
        return TITLE_MARKER.sub(lambda m: f"{m.group(1)}{title_text(nb)}{m.group(3)}", markdown, count=1)
    line = TITLE_LINE.format(text=title_text(nb))
    timed = TIMED_ON.search(markdown)
    if timed is None:
        raise ValueError(f"{nb.stem}: the title cell has no 'Timed on' paragraph to put the reading time before")
    return markdown[:timed.start()] + line + "\n\n" + markdown[timed.start():]


def write_titles(folder: Path = NOTEBOOKS_DIR, rounds: int = 3) -> list[Notebook]:
    """Set every course notebook's reading time in its title cell; returns the final analysis.

    The line's own words count, so it is written again until the minutes no longer move (a number is
    one word whatever its value, so the second round settles it).
    """
    for _ in range(rounds):
        changed = False
        for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
            raw = path.read_text(encoding="utf-8")
            nb_json = json.loads(raw)
            title = nb_json["cells"][0]
            old = _source(title)
            new = fill_title(old, analyse(nb_json, path.stem))
            if new != old:
                title["source"] = new.splitlines(keepends=True)
                path.write_text(json.dumps(nb_json, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
                changed = True
        if not changed:
            return analyse_all(folder)
    raise RuntimeError(f"the title cells' reading times did not settle in {rounds} rounds")


def fill_readme(readme: str, notebooks: list[Notebook]) -> str:
    """``readme`` with the column :data:`README_COLUMN` of its notebook table set from ``notebooks``."""
    return fill_column(readme, README_COLUMN, {nb.stem: cell_text(nb) for nb in notebooks})


def load_routes(path: Path = ROUTES) -> dict:
    """The guide's routes: ``{"routes": {name: description}, "notebooks": {stem: {key: [action per route]}}}``."""
    import yaml

    routes = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(routes, dict) or "routes" not in routes or "notebooks" not in routes:
        raise ValueError(f"{path} must hold the keys 'routes' and 'notebooks'")
    return routes


ACTIONS = ("teach", "demo", "exercise", "skip")   # learners type along / watch / work alone / not in this route
SECTION_NUMBER = re.compile(r"^(\d+)\s*(?:\.|·)\s")


def section_key(nb: Notebook, section: Section) -> str:
    """How routes.yaml names a section: ``"title"`` for the opening one, its number (``"3"`` for
    "3 · ..." or "3. ..."), else its whole heading ("Summary", "Parameters")."""
    if section is nb.sections[0] and section.title != "(before the first section)":
        return "title"
    number = SECTION_NUMBER.match(section.title)
    return number.group(1) if number else section.title


def section_action(routes: dict, stem: str, section: Section, route: str, nb: Notebook | None = None) -> str:
    """What ``route`` does with ``section`` (one of :data:`ACTIONS`), from routes.yaml.

    A section routes.yaml does not name is an error, not a silent skip: when a notebook's sections
    change (issue 25's restructuring), the guide's routes must be chosen again.
    """
    names = list(routes["routes"])
    plan = routes["notebooks"].get(stem)
    key = section_key(nb, section) if nb is not None else section.title
    if plan is None or key not in plan:
        raise ValueError(f"instructor/routes.yaml: no route for {stem} section {key!r} ({section.title!r})")
    actions = plan[key]
    if not isinstance(actions, list) or len(actions) != len(names) or any(a not in ACTIONS for a in actions):
        raise ValueError(f"instructor/routes.yaml: {stem} {key!r} needs one of {ACTIONS} per route {names}, got {actions!r}")
    return actions[names.index(route)]


def taught(action: str) -> bool:
    return action != "skip"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def section_table(nb: Notebook, routes: dict) -> str:
    """Markdown table of ``nb``'s sections: minutes and what each route does with them."""
    names = list(routes["routes"])
    rows = ["| section | part | min | " + " | ".join(names) + " |", "|---|---|---:|" + "---|" * len(names)]
    for s in nb.sections:
        acts = [section_action(routes, nb.stem, s, r, nb) for r in names]
        rows.append(f"| {_md(s.title)} | {s.part} | {s.minutes:.0f} | " + " | ".join(acts) + " |")
    totals = [kept_minutes(nb, routes, r) for r in names]
    rows.append(f"| **whole notebook** | | **{nb.minutes():.0f}** | "
                + " | ".join(f"**{t:.0f}**" for t in totals) + " |")
    return "\n".join(rows)


def kept_minutes(nb: Notebook, routes: dict, route: str) -> float:
    """Learner minutes of the sections ``route`` teaches, demonstrates or sets as exercises in ``nb``."""
    return sum(s.minutes for s in nb.sections if taught(section_action(routes, nb.stem, s, route, nb)))


def route_table(notebooks: list[Notebook], routes: dict) -> str:
    """Markdown table: per notebook, its core/deeper minutes and the minutes each route keeps."""
    names = list(routes["routes"])
    rows = ["| notebook | core (budget) | deeper | " + " | ".join(names) + " |",
            "|---|---:|---:|" + "---:|" * len(names)]
    sums = [0.0] * len(names)
    for nb in notebooks:
        kept = [kept_minutes(nb, routes, r) for r in names]
        sums = [a + b for a, b in zip(sums, kept)]
        rows.append(f"| {nb.stem} | {nb.minutes('core'):.0f} ({nb.budget:.0f}) | {nb.minutes('deeper'):.0f} | "
                    + " | ".join(f"{k:.0f}" for k in kept) + " |")
    rows.append(f"| **all** | **{sum(n.minutes('core') for n in notebooks):.0f}** | "
                f"**{sum(n.minutes('deeper') for n in notebooks):.0f}** | "
                + " | ".join(f"**{s:.0f}**" for s in sums) + " |")
    return "\n".join(rows)


def timetable(notebooks: list[Notebook], routes: dict, route: str) -> str:
    """Markdown table: clock times of ``route``'s day from ``routes["schedule"][route]`` (a start time and
    blocks: a notebook stem, whose minutes are the route's, or ``[label, minutes]`` for setup and breaks).
    Each block is rounded to whole minutes before the clock moves on, so the rows add up as printed."""
    plan = routes["schedule"][route]
    by_stem = {nb.stem: nb for nb in notebooks}
    hours, minutes = map(int, str(plan["start"]).split(":"))
    clock = hours * 60 + minutes
    rows = ["| from | to | block | min |", "|---|---|---|---:|"]
    for block in plan["blocks"]:
        if isinstance(block, str):
            if block not in by_stem:
                raise ValueError(f"instructor/routes.yaml: schedule {route}: no notebook {block!r}")
            label, length = f"{block} ({route} sections below)", kept_minutes(by_stem[block], routes, route)
        else:
            label, length = block[0], float(block[1])
        length = round(length)            # whole minutes: each row's "to" minus "from" is its "min"
        rows.append(f"| {int(clock) // 60:02d}:{int(clock) % 60:02d} | {int(clock + length) // 60:02d}:"
                    f"{int(clock + length) % 60:02d} | {_md(label)} | {length:.0f} |")
        clock += length
    return "\n".join(rows)


MARKER = re.compile(r"(<!-- learner-time:(\S+) -->\n)(.*?)(<!-- /learner-time -->)", re.DOTALL)


def fill_guide(guide: str, notebooks: list[Notebook], routes: dict) -> str:
    """``guide`` with every ``<!-- learner-time:KEY -->`` block regenerated.

    KEY ``routes``: :func:`route_table`; KEY ``formula``: the formula line; KEY ``timetable-<route>``:
    :func:`timetable`; KEY a notebook stem
    (``01_lora_math_and_parameter_counting``): that notebook's :func:`section_table`.
    """
    by_stem = {nb.stem: nb for nb in notebooks}

    def block(match: re.Match) -> str:
        key = match.group(2)
        if key == "routes":
            body = route_table(notebooks, routes)
        elif key == "formula":
            body = f"Minutes from `scripts/learner_time.py`: {FORMULA}."
        elif key.startswith("timetable-"):
            body = timetable(notebooks, routes, key.removeprefix("timetable-"))
        elif key in by_stem:
            body = section_table(by_stem[key], routes)
        else:
            raise ValueError(f"unknown learner-time block {key!r} (a notebook stem, 'routes' or 'formula')")
        return f"{match.group(1)}{body}\n{match.group(4)}"

    return MARKER.sub(block, guide)


def report(notebooks: list[Notebook]) -> str:
    """The printed table: core/deeper minutes per notebook against the budget, then the formula."""
    lines = [f"{'notebook':<42} {'core':>6} {'deeper':>7} {'budget':>7}  words code ex"]
    for nb in notebooks:
        d = nb.as_dict()
        flag = "" if nb.minutes("core") <= nb.budget else "  OVER"
        lines.append(f"{nb.stem:<42} {nb.minutes('core'):>6.0f} {nb.minutes('deeper'):>7.0f} {nb.budget:>7.0f}  "
                     f"{d['words']:>5} {d['code_cells']:>4} {d['exercises']:>2}{flag}")
    lines.append(f"{'all':<42} {sum(n.minutes('core') for n in notebooks):>6.0f} "
                 f"{sum(n.minutes('deeper') for n in notebooks):>7.0f}")
    lines.append(f"minutes = {FORMULA}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notebooks", type=Path, default=NOTEBOOKS_DIR)
    ap.add_argument("--json", type=Path, default=JSON_OUT)
    ap.add_argument("--write", action="store_true",
                    help="also write the notebooks' title cells, README.md's column and the guide's tables")
    ap.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md")
    ap.add_argument("--guide", type=Path, default=GUIDE)
    ap.add_argument("--sections", action="store_true", help="print every section's minutes too")
    args = ap.parse_args(argv)
    notebooks = write_titles(args.notebooks) if args.write else analyse_all(args.notebooks)
    print(report(notebooks))
    if args.sections:
        for nb in notebooks:
            print(f"\n{nb.stem}")
            for s in nb.sections:
                print(f"  {s.minutes:5.1f} min  {s.part:<6} {s.title}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"formula": FORMULA, "notebooks": {nb.stem: nb.as_dict() for nb in notebooks}},
                                    indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    if args.write:
        args.readme.write_text(fill_readme(args.readme.read_text(encoding="utf-8"), notebooks), encoding="utf-8")
        print(f"wrote the column {README_COLUMN!r} of {args.readme}")
        if args.guide.is_file():
            guide = fill_guide(args.guide.read_text(encoding="utf-8"), notebooks, load_routes())
            args.guide.write_text(guide, encoding="utf-8")
            print(f"wrote the learner-time tables of {args.guide}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
