#!/usr/bin/env python
"""What LoRA buys on the shipped model's QA task, measured: base exact match, then after <= 90 s of LoRA.

    python benchmarks/bench_qa_lora.py                 # shipped model, 90 s budget
    python benchmarks/bench_qa_lora.py --seconds 60 --model runs/candidate

Measures, in one run on this machine: the base model's exact match on the QA test split, then a
PEFT LoRA fine-tune on the train split for at most ``--seconds`` of wall time, then exact match on
the same test split. Prints one JSON line and the measured numbers (exact match before and after,
their ratio, seconds and steps); the pass/fail bar of the shipped model is a unit test
(``tests/models/test_tiny_lm.py``), not this benchmark.
"""
from __future__ import annotations

import argparse
import json
import random
import time

import torch
from peft import LoraConfig, get_peft_model

from lorakit.data.qa import SPLIT_SEEDS, SPLIT_SIZES, make_example, make_split
from lorakit.evaluate import evaluate_qa
from lorakit.models.loading import load_model, load_tokenizer
from lorakit.training.loop import TrainConfig, finetune


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder or hub id (default: data/tiny-lm)")
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--targets", default="all-linear")
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-binding", action="store_true",
                    help="the easier variant: no relation repeats in a passage")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer = load_tokenizer(args.model)
    model = load_model(args.model)
    if args.no_binding:
        rng_train, rng_test = random.Random(SPLIT_SEEDS["train"]), random.Random(SPLIT_SEEDS["test"])
        train = [make_example(rng_train, f"train-{i}", binding=False) for i in range(SPLIT_SIZES["train"])]
        test = [make_example(rng_test, f"test-{i}", binding=False) for i in range(args.n_test)]
    else:
        test = make_split("test", args.n_test)
        train = make_split("train")

    base = evaluate_qa(model, tokenizer, test)
    targets = args.targets if args.targets == "all-linear" else args.targets.split(",")
    peft_model = get_peft_model(model, LoraConfig(r=args.r, lora_alpha=args.alpha, target_modules=targets,
                                                  lora_dropout=0.0, task_type="CAUSAL_LM"))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    t0 = time.perf_counter()
    run = finetune(peft_model, tokenizer, train, TrainConfig(lr=args.lr, batch_size=args.batch_size,
                                                            max_seconds=args.seconds))
    tuned = evaluate_qa(peft_model, tokenizer, test)
    report = {
        "base_em": base["exact_match"], "base_in_context": base["in_context"],
        "lora_em": tuned["exact_match"], "lora_in_context": tuned["in_context"],
        "train_seconds": round(run.seconds, 1), "train_steps": run.steps,
        "examples_seen": run.examples_seen, "final_loss": round(run.final_loss, 4),
        "trainable_params": trainable, "n_test": len(test), "r": args.r, "targets": args.targets,
        "task": "no-binding" if args.no_binding else "default",
    }
    print(json.dumps(report))
    print(f"base EM {base['exact_match']:.1%}; LoRA EM {tuned['exact_match']:.1%} after {run.seconds:.0f} s "
          f"({run.steps} steps, {trainable:,} trainable parameters); "
          f"EM ratio LoRA / base: {tuned['exact_match'] / max(base['exact_match'], 1 / len(test)):.1f}x")
    for e, p in list(zip(test, tuned["predictions"]))[:3]:
        print(f"  Q: {e['question']}  gold: {e['answers']['text'][0]}  model: {p!r}")


if __name__ == "__main__":
    main()
