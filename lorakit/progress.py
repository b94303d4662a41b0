"""The learner's progress through the exercises: a small local file, a table, and a code to share.

Every checker of :mod:`lorakit.exercises` records its outcome (done, or tried: a wrong answer) with
a UTC timestamp in a JSON file. A stub that still returns ``None`` records nothing: running the
notebook is not trying the exercise. Nothing personal is stored and nothing leaves the machine.

* the file: ``$LORAKIT_PROGRESS_FILE`` if set (``off`` turns recording off), else
  ``.lorakit-progress.json`` in the course folder (the clone, on Colab and Kaggle too; gitignored),
  or in the home folder when lorakit is installed without the course. It survives a kernel restart
  and every notebook reads the same one.
* strict mode (solutions notebooks, CI) records nothing, so running the solutions never ticks a
  learner's exercises and never writes into the repository.
* a write that fails (a read-only disk) is skipped without a word: it never stops "Run all".

``show()`` prints every exercise of every notebook; ``show(notebook=2)`` one notebook's line;
``code()`` a short code of the ticks that a learner pastes into a workshop's shared document, and
``python -m lorakit.progress decode CODE... [name=CODE ...]`` turns those codes into a class table.

A code reads ``LK1-22.210.000.00.2.000.100-7Q``: one group per notebook (01, 02, ...), one digit per
exercise (0 not tried, 1 tried, 2 done), and two characters of checksum that catch a typo.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import zlib
from datetime import datetime, timezone
from pathlib import Path

from lorakit.course.paths import NOTEBOOKS_DIR, REPO_ROOT

PROGRESS_ENV = "LORAKIT_PROGRESS_FILE"
FILE_NAME = ".lorakit-progress.json"
STATES = ("not tried", "tried", "done")
MARKS = {"not tried": "·", "tried": "~", "done": "✓"}
CODE_PREFIX = "LK1"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"   # Crockford's base 32: no I, L, O, U


def progress_file() -> Path | None:
    """Where progress is kept (``None`` when ``$LORAKIT_PROGRESS_FILE`` is ``off``)."""
    env = os.environ.get(PROGRESS_ENV, "").strip()
    if env.lower() in ("off", "0", "none", "false"):
        return None
    if env:
        return Path(env).expanduser()
    if NOTEBOOKS_DIR.is_dir():          # a clone of the course: keep it with the course
        return REPO_ROOT / FILE_NAME
    return Path.home() / FILE_NAME


def load() -> dict:
    """The recorded exercises, ``{"02.1": {"status": "done", "first": ..., "last": ..., "tries": 3}}``.

    A missing, unreadable or damaged file reads as no progress.
    """
    path = progress_file()
    try:
        data = json.loads(path.read_text()) if path is not None else {}
    except (OSError, ValueError):
        return {}
    exercises = data.get("exercises") if isinstance(data, dict) else None
    return {k: v for k, v in exercises.items() if isinstance(v, dict)} if isinstance(exercises, dict) else {}


def record(notebook: int, number: int, status: str) -> None:
    """Record one checker's outcome: ``"done"`` or ``"wrong"`` (tried); ``"not done"`` is a stub: skipped.

    Done stays done (a later wrong answer counts as a try, not as a loss). Never raises on a disk error.
    """
    if status not in ("done", "wrong", "not done"):
        raise ValueError(f"status must be 'done', 'wrong' or 'not done', got {status!r}")
    path = progress_file()
    if status == "not done" or path is None:
        return
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    exercises = load()
    entry = exercises.setdefault(f"{int(notebook):02d}.{int(number)}", {"status": "tried", "first": now})
    entry["tries"] = int(entry.get("tries", 0)) + 1
    entry["last"] = now
    if status == "done" and entry.get("status") != "done":
        entry["status"], entry["done"] = "done", now
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".lorakit-progress-", suffix=".tmp",
                                         delete=False) as tmp:
            json.dump({"version": 1, "exercises": exercises}, tmp, indent=1, sort_keys=True)
        os.replace(tmp.name, path)      # whole or nothing: a crash never leaves half a file
    except OSError:                     # read-only disk, full disk: progress is a nicety, Run all goes on
        try:
            os.unlink(tmp.name)
        except (OSError, NameError):
            pass


def states() -> dict[str, str]:
    """Every registered exercise's key (``"02.1"``) -> ``"done"``, ``"tried"`` or ``"not tried"``."""
    from .exercises import registered

    recorded = load()
    out = {}
    for ex in registered():
        status = recorded.get(ex.key, {}).get("status")
        out[ex.key] = status if status in ("done", "tried") else "not tried"
    return out


def _by_notebook() -> dict[int, list]:
    from .exercises import registered

    groups: dict[int, list] = {}
    for ex in registered():
        groups.setdefault(ex.notebook, []).append(ex)
    return groups


def _line(notebook: int, exercises: list, current: dict[str, str]) -> str:
    done = sum(current[e.key] == "done" for e in exercises)
    cells = "   ".join(f"{MARKS[current[e.key]]} {e.number} {e.name} ({current[e.key]})" for e in exercises)
    return f"{notebook:02d}  {done} of {len(exercises)} done   {cells}"


def show(notebook: int | None = None) -> None:
    """Print the progress table (every notebook), or one notebook's line with ``notebook=NN``."""
    groups = _by_notebook()
    current = states()
    if notebook is not None:
        if notebook not in groups:
            raise ValueError(f"no exercises in notebook {notebook}; known: {sorted(groups)}")
        print(f"Your progress: {_line(notebook, groups[notebook], current)}")
        return
    total = sum(len(g) for g in groups.values())
    done = sum(v == "done" for v in current.values())
    print(f"Your progress: {done} of {total} exercises done (✓ done, ~ tried, · not tried)")
    for nb, exercises in groups.items():
        print(_line(nb, exercises, current))


def _checksum(body: str) -> str:
    n = zlib.crc32(body.encode()) % (32 * 32)
    return _ALPHABET[n // 32] + _ALPHABET[n % 32]


def encode(current: dict[str, str] | None = None) -> str:
    """The code of ``current`` (default: this learner's :func:`states`), e.g. ``LK1-22.210.000-7Q``."""
    current = states() if current is None else current
    groups = _by_notebook()
    digits = ".".join("".join(str(STATES.index(current.get(e.key, "not tried"))) for e in exercises)
                      for exercises in groups.values())
    body = f"{CODE_PREFIX}-{digits}"
    return f"{body}-{_checksum(body)}"


def code() -> str:
    """Print (and return) this learner's code, to paste into a workshop's shared document."""
    text = encode()
    print(f"Your progress code: {text}  (no name in it; paste it where your teacher asks)")
    return text


def decode(text: str) -> list[list[str]]:
    """A code back into its states: one list per notebook, in course order. ``ValueError`` on a typo."""
    parts = text.strip().upper().split("-")
    if len(parts) != 3 or parts[0] != CODE_PREFIX:
        raise ValueError(f"{text!r} is not a progress code (it looks like {CODE_PREFIX}-22.210.000-7Q)")
    body = f"{parts[0]}-{parts[1]}"
    if _checksum(body) != parts[2]:
        raise ValueError(f"{text!r}: the checksum does not match, a character was mistyped")
    groups = parts[1].split(".")
    if not all(g and set(g) <= set("012") for g in groups):
        raise ValueError(f"{text!r}: each group holds digits 0, 1 or 2")
    return [[STATES[int(d)] for d in g] for g in groups]


def class_table(codes: list[str]) -> str:
    """The teacher's table: one row per learner (``name=CODE`` or a bare code), one column per exercise.

    The last row counts, for each exercise, how many learners are done and how many tried.
    """
    notebooks = list(_by_notebook())
    rows, decoded, width = [], [], 0
    for i, item in enumerate(codes, 1):
        name, _, text = item.rpartition("=")
        name = name or f"learner {i}"
        try:
            decoded.append((name, decode(text)))
        except ValueError as err:
            decoded.append((name, str(err)))
        width = max(width, len(name))
    columns = max((len(s) for _, s in decoded if isinstance(s, list)), default=len(notebooks))
    keys = []
    for g in range(columns):
        nb = notebooks[g] if g < len(notebooks) else g + 1
        n = max((len(s[g]) for _, s in decoded if isinstance(s, list) and g < len(s)), default=0)
        keys += [(g, k, f"{nb:02d}.{k + 1}") for k in range(n)]
    width = max(width, len("done / tried"))
    rows.append(f"{'':{width}}  " + " ".join(f"{label:>5}" for _, _, label in keys))
    counts = {label: [0, 0] for _, _, label in keys}
    for name, states_ in decoded:
        if isinstance(states_, str):
            rows.append(f"{name:{width}}  bad code: {states_}")
            continue
        marks = []
        for g, k, label in keys:
            state = states_[g][k] if g < len(states_) and k < len(states_[g]) else "not tried"
            counts[label][0] += state == "done"
            counts[label][1] += state == "tried"
            marks.append(f"{MARKS[state]:>5}")
        done = sum(s == "done" for group in states_ for s in group)
        rows.append(f"{name:{width}}  " + " ".join(marks) + f"   {done} done")
    rows.append(f"{'done / tried':{width}}  " + " ".join(f"{f'{d}/{t}':>5}" for d, t in counts.values()))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("decode", "show", "code"):
        print("usage: python -m lorakit.progress decode CODE... (or name=CODE)  |  show  |  code")
        return 2
    if argv[0] == "show":
        show()
        return 0
    if argv[0] == "code":
        code()
        return 0
    if len(argv) < 2:
        print("decode: give one or more codes, e.g. ana=LK1-22.210.000-7Q")
        return 2
    table = class_table(argv[1:])
    print(table)
    return 1 if "bad code" in table else 0


if __name__ == "__main__":
    raise SystemExit(main())
