#!/usr/bin/env python
"""Two-task merges of notebook 05's adapters: task arithmetic against RegMean, and why one keeps both tasks.

    python scripts/producers/two_task_merge.py                      # -> data/results/05_two_task_merge.json
    python scripts/producers/two_task_merge.py --n 20 --no-variants --out /tmp/check.json

Loads the shipped model and its three adapters (qa, record, lookup). For each pair of tasks, and for
all three, two ways to merge (:mod:`lorakit.studies.two_task_merge`), each a grid scored by exact match
on the first ``--n`` *validation* examples per task:

- task arithmetic Σ w_i·ΔW_i (PEFT's ``cat`` update), weights in ``TA_GRID`` per adapter (pairs: every
  combination; all three: equal weights);
- RegMean, ``alpha`` in ``ALPHAS`` and the first task's input weight λ in ``BALANCE`` (pairs; all
  three: λ = 1), fitted on the inputs of the first ``--n-gram`` *train* examples per task.

Per way and group, the setting whose weaker task keeps the largest share of its own adapter's
validation exact match is scored once on the first ``--n`` *test* examples per task; so is the
default, task arithmetic at weights 1 (the notebook's Parameters cell). Every scored setting gets its
per-task interference (the other updates' miss on a task's own inputs, see the module). Also stored:
each adapter's exact match on its own task, its size relative to the base (‖ΔW‖/‖W‖), and per pair the
task vectors' cosine and sign-conflict rate.

``--variants`` (default on) also trains the record and lookup adapters on disjoint modules (record:
attention; lookup: MLP), the recipe otherwise, so their task vectors share no entry (cosine 0), and
runs the same pair grid on them.
Deterministic (greedy decoding, seeded training): notebook 05 re-runs one point live against this table.
"""
from __future__ import annotations

import argparse
import copy
import platform
import tempfile
import time
import warnings
from itertools import combinations, product
from pathlib import Path

import torch

from lorakit.data.tasks import TASKS
from lorakit.lora.task_vectors import cosine_similarity, sign_conflict_rate
from lorakit.models.loading import load
from lorakit.studies import adapters
from lorakit.studies import two_task_merge as ttm
from lorakit.studies.ablations import encode_correct
from lorakit.studies.adapters import RECIPE, mean, score_tasks

TA_GRID = (0.5, 0.75, 1.0, 1.25)
ALPHAS = (0.5, 0.9, 1.0)
BALANCE = (0.5, 1.0, 2.0)
ATTENTION = ["k_proj", "o_proj", "q_proj", "v_proj"]
MLP = ["down_proj", "gate_proj", "up_proj"]


def settings(group) -> list[dict]:
    """Every setting tried for ``group``, task arithmetic first."""
    if len(group) == 2:
        ta = [list(w) for w in product(TA_GRID, TA_GRID)]
        rm = [(a, [lam, 1.0]) for a in ALPHAS for lam in BALANCE]
    else:
        ta = [[w] * len(group) for w in TA_GRID]
        rm = [(a, [1.0] * len(group)) for a in ALPHAS]
    return ([{"method": "task_arithmetic", "weights": w} for w in ta]
            + [{"method": "regmean", "alpha": a, "weights": lam} for a, lam in rm])


def merged_deltas(setting, deltas, grams, group):
    ds = [deltas[t] for t in group]
    if setting["method"] == "task_arithmetic":
        return ttm.task_arithmetic(ds, setting["weights"])
    return ttm.regmean(ds, [grams[t] for t in group], setting["alpha"], setting["weights"])


def run_group(base, tokenizer, group, deltas, grams, own_val, sets, log) -> dict:
    """Grid on validation, choice per method, test once (and the default setting on test)."""
    rows = []
    for s in settings(group):
        dm = merged_deltas(s, deltas, grams, group)
        sc = score_tasks(ttm.merged_model(base, dm), tokenizer, {t: sets["validation"][t] for t in group})
        row = {**s, "validation": {t: mean(v) for t, v in sc.items()},
               "interference": {t: ttm.interference(dm, deltas[t], grams[t]) for t in group}}
        rows.append(row)
        log(f"{'/'.join(group)} {s}: {row['validation']} interference "
            f"{ {t: round(x, 3) for t, x in row['interference'].items()} }")
    out = {"validation": rows, "chosen": {}, "test": {}}
    default = {"method": "task_arithmetic", "weights": [1.0] * len(group)}
    picks = {"default": default}
    for method in ("task_arithmetic", "regmean"):
        mine = [r for r in rows if r["method"] == method]
        pick = mine[ttm.choose(mine, own_val)]
        picks[method] = {k: pick[k] for k in ("method", "weights", "alpha") if k in pick}
    for name, s in picks.items():
        dm = merged_deltas(s, deltas, grams, group)
        sc = score_tasks(ttm.merged_model(base, dm), tokenizer, {t: sets["test"][t] for t in group})
        out["chosen"][name] = s
        out["test"][name] = {"scores": {t: encode_correct(v) for t, v in sc.items()},
                             "em": {t: mean(v) for t, v in sc.items()},
                             "interference": {t: ttm.interference(dm, deltas[t], grams[t]) for t in group}}
        log(f"test {'/'.join(group)} {name} {s}: {out['test'][name]['em']}")
    return out


def pair_stats(deltas, group) -> dict:
    a, b = group
    common = set(deltas[a]) & set(deltas[b])
    if not common:
        return {"cosine": 0.0, "sign_conflict": None, "shared_layers": 0}
    da = {k: deltas[a][k] for k in common}
    db = {k: deltas[b][k] for k in common}
    cos = cosine_similarity(da, db) * (sum(float(x.norm() ** 2) for x in da.values()) *
                                       sum(float(x.norm() ** 2) for x in db.values())) ** 0.5
    full = (sum(float(x.norm() ** 2) for x in deltas[a].values()) * sum(float(x.norm() ** 2) for x in deltas[b].values())) ** 0.5
    return {"cosine": cos / full, "sign_conflict": sign_conflict_rate(da, db), "shared_layers": len(common)}


def study(base, tokenizer, paths, groups, sets, n_gram, log) -> dict:
    """Everything for one set of adapters: own scores, sizes, grams, pair stats and every group's grid."""
    from peft import PeftModel

    names = list(paths)
    model = PeftModel.from_pretrained(copy.deepcopy(base), paths[names[0]], adapter_name=names[0])
    for t in names[1:]:
        model.load_adapter(paths[t], adapter_name=t)
    deltas = {t: ttm.plain_deltas(model, t) for t in names}
    own = {}
    for split in ("validation", "test"):
        own[split] = {}
        for t in names:
            model.set_adapter(t)
            own[split][t] = mean(adapters.score(model, tokenizer, t, sets[split][t]))
    grams = {t: ttm.input_grams(model, tokenizer, t, TASKS[t].make_split("train")[:n_gram], adapter=t) for t in names}
    out = {"own": own, "relative_size": {t: ttm.relative_size(deltas[t], base) for t in names},
           "layers": {t: len(deltas[t]) for t in names},
           "pairs": {"/".join(g): pair_stats(deltas, g) for g in combinations(names, 2)}, "groups": {}}
    for g in groups:
        out["groups"]["/".join(g)] = run_group(base, tokenizer, g, deltas, grams, own["validation"], sets, log)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="examples per task, validation and test")
    ap.add_argument("--n-gram", type=int, default=128, help="train examples per task whose inputs RegMean fits")
    ap.add_argument("--no-variants", action="store_true", help="skip the disjoint-module adapters")
    ap.add_argument("--out", type=Path, default=ttm.TABLE_PATH)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from lorakit.course.env import versions

    torch.manual_seed(0)
    base, tokenizer, _ = load(None, quiet=True)
    names = list(TASKS)
    sets = {s: {t: TASKS[t].make_split(s, args.n) for t in names} for s in ("validation", "test")}
    start = time.perf_counter()
    log = lambda s: print(f"{time.perf_counter() - start:6.0f} s  {s}", flush=True)   # noqa: E731
    groups = list(combinations(names, 2)) + [tuple(names)]
    table = {"shipped": study(base, tokenizer, {t: adapters.adapter_path(t) for t in names}, groups, sets,
                              args.n_gram, log)}
    if not args.no_variants:
        folder = Path(tempfile.mkdtemp(prefix="lorakit-two-task-"))
        trained = {}
        for task, modules in (("record", ATTENTION), ("lookup", MLP)):
            from peft import LoraConfig
            recipe_config = LoraConfig(r=RECIPE.r, lora_alpha=RECIPE.lora_alpha, target_modules=modules,
                                       lora_dropout=0.0, task_type="CAUSAL_LM")
            t0 = time.perf_counter()
            train_disjoint(copy.deepcopy(base), tokenizer, task, recipe_config, folder / task)
            trained[task] = {"target_modules": modules, "train_seconds": round(time.perf_counter() - t0, 1)}
            log(f"trained {task} on {modules} in {trained[task]['train_seconds']} s")
        table["disjoint_modules"] = {"adapters": trained, **study(
            base, tokenizer, {t: folder / t for t in ("record", "lookup")}, [("record", "lookup")], sets, args.n_gram, log)}
    table["meta"] = {"model": "data/tiny-lm", "adapters": names, "n": args.n, "n_gram": args.n_gram,
                     "task_arithmetic_grid": list(TA_GRID), "regmean_alphas": list(ALPHAS),
                     "regmean_balance": list(BALANCE), "chosen_on": "validation",
                     "rule": "per method, the setting whose weaker task keeps the largest share of its own adapter's "
                             "validation exact match (ties: the higher mean share, then grid order); scored once on test",
                     "validation_split": f"the first {args.n} validation examples per task",
                     "test_split": f"the first {args.n} test examples per task",
                     "gram_split": f"the first {args.n_gram} train examples per task (prompt + answer), own adapter active",
                     "seeds": {"adapters": "the recipe's (lorakit.studies.adapters.RECIPE.task_seed)",
                               "decoding": "greedy: nothing random"},
                     "seconds": round(time.perf_counter() - start, 1), "threads": torch.get_num_threads(),
                     "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads",
                     "versions": versions(), "generator": "scripts/producers/two_task_merge.py"}
    print(f"wrote {ttm.save_table(table, args.out)}")


def train_disjoint(model, tokenizer, task, config, out_dir) -> None:
    """The recipe's training (seed, steps, lr, batch) with another LoRA config; saved in PEFT's format."""
    from peft import get_peft_model

    from lorakit.training.loop import TrainConfig, finetune

    seed = RECIPE.task_seed(task)
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, config)
    finetune(peft_model, tokenizer, TASKS[task].make_split("train"),
             TrainConfig(lr=RECIPE.lr, batch_size=RECIPE.batch_size, max_steps=RECIPE.steps, max_seconds=None, seed=seed),
             to_pair=TASKS[task].format_example)
    peft_model.save_pretrained(str(out_dir))


if __name__ == "__main__":
    main()
