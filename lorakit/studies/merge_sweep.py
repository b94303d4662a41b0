"""Merge weights and density chosen on validation, for every ``add_weighted_adapter`` type.

Notebook 05 merges its three adapters (qa, record, lookup) into one with each of PEFT's combination
types. A type has settings: the weights (one per adapter) and, for the TIES, DARE and magnitude_prune
types, the ``density``. :func:`run_sweep` scores every setting of a small grid (:data:`WEIGHT_GRID` x
:data:`DENSITIES`) on the *validation* split, picks per type the setting with the highest mean exact
match over the tasks on validation (ties broken by the higher weakest task, then by grid order:
:func:`choose`), and scores only that setting on the *test* split. The random ``dare_*`` types are run with
:data:`SEEDS` (``torch.manual_seed`` right before ``add_weighted_adapter``): a setting's validation
score is its mean over the seeds, and its test scores are kept per seed (seeds x examples), so
``lorakit.stats.compare`` can pair them.

``cat`` stacks the factors: its rank is the sum of the adapters' ranks (3r), the others' is r. Its
update is the exact weighted sum Σ w_i·ΔW_i, and ``svd`` is that same sum truncated to rank r; so the
sweep also scores ``svd`` at ``cat``'s chosen weights on test (``equal_rank``): the pair measures what
truncating the exact sum to the others' rank costs, at the same weights.

``scripts/producers/merge_sweep.py`` writes ``data/results/05_merge_sweep.json``; notebook 05 reads it
(:func:`load_table`) and re-runs one setting live (:func:`score_setting`) to check it. The table holds
``meta["n"]`` examples per task; at another number of examples (or on another model) the notebook scores
its Parameters cell's one setting live with :func:`run_sweep` instead.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from lorakit.course.paths import RESULTS_DATA_DIR
from lorakit.studies.ablations import decode_correct, encode_correct
from lorakit.studies.adapters import mean, score_tasks
from lorakit.studies import tables

TABLE_PATH = RESULTS_DATA_DIR / "05_merge_sweep.json"
WEIGHT_GRID: tuple[tuple[float, ...], ...] = ((0.5, 0.5, 0.5), (1.0, 1.0, 1.0), (1.5, 1.5, 1.5), (2.0, 2.0, 2.0),
                                              (1.0, 1.5, 1.5))   # (qa, record, lookup)
DENSITIES: tuple[float, ...] = (0.2, 0.5, 0.8)
SEEDS: tuple[int, ...] = (0, 1, 2)
NO_DENSITY = ("svd", "linear", "cat")          # the types that take no density


def is_random(ctype: str) -> bool:
    """True for the types that draw random numbers (DARE's random drop)."""
    return ctype.startswith("dare_")


def takes_density(ctype: str) -> bool:
    """True for the types whose ``density`` matters (TIES, DARE, magnitude_prune)."""
    return ctype not in NO_DENSITY


def settings(ctype: str, weight_grid: Sequence[Sequence[float]] = WEIGHT_GRID,
             densities: Sequence[float] = DENSITIES) -> list[dict]:
    """The grid of one type: ``[{"weights": [...], "density": d or None}, ...]`` in grid order."""
    if not isinstance(ctype, str):
        raise TypeError(f"ctype must be a combination type name (str), got {type(ctype).__name__}")
    if not weight_grid:
        raise ValueError("weight_grid must hold at least one weight setting")
    for d in densities:
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d <= 1:
            raise ValueError(f"every density must be a number in (0, 1], got {d!r}")
    grid = [list(map(float, w)) for w in weight_grid]
    if not takes_density(ctype):
        return [{"weights": w, "density": None} for w in grid]
    if not densities:
        raise ValueError(f"{ctype} takes a density: densities must not be empty")
    return [{"weights": w, "density": float(d)} for w in grid for d in densities]


def score_setting(peft_model, tokenizer, adapters: Sequence[str], ctype: str, weights: Sequence[float],
                  density: float | None, eval_sets: Mapping[str, Sequence[dict]], seed: int | None = None,
                  batch_size: int = 32) -> dict[str, list[bool]]:
    """Add one combination, make it active, score it on ``eval_sets``, delete it.

    ``seed`` (for the ``dare_*`` types) seeds torch right before ``add_weighted_adapter``, so a point
    can be re-run on its own. The model ends as it started (same adapters, same active adapter).
    Returns ``{task: per-example exact match}``.
    """
    if len(weights) != len(adapters):
        raise ValueError(f"one weight per adapter: {len(adapters)} adapters, {len(weights)} weights")
    if takes_density(ctype) and density is None:
        raise ValueError(f"{ctype} needs a density")
    if is_random(ctype) and seed is None:
        raise ValueError(f"{ctype} is random: give a seed")
    kwargs = {"combination_type": ctype}
    if takes_density(ctype):
        kwargs["density"] = density
    active, name = peft_model.active_adapter, f"sweep_{ctype}"
    if seed is not None:
        torch.manual_seed(seed)
    peft_model.add_weighted_adapter(list(adapters), [float(w) for w in weights], name, **kwargs)
    try:
        peft_model.set_adapter(name)
        return score_tasks(peft_model, tokenizer, eval_sets, batch_size)
    finally:
        peft_model.set_adapter(active)
        peft_model.delete_adapter(name)


def setting_means(row: Mapping) -> dict[str, float]:
    """``{task: exact match}`` of one sweep row, averaged over its seeds."""
    per_seed = row["scores"]                                   # {seed: {task: encoded 0/1}}
    tasks = next(iter(per_seed.values())).keys()
    return {t: sum(mean(decode_correct(s[t])) for s in per_seed.values()) / len(per_seed) for t in tasks}


def choose(rows: Sequence[Mapping]) -> int:
    """Index of the row with the highest mean over tasks (ties: the higher weakest task, then the first).

    The mean, not the weakest task: where every setting keeps some tasks near 0, the weakest task
    would pick between noise-level scores.
    """
    if not rows:
        raise ValueError("choose needs at least one scored setting")
    keys = []
    for row in rows:
        m = setting_means(row)
        keys.append((round(sum(m.values()) / len(m), 9), round(min(m.values()), 9)))
    best = max(keys)
    return keys.index(best)


def run_sweep(peft_model, tokenizer, adapters: Sequence[str], types: Sequence[str],
              validation: Mapping[str, Sequence[dict]], test: Mapping[str, Sequence[dict]],
              weight_grid=WEIGHT_GRID, densities=DENSITIES, seeds=SEEDS, batch_size: int = 32,
              log=print) -> dict:
    """Score every type's grid on ``validation``, choose per type (:func:`choose`), score that on ``test``."""
    out = {"validation": {}, "chosen": {}, "test": {}, "equal_rank": None}
    for ctype in types:
        rows = []
        for s in settings(ctype, weight_grid, densities):
            per_seed = {}
            for seed in (seeds if is_random(ctype) else (None,)):
                sc = score_setting(peft_model, tokenizer, adapters, ctype, s["weights"], s["density"], validation,
                                   seed, batch_size)
                per_seed[str(seed)] = {t: encode_correct(v) for t, v in sc.items()}
            rows.append({**s, "scores": per_seed})
            log(f"validation {ctype} {s['weights']} density {s['density']}: "
                f"{ {t: round(v, 3) for t, v in setting_means(rows[-1]).items()} }")
        out["validation"][ctype] = rows
        pick = rows[choose(rows)]
        out["chosen"][ctype] = {"weights": pick["weights"], "density": pick["density"]}
        per_seed = {}
        for seed in (seeds if is_random(ctype) else (None,)):
            sc = score_setting(peft_model, tokenizer, adapters, ctype, pick["weights"], pick["density"], test,
                               seed, batch_size)
            per_seed[str(seed)] = {t: encode_correct(v) for t, v in sc.items()}
        out["test"][ctype] = per_seed
        log(f"test {ctype} chosen {out['chosen'][ctype]}: "
            f"{ {t: round(v, 3) for t, v in setting_means({'scores': per_seed}).items()} }")
    if "cat" in out["chosen"] and "svd" in types:
        w = out["chosen"]["cat"]["weights"]
        sc = score_setting(peft_model, tokenizer, adapters, "svd", w, None, test, None, batch_size)
        out["equal_rank"] = {"weights": w, "svd_test": {t: encode_correct(v) for t, v in sc.items()}}
    return out


def test_scores(table: Mapping, ctype: str) -> dict[str, list[list[int]]]:
    """``{task: seeds x examples}`` 0/1 test scores of a type's chosen setting (one row if not random)."""
    per_seed = table["test"][ctype]
    tasks = next(iter(per_seed.values())).keys()
    return {t: [decode_correct(per_seed[s][t]) for s in per_seed] for t in tasks}


def validation_row(table: Mapping, ctype: str, weights: Sequence[float], density: float | None) -> dict:
    """The validation row of one setting (``KeyError`` if the grid did not hold it)."""
    for row in table["validation"][ctype]:
        if row["weights"] == [float(w) for w in weights] and row["density"] == density:
            return row
    raise KeyError(f"{ctype} at weights {list(weights)}, density {density} is not in the sweep")


def save_table(table: dict, path: str | Path = TABLE_PATH) -> Path:
    return tables.save_table(table, path)


def load_table(path: str | Path = TABLE_PATH) -> dict:
    """The shipped sweep (``data/results/05_merge_sweep.json``)."""
    return tables.load_table(path, "scripts/producers/merge_sweep.py")
