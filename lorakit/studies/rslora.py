"""rsLoRA's rank-stability test on the QA task: exact match against the rank r at a fixed ``lora_alpha``.

LoRA scales its update by ``alpha / r``; rsLoRA (Kalajdzievski 2023, arXiv 2312.03732) by
``alpha / sqrt(r)``. The paper's claim is about ranks: at a fixed alpha and learning rate, under
``alpha / r`` larger ranks stop helping (the update shrinks as r grows, so they learn more slowly),
while under ``alpha / sqrt(r)`` larger ranks keep improving. :func:`run_sweep` tests a narrower question
here, whether a learning rate tuned at one rank carries over to the others:

1. for each scaling, the learning rate is chosen on the *validation* split from a small grid, at the
   reference rank (one seed per rate);
2. with that rate, every rank of ``ranks`` is trained with each seed of ``seeds`` and scored on the
   *test* split (per-example 0/1 scores kept, so :func:`lorakit.stats.compare` can pair runs).

``scripts/producers/rslora_sweep.py`` writes ``data/results/rslora_rank_sweep.json``; notebook 02 reads it
with :func:`load_table` and shows :func:`rank_table` and :func:`rank_comparisons`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lorakit.course.paths import RESULTS_DATA_DIR
from lorakit.stats import Comparison, compare
from lorakit.studies import tables

TABLE_PATH = RESULTS_DATA_DIR / "rslora_rank_sweep.json"
SCALINGS = {"alpha/r": False, "alpha/sqrt(r)": True}      # name -> use_rslora
RANKS = (4, 16, 64, 256)
LRS = (5e-4, 2e-3, 8e-3)
SEEDS = (0, 1, 2)
ALPHA = 16
REF_RANK = 16


def run_name(scaling: str, r: int, lr: float, seed: int) -> str:
    """The key of one run in the table, e.g. ``"alpha/r r=16 lr=0.002 seed=0"``."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {list(SCALINGS)}, got {scaling!r}")
    return f"{scaling} r={r} lr={lr:g} seed={seed}"


def variant(scaling: str, r: int, lr: float, steps: int, alpha: float = ALPHA):
    """The :class:`lorakit.studies.ablations.Variant` of one run (all linear layers, fixed ``alpha``)."""
    from lorakit.studies.ablations import Variant

    return Variant(run_name(scaling, r, lr, 0).rsplit(" seed", 1)[0], r=r, lora_alpha=alpha,
                   use_rslora=SCALINGS[scaling], lr=lr, max_steps=steps)


def train_and_score(v, tokenizer, train, scored: dict[str, Sequence[dict]], model_id=None, seed: int = 0) -> dict:
    """Train variant ``v`` once from a fresh model and score it on each split of ``scored``."""
    import torch

    from lorakit.evaluate import evaluate_qa
    from lorakit.studies.ablations import encode_correct, variant_model
    from lorakit.training.loop import finetune

    model = variant_model(v, model_id, seed)
    config = v.train_config(seed=seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    run = finetune(model, tokenizer, train, config, optimizer=optimizer)
    row = {"variant": v.to_dict(), "seed": seed, "steps": run.steps, "seconds": round(run.seconds, 2),
           "final_loss": round(run.final_loss, 4)}
    for split, examples in scored.items():
        scores = evaluate_qa(model, tokenizer, examples, batch_size=32)
        row[split] = {"em": scores["exact_match"], "correct": encode_correct(scores["correct"])}
    return row


def chosen_lr(table: dict, scaling: str) -> float:
    """The grid rate with the best validation exact match at the reference rank (ties: the smaller rate)."""
    meta = table["meta"]
    best = None
    for lr in meta["lrs"]:
        row = table["runs"].get(run_name(scaling, meta["ref_rank"], lr, meta["seeds"][0]))
        if row is None:
            raise ValueError(f"the lr grid of {scaling} is incomplete: no run at lr={lr:g}")
        if best is None or row["validation"]["em"] > best[1]:
            best = (lr, row["validation"]["em"])
    return best[0]


def rate_choice(table: dict) -> list[dict]:
    """Display rows of step 1: per scaling, its multiplier at the reference rank, the validation exact
    match at each rate of the grid, and the rate chosen."""
    meta, rows = table["meta"], []
    for scaling, rs in SCALINGS.items():
        r = meta["ref_rank"]
        row = {"scaling": scaling, f"multiplier at r={r}": round(meta["alpha"] / (r ** 0.5 if rs else r), 4)}
        for lr in meta["lrs"]:
            row[f"val EM at lr {lr:g}"] = table["runs"][run_name(scaling, r, lr, meta["seeds"][0])]["validation"]["em"]
        row["chosen lr"] = chosen_lr(table, scaling)
        rows.append(row)
    return rows


def run_sweep(tokenizer, train, validation, test, model_id=None, steps: int = 100, ranks=RANKS, lrs=LRS,
              seeds=SEEDS, alpha: float = ALPHA, ref_rank: int = REF_RANK, previous: dict | None = None,
              on_row: Callable[[str, dict], None] | None = None) -> dict:
    """Choose each scaling's rate on validation, then train every rank with every seed; see the module."""
    import platform

    import torch

    from lorakit.course.env import versions

    if ref_rank not in ranks:
        raise ValueError(f"ref_rank {ref_rank} must be one of the ranks {list(ranks)}")
    meta = {"model": str(model_id or "data/tiny-lm"), "alpha": alpha, "ranks": list(ranks), "lrs": list(lrs),
            "seeds": list(seeds), "ref_rank": ref_rank, "steps": steps, "n_validation": len(validation),
            "n_test": len(test), "threads": torch.get_num_threads(),
            "machine": f"{platform.machine()} {'GPU' if torch.cuda.is_available() else 'CPU'}",
            "versions": versions()}
    table = {"meta": meta, "runs": dict(previous["runs"]) if previous else {}, "chosen_lr": {}}
    start = time.perf_counter()

    def run(scaling, r, lr, seed):
        name = run_name(scaling, r, lr, seed)
        if name not in table["runs"]:
            table["runs"][name] = train_and_score(variant(scaling, r, lr, steps, alpha), tokenizer, train,
                                                  {"validation": validation, "test": test}, model_id, seed)
            if on_row:
                on_row(name, table)

    for scaling in SCALINGS:                      # 1. the rate, on validation, at the reference rank
        for lr in lrs:
            run(scaling, ref_rank, lr, seeds[0])
        table["chosen_lr"][scaling] = chosen_lr(table, scaling)
    for scaling in SCALINGS:                      # 2. every rank and seed at that rate, on test
        for r in ranks:
            for seed in seeds:
                run(scaling, r, table["chosen_lr"][scaling], seed)
    meta["sweep_seconds"] = round(time.perf_counter() - start, 1) + (previous or {}).get("meta", {}).get("sweep_seconds", 0)
    return table


def save_table(table: dict, path: str | Path = TABLE_PATH) -> Path:
    return tables.save_table(table, path)


def load_table(path: str | Path = TABLE_PATH) -> dict:
    """The shipped sweep: ``{"meta": {...}, "chosen_lr": {scaling: lr}, "runs": {name: row}}``."""
    return tables.load_table(path, "scripts/producers/rslora_sweep.py")


def seed_scores(table: dict, scaling: str, r: int) -> list[list[int]]:
    """Per-example test scores of every seed of ``(scaling, r)`` at the scaling's chosen rate."""
    from lorakit.studies.ablations import decode_correct

    lr = table["chosen_lr"][scaling]
    out = []
    for seed in table["meta"]["seeds"]:
        name = run_name(scaling, r, lr, seed)
        if name not in table["runs"]:
            raise ValueError(f"the table has no run {name!r}")
        out.append(decode_correct(table["runs"][name]["test"]["correct"]))
    return out


def rank_sweep(table: dict) -> dict[str, dict[int, float]]:
    """``{scaling: {r: test exact match, mean over seeds}}`` (the record key ``rslora_rank_sweep``)."""
    out = {}
    for scaling in SCALINGS:
        out[scaling] = {}
        for r in table["meta"]["ranks"]:
            runs = seed_scores(table, scaling, r)
            out[scaling][r] = round(sum(sum(c) / len(c) for c in runs) / len(runs), 4)
    return out


def rank_table(table: dict) -> list[dict]:
    """Display rows: scaling, r, its multiplier alpha/r or alpha/sqrt(r), lr, EM per seed and the mean."""
    rows = []
    alpha = table["meta"]["alpha"]
    for scaling, rs in SCALINGS.items():
        for r in table["meta"]["ranks"]:
            ems = [sum(c) / len(c) for c in seed_scores(table, scaling, r)]
            rows.append({"scaling": scaling, "r": r, "multiplier": round(alpha / (r ** 0.5 if rs else r), 4),
                         "lr": table["chosen_lr"][scaling], "em per seed": [round(e, 3) for e in ems],
                         "mean em": round(sum(ems) / len(ems), 4)})
    return rows


def rank_comparisons(table: dict, *, margin: float = 0.03, floor: float | None = 0.10) -> list[Comparison]:
    """Within each scaling, each rank against the next smaller one, by :func:`lorakit.stats.compare`
    with every seed (the same test questions, so the runs pair)."""
    out = []
    ranks = table["meta"]["ranks"]
    for scaling in SCALINGS:
        for small, big in zip(ranks, ranks[1:]):
            out.append(compare(seed_scores(table, scaling, big), seed_scores(table, scaling, small),
                               names=(f"{scaling} r={big}", f"r={small}"), margin=margin, floor=floor))
    return out
