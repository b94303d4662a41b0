#!/usr/bin/env python
"""Notebook 02's ablations on the shipped model, written to data/results/lora_ablations.json.

    /work/bin/heavy python scripts/producers/sweep_lora_ablations.py             # every variant (~20 min, 2 cores)
    python scripts/producers/sweep_lora_ablations.py --only "r=1" "r=64"         # re-run some, keep the others
    python scripts/producers/sweep_lora_ablations.py --seeds 1 2 --seed-runs "r=2" "r=16"   # other seeds of some rows

Each variant of :func:`lorakit.studies.ablations.sweep_variants` (ranks, target modules at equal time, full
fine-tuning at equal steps and time, alpha and rsLoRA at r = 64, batch order and clipping, learning
rates) is trained from a fresh copy of the model with the same seed and scored on the first
``--n-test`` examples of the QA test split; per-example scores are kept, so the notebook can put a
bootstrap interval on every number. The table is rewritten after each run, so an interrupted sweep
keeps what it finished. ``--seeds`` re-trains the rows named by ``--seed-runs`` with other seeds
(stored under ``"seeds"``), which measures the run-to-run noise that a bootstrap over test
questions does not see. Run it alone on the machine (under the CPU lock): the time-capped variants
depend on the machine's speed, and their rows record the steps they reached.
"""
from __future__ import annotations

import argparse
import time

import torch

from lorakit.studies import ablations
from lorakit.data.qa import make_split
from lorakit.models.loading import load_tokenizer

N_TEST = 200      # evaluation size: a 95% interval of about +-3 points near 95% exact match
STEPS = 300       # step budget of the step-capped variants (the notebook's main run)
SECONDS = 55.0    # wall-clock budget of the "equal time" variants (about the default run's time)
SAME = ("steps", "seconds", "n_test", "seed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder or hub id (default: the shipped data/tiny-lm)")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--seconds", type=float, default=SECONDS)
    ap.add_argument("--n-test", type=int, default=N_TEST)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the course's timings use 2)")
    ap.add_argument("--only", nargs="*", help="variant names to (re)run; the others are kept from --out")
    ap.add_argument("--seeds", nargs="*", type=int, default=[], help="other seeds for the --seed-runs rows")
    ap.add_argument("--seed-runs", nargs="*", default=[], help="rows of the table to re-train with --seeds")
    ap.add_argument("--out", default=str(ablations.TABLE_PATH))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if bool(args.seeds) != bool(args.seed_runs):
        raise SystemExit("--seeds and --seed-runs go together")
    previous = None
    if args.only or args.seeds:
        previous = ablations.load_table(args.out)
        wanted = {"steps": args.steps, "seconds": args.seconds, "n_test": args.n_test, "seed": args.seed}
        if {k: previous["meta"][k] for k in SAME} != wanted:
            raise SystemExit(f"--only keeps the other rows, so {wanted} must match the table's {previous['meta']}")

    def progress(name: str, table: dict) -> None:
        row = table["runs"][name]
        ablations.save_table(table, args.out)
        print(f"{name:26s} EM {row['em']:.3f}  {row['steps']:4d} steps  {row['seconds']:6.1f} s  "
              f"trainable {row['trainable']:>9,d}  loss {row['final_loss']:.3f}", flush=True)

    tokenizer, train, test = load_tokenizer(args.model), make_split("train"), make_split("test", args.n_test)
    table = previous
    if args.only or not previous:
        table = ablations.run_ablations(args.model, tokenizer, train, test, seed=args.seed, steps=args.steps,
                                    seconds=args.seconds, only=args.only, previous=previous, on_row=progress)
        table["meta"].update(generator="scripts/producers/sweep_lora_ablations.py",
                             test_split=f"the first {args.n_test} examples of data/qa/test.jsonl")
    if previous and args.only:   # the time of the whole sweep stays the first run's; say which rows were re-run
        table["meta"]["sweep_seconds"] = previous["meta"].get("sweep_seconds")   # None: the first sweep was cut short
        table["meta"]["rerun"] = sorted(set(previous["meta"].get("rerun", [])) | set(args.only))
    ablations.save_table(table, args.out)
    if args.seeds:
        def seed_progress(name: str, seed: int, table: dict) -> None:
            row = table["seeds"][name][str(seed)]
            ablations.save_table(table, args.out)
            print(f"{name:20s} seed {seed}  EM {row['em']:.3f}  {row['steps']:4d} steps  {row['seconds']:6.1f} s", flush=True)

        start = time.perf_counter()
        ablations.run_seeds(table, args.seed_runs, args.seeds, tokenizer, train, test, model_id=args.model,
                            on_row=seed_progress)
        table["meta"]["seed_runs_seconds"] = round(time.perf_counter() - start, 1)
        ablations.save_table(table, args.out)
    print(f"wrote {args.out} ({sum(row['seconds'] for row in table['runs'].values()) / 60:.1f} min of training in its rows)")


if __name__ == "__main__":
    main()
