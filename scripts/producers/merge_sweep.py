#!/usr/bin/env python
"""Merge weights and density chosen on validation for every add_weighted_adapter type: notebook 05's table.

    python scripts/producers/merge_sweep.py                                 # the full grid -> data/results/05_merge_sweep.json
    python scripts/producers/merge_sweep.py --types linear ties --n 20 --out /tmp/check.json

Loads the shipped model and the three shipped adapters (qa, record, lookup), and runs
:func:`lorakit.studies.merge_sweep.run_sweep`: every type's grid (weights in ``WEIGHT_GRID``: four
uniform settings and one, (1, 1.5, 1.5), with qa down-weighted; density in ``DENSITIES`` for the TIES, DARE and magnitude_prune types, seeds 0 1 2 for the random ``dare_*`` types)
scored by exact match on the first ``--n`` examples per task of the *validation* split; per type the
setting with the highest mean over the three tasks on validation (ties: the higher weakest task, then
grid order) is scored once on the first ``--n`` examples per task of the *test* split. Also writes the three task vectors'
cosine similarities and sign-conflict rates (:mod:`lorakit.lora.task_vectors`; the top-20% rate trims
the whole flattened vector, as the TIES paper does, where PEFT trims per layer). Greedy decoding, dare
seeded per point: the notebook re-runs one point live and checks it against this table.
The full grid is 275 scorings of 300 examples: 1040 s (17 min) wall, about half of it CPU time, on the
course's 2-core CPU shared with other jobs, one torch thread.
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings
from itertools import combinations
from pathlib import Path

import torch

from lorakit.data.tasks import TASKS
from lorakit.lora.peft import lora_delta_weights, peft_combination_types
from lorakit.lora.task_vectors import cosine_similarity, sign_conflict_rate
from lorakit.models.loading import load
from lorakit.studies import adapters, merge_sweep


def task_vector_stats(model, names, densities=(0.2,)) -> dict:
    deltas = {t: lora_delta_weights(model, t) for t in names}
    out = {}
    for a, b in combinations(names, 2):
        out[f"{a}/{b}"] = {"cosine": cosine_similarity(deltas[a], deltas[b]),
                           "sign_conflict": sign_conflict_rate(deltas[a], deltas[b]),
                           **{f"sign_conflict_top{d:g}": sign_conflict_rate(deltas[a], deltas[b], d) for d in densities}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", nargs="+", default=None, help="combination types (default: all of this PEFT's)")
    ap.add_argument("--n", type=int, default=100, help="examples per task, validation and test")
    ap.add_argument("--out", type=Path, default=merge_sweep.TABLE_PATH)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from peft import PeftModel
    from lorakit.course.env import versions

    base, tokenizer, _ = load(None)
    names = list(TASKS)
    model = PeftModel.from_pretrained(base, adapters.adapter_path(names[0]), adapter_name=names[0])
    for t in names[1:]:
        model.load_adapter(adapters.adapter_path(t), adapter_name=t)
    types = args.types or peft_combination_types()
    validation = {t: TASKS[t].make_split("validation", args.n) for t in names}
    test = {t: TASKS[t].make_split("test", args.n) for t in names}
    start = time.perf_counter()
    table = merge_sweep.run_sweep(model, tokenizer, names, types, validation, test, batch_size=32,
                                  log=lambda s: print(f"{time.perf_counter() - start:6.0f} s  {s}", flush=True))
    table["task_vectors"] = task_vector_stats(model, names)
    table["meta"] = {"model": "data/tiny-lm", "adapters": names, "types": types, "n": args.n,
                     "weight_grid": [list(w) for w in merge_sweep.WEIGHT_GRID],
                     "densities": list(merge_sweep.DENSITIES), "seeds": list(merge_sweep.SEEDS),
                     "chosen_on": "validation", "rule": "highest mean exact match over the tasks on validation "
                     "(mean over seeds for dare_*); ties: higher weakest task, then grid order",
                     "validation_split": f"the first {args.n} validation examples per task",
                     "test_split": f"the first {args.n} test examples per task",
                     "seconds": round(time.perf_counter() - start, 1), "threads": torch.get_num_threads(),
                     "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads",
                     "versions": versions(), "generator": "scripts/producers/merge_sweep.py"}
    print(f"wrote {merge_sweep.save_table(table, args.out)}")


if __name__ == "__main__":
    main()
