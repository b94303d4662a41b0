#!/usr/bin/env python
"""rsLoRA's rank-stability test on the shipped model, written to data/results/rslora_rank_sweep.json.

    nice -n 10 python scripts/producers/rslora_sweep.py        # 28 runs of 100 steps (~25 CPU-minutes, 1 thread)

For each scaling (alpha/r, LoRA's; alpha/sqrt(r), rsLoRA's) at a fixed lora_alpha = 16, the learning rate is
chosen on the first --n-val validation questions from a 3-point grid at r = 16 (one seed per rate); with it,
r in {4, 16, 64, 256} is trained with seeds 0, 1, 2 and scored on the first --n-test test questions
(per-example scores kept). See lorakit.studies.rslora. Shrunk to fit a shared 2-core CPU: 100 steps per run
(the notebook's main run has 300), a 3-point grid chosen at one rank, 200 validation and 200 test questions.
The table is rewritten after each run and a re-run skips the runs it already holds.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from lorakit.data.qa import make_split
from lorakit.models.loading import load_tokenizer
from lorakit.studies import rslora


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--n-val", type=int, default=200)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(rslora.TABLE_PATH))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    previous = rslora.load_table(args.out) if Path(args.out).exists() else None
    if previous and previous["meta"]["steps"] != args.steps:
        raise SystemExit(f"{args.out} was made with {previous['meta']['steps']} steps, not {args.steps}")

    def progress(name: str, table: dict) -> None:
        row = table["runs"][name]
        rslora.save_table(table, args.out)
        print(f"{name:36s} val {row['validation']['em']:.3f} test {row['test']['em']:.3f} "
              f"{row['seconds']:6.1f} s loss {row['final_loss']:.3f}  [{time.strftime('%H:%M:%S')}]", flush=True)

    tokenizer = load_tokenizer(args.model)
    train = make_split("train")
    validation, test = make_split("validation", args.n_val), make_split("test", args.n_test)
    table = rslora.run_sweep(tokenizer, train, validation, test, model_id=args.model, steps=args.steps,
                             previous=previous, on_row=progress)
    table["meta"].update(generator="scripts/producers/rslora_sweep.py",
                         validation_split=f"the first {args.n_val} examples of data/qa/validation.jsonl",
                         test_split=f"the first {args.n_test} examples of data/qa/test.jsonl")
    rslora.save_table(table, args.out)
    print("chosen lr:", table["chosen_lr"])
    print(rslora.rank_sweep(table))


if __name__ == "__main__":
    main()
