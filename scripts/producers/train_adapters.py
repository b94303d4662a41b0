#!/usr/bin/env python
"""Train the course's shipped LoRA adapters, one per task, on the shipped model; write their cards.

    python scripts/producers/train_adapters.py                       # every task -> data/adapters/<task>/
    python scripts/producers/train_adapters.py --tasks record --out /tmp/adapters

Each adapter uses ``lorakit.studies.adapters.RECIPE`` (same rank for every task, seeded) and is saved in
PEFT's format (``adapter_config.json`` + ``adapter_model.safetensors``). Its card (``README.md``)
gives the task, the recipe, the training time and the exact match of the base model and of the
adapter on the task's held-out test split, with 95% bootstrap intervals; ``scores.json`` holds the
same numbers for tests and notebooks. Run it under ``/work/bin/heavy`` (a minute or two on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from lorakit.studies.adapters import ADAPTERS_DIR, RECIPE, mean, score, train_adapter
from lorakit.data.tasks import TASKS
from lorakit.models.loading import load
from lorakit.stats import bootstrap_ci, format_ci

CARD = """# LoRA adapter `{task}` for the course's shipped model

- **Task** `{task}` (`lorakit.data.tasks`): {what}
- **Base model**: `data/tiny-lm` (the shipped tiny Llama). The adapter fits only that model's shapes.
- **Recipe** (`lorakit.studies.adapters.RECIPE`): LoRA r = {r}, lora_alpha = {lora_alpha}, target_modules =
  `{target_modules}`, {params:,} trainable parameters; `lorakit.training.loop.finetune` (AdamW, answer-only
  loss), lr {lr}, batch {batch_size}, {trained_steps} steps, seed {task_seed}: {seconds:.1f} s on {threads} CPU threads,
  final loss {loss:.3f}.
- **Scores**, exact match on the first {n} examples of the task's `test` split (95% bootstrap interval):
  base model {base}; with this adapter **{adapter}**.

Made by `python scripts/producers/train_adapters.py` ({torch}); load with
`PeftModel.from_pretrained(model, "data/adapters/{task}", adapter_name="{task}")`.
"""

WHAT = {
    "qa": "read a passage about two or three people, answer one question with the value.",
    "record": "turn one sentence about a person into the record `name, relation, value`.",
    "lookup": "read a table of `name, relation, value` rows (one per person), return the row stored under a key `name, relation`.",
}


def train_one(task: str, out: Path, n_eval: int, steps: int | None = None) -> dict:
    spec = TASKS[task]
    test = spec.make_split("test", n_eval)
    base_model, tokenizer, _ = load(None, quiet=True)
    base = score(base_model, tokenizer, task, test)
    start = time.perf_counter()
    peft_model, result = train_adapter(base_model, tokenizer, task, steps=steps, out_dir=out / task)
    seconds = time.perf_counter() - start
    tuned = score(peft_model, tokenizer, task, test)
    params = sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    entry = {"task": task, "n_eval": n_eval, "base_exact_match": mean(base), "adapter_exact_match": mean(tuned),
             "base_ci": list(bootstrap_ci(base)[:3]), "adapter_ci": list(bootstrap_ci(tuned)[:3]),
             "steps": result.steps, "train_seconds": round(seconds, 1), "final_loss": result.final_loss,
             "trainable_parameters": params, "recipe": asdict(RECIPE)}
    card = CARD.format(task=task, what=WHAT[task], params=params, trained_steps=result.steps,
                       task_seed=RECIPE.task_seed(task), seconds=seconds,
                       threads=torch.get_num_threads(), loss=result.final_loss, n=n_eval,
                       base=format_ci(bootstrap_ci(base), percent=True),
                       adapter=format_ci(bootstrap_ci(tuned), percent=True),
                       torch=f"torch {torch.__version__}", **asdict(RECIPE))
    (out / task / "README.md").write_text(card)   # replaces PEFT's empty template card
    config_path = out / task / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = "data/tiny-lm"   # not this machine's absolute path
    config["target_modules"] = sorted(config["target_modules"])   # a set in PEFT: fix the order
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out / task / "scores.json").write_text(json.dumps(entry, indent=2) + "\n")
    print(f"{task:>7}: base {mean(base):.1%}  adapter {mean(tuned):.1%}  ({result.steps} steps, {seconds:.1f} s)",
          flush=True)
    return entry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--out", type=Path, default=ADAPTERS_DIR)
    ap.add_argument("--n-eval", type=int, default=500, help="test examples per task for the card")
    ap.add_argument("--steps", type=int, default=None, help="override the recipe's steps (smoke tests)")
    args = ap.parse_args()
    for task in args.tasks:
        train_one(task, args.out, args.n_eval, args.steps)


if __name__ == "__main__":
    main()
