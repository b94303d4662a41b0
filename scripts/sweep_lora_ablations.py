#!/usr/bin/env python
"""Notebook 02's ablations on the shipped model, written to data/results/lora_ablations.json.

    /work/bin/heavy python scripts/sweep_lora_ablations.py             # every variant (~20 min, 2 cores)
    python scripts/sweep_lora_ablations.py --only "r=1" "r=64"         # re-run some, keep the others

Each variant of :func:`lorakit.ablations.sweep_variants` (ranks, target modules at equal time, full
fine-tuning at equal steps and time, alpha and rsLoRA at r = 64, batch order and clipping, learning
rates) is trained from a fresh copy of the model with the same seed and scored on the first
``--n-test`` examples of the QA test split; per-example scores are kept, so the notebook can put a
bootstrap interval on every number. The table is rewritten after each run, so an interrupted sweep
keeps what it finished. Run it alone on the machine (under the CPU lock): the time-capped variants
depend on the machine's speed, and their rows record the steps they reached.
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from lorakit import ablations
from lorakit.data.qa import make_split
from lorakit.env import versions
from lorakit.models import load_tokenizer, resolve_model_id

N_TEST = 200      # evaluation size: a 95% interval of about +-3 points near 95% EM
STEPS = 200       # step budget of the step-capped variants (the notebook's main run)
SECONDS = 30.0    # wall-clock budget of the "equal time" variants


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder or hub id (default: the shipped data/tiny-lm)")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--seconds", type=float, default=SECONDS)
    ap.add_argument("--n-test", type=int, default=N_TEST)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the course's timings use 2)")
    ap.add_argument("--only", nargs="*", help="variant names to (re)run; the others are kept from --out")
    ap.add_argument("--out", default=str(ablations.TABLE_PATH))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    groups = ablations.sweep_variants(args.steps, args.seconds)
    variants = ablations.unique_variants(groups)
    unknown = set(args.only or []) - {v.name for v in variants}
    if unknown:
        raise SystemExit(f"unknown variant(s) {sorted(unknown)}; known: {[v.name for v in variants]}")
    meta = {"generator": "scripts/sweep_lora_ablations.py", "model": args.model or "data/tiny-lm",
            "steps": args.steps, "seconds": args.seconds, "n_test": args.n_test, "seed": args.seed,
            "test_split": f"the first {args.n_test} examples of data/qa/test.jsonl", "threads": args.threads,
            "machine": f"{platform.machine()} CPU, {args.threads} torch threads", "versions": versions()}
    table = {"meta": meta, "groups": {g: [v.name for v in vs] for g, vs in groups.items()}, "runs": {}}
    if args.only:
        previous = ablations.load_table(args.out)
        if {k: previous["meta"][k] for k in ("steps", "seconds", "n_test", "seed")} != \
                {k: meta[k] for k in ("steps", "seconds", "n_test", "seed")}:
            raise SystemExit("--only keeps the other rows, so --steps/--seconds/--n-test/--seed must match the table")
        table["runs"] = previous["runs"]

    tokenizer = load_tokenizer(resolve_model_id(args.model))
    train, test = make_split("train"), make_split("test", args.n_test)
    for variant in variants:
        if args.only and variant.name not in args.only:
            continue
        start = time.perf_counter()
        row = ablations.run_variant(variant, tokenizer, train, test, model_id=args.model, seed=args.seed)
        table["runs"][variant.name] = row
        ablations.save_table(table, args.out)
        print(f"{variant.name:28s} EM {row['em']:.3f}  {row['steps']:4d} steps  {row['seconds']:6.1f} s train  "
              f"trainable {row['trainable']:>9,d}  loss {row['final_loss']:.3f}  "
              f"({time.perf_counter() - start:.0f} s with evaluation)", flush=True)
    table["runs"] = {v.name: table["runs"][v.name] for v in variants if v.name in table["runs"]}
    ablations.save_table(table, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
