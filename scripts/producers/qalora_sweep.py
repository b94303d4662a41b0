#!/usr/bin/env python
"""Notebook 06's ablations, precomputed: QA-LoRA against QLoRA-then-requantize over group sizes and bits.

    python scripts/producers/qalora_sweep.py                       # writes data/results/06_qa_lora_sweep.json
    python scripts/producers/qalora_sweep.py --seeds 0 --steps 20 --n-test 50 --out /tmp/sweep.json   # a quick look

Seeded and run on 2 threads, as the notebook runs: the notebook re-runs the (4 bits, groups of 32)
point of seed 0 live with the same settings and checks it against this table. For each seed: one
QLoRA run (NF4 + LoRA, merged in float16, then re-quantized to each point) and one QA-LoRA run per
point (INT-b base, merged exactly); exact match per test question; the base model's perplexity at
each bit width. See ``lorakit.studies.qalora_sweep`` for the layout of the JSON.
"""
from __future__ import annotations

import argparse
import platform

import torch

from lorakit.data.corpus import heldout_texts
from lorakit.data.qa import make_split
from lorakit.course.env import versions
from lorakit.models.loading import load
from lorakit.studies import qalora_compare as compare, qalora_sweep as sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder or hub id (default: the shipped data/tiny-lm)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=compare.CompareConfig.steps)
    ap.add_argument("--n-test", type=int, default=500, help="test questions (the notebook scores the first 200)")
    ap.add_argument("--n-texts", type=int, default=100, help="held-out documents for perplexity")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(sweep.SWEEP_FILE))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    base, tokenizer, model_id = load(args.model)
    config = compare.CompareConfig(steps=args.steps)
    result = sweep.run_sweep(base, tokenizer, make_split("train"), make_split("test", args.n_test),
                             heldout_texts(args.n_texts), config, seeds=args.seeds)
    result["config"].update(model=model_id if args.model else "data/tiny-lm", threads=args.threads,
                            lora_A_bound="1/sqrt(in_features)",
                            machine=f"{platform.machine()}, {torch.get_num_threads()} threads",
                            versions={k: v for k, v in versions().items() if k in ("torch", "transformers", "lorakit")})
    print(f"wrote {sweep.save_sweep(result, args.out)} in {result['config']['seconds']:.0f} s")


if __name__ == "__main__":
    main()
