#!/usr/bin/env python
"""Why QLoRA rises later than LoRA on the shipped model: the table notebook 04's §5 reads.

    python scripts/producers/qlora_gap.py                  # bases + lr grid 2e-3 4e-3 8e-3, seeds 0 1, 300 steps
    python scripts/producers/qlora_gap.py --lrs 2e-3 --seeds 0 --steps 20 --eval-at 10 20 --out /tmp/check.json

1. **The base's damage before fine-tuning.** The untrained shipped model's loss on the answers of the first
   ``--n-validation`` validation questions (completion-only, the loss training minimizes), one value per
   question: unquantized (float32), NF4 and FP4 (bitsandbytes, double quantization):
   :func:`lorakit.studies.qlora_gap.base_losses`; and, for the damage to the pretrained model itself, each
   base's mean next-token loss on ``--n-heldout`` held-out pretraining documents (one value per document).
2. **A learning rate for QLoRA, chosen on validation.** QLoRA exactly as in ``04_qlora_vs_lora.json`` (same code,
   seeds, batch, warm-up, r = 16 on all linear layers), trained at each rate of ``--lrs`` for ``--steps`` steps and
   scored on the validation questions at each step of ``--eval-at`` (the adapter kept there). At each such step
   the rate with the highest validation exact match (mean over the seeds) is chosen, and only that rate's
   adapters are scored on the 200 test questions of ``04_qlora_vs_lora.json``, so they pair with its LoRA runs
   (learning rate 2e-3, the preset's, not tuned here). The grid starts at the table's rate (2e-3) and goes up.

Writes incrementally (each finished run), so a killed run keeps what it measured. The shipped table took 668 s
(11 minutes) on 2 CPU cores under the course's lock (OMP_NUM_THREADS=2), with other work queued on the machine.
Writes ``data/results/04_qlora_gap.json``.
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import torch

from lorakit.course.env import versions
from lorakit.course.paths import RESULTS_DATA_DIR
from lorakit.data.corpus import heldout_texts
from lorakit.data.qa import make_split
from lorakit.models import presets
from lorakit.models.loading import load_tokenizer
from lorakit.studies import qlora_gap
from lorakit.studies.ablations import encode_correct
from lorakit.studies.tables import save_table
from lorakit.training.sft import load_qa_splits

OUT = RESULTS_DATA_DIR / "04_qlora_gap.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lrs", type=float, nargs="+", default=[2e-3, 4e-3, 8e-3])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-at", type=int, nargs="+", default=[150, 300])
    ap.add_argument("--n-validation", type=int, default=200)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--n-heldout", type=int, default=200, help="held-out pretraining documents for the bases' LM loss")
    ap.add_argument("--skip-sweep", action="store_true", help="only the bases' losses")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if max(args.eval_at) > args.steps:
        ap.error("--eval-at steps must be <= --steps")
    warnings.filterwarnings("ignore")
    import datasets
    import transformers
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    start = time.perf_counter()
    preset = presets.resolve(None, preset="cpu")
    tokenizer = load_tokenizer(None)
    validation = make_split("validation", args.n_validation)
    table = {"config": {"lrs": args.lrs, "seeds": args.seeds, "steps": args.steps, "eval_at": sorted(args.eval_at),
                        "n_validation": args.n_validation, "n_heldout": args.n_heldout, "n_test": args.n_test, "r": 16, "preset": preset.name,
                        "batch_size": preset.batch_size, "warmup_steps": 20, "lora_lr_of_table": preset.lora_lr,
                        "threads": torch.get_num_threads(), "machine": platform.machine(),
                        "versions": {k: v for k, v in versions().items()
                                     if k in ("torch", "transformers", "peft", "bitsandbytes", "trl", "lorakit")}},
             "bases": {}, "runs": [], "chosen": {}}

    def write() -> None:
        table["config"]["seconds"] = round(time.perf_counter() - start, 1)
        save_table(table, args.out)

    texts = heldout_texts(args.n_heldout)
    losses = qlora_gap.base_losses(None, tokenizer, validation, texts=texts)
    table["bases"] = {part: {b: [round(v, 5) for v in loss.tolist()] for b, loss in by_base.items()}
                      for part, by_base in losses.items()}
    for part, by_base in losses.items():
        print(f"untrained bases, {part} loss: " + ", ".join(f"{b} {loss.mean():.4f}" for b, loss in by_base.items()),
              flush=True)
    write()
    if args.skip_sweep:
        return

    data = load_qa_splits(tokenizer.eos_token)
    snapshots = {}
    for seed in args.seeds:
        for lr in args.lrs:
            run = qlora_gap.lr_run("qlora", lr, seed, args.steps, args.eval_at, preset, tokenizer, data, validation)
            snapshots[(lr, seed)] = run.pop("snapshots")
            run["validation"] = {str(s): encode_correct(c) for s, c in sorted(run["validation"].items())}
            table["runs"].append(run)
            print(f"qlora lr {lr:g} seed {seed}: validation EM "
                  + ", ".join(f"{s} steps {c.count('1') / len(c):.1%}" for s, c in run["validation"].items())
                  + f", {run['seconds_per_step']:.3f} s/step, {time.perf_counter() - start:.0f} s so far", flush=True)
            write()

    test = make_split("test", args.n_test)
    for step in sorted(args.eval_at):
        by_lr = {lr: [[int(ch) for ch in r["validation"][str(step)]] for r in table["runs"] if r["lr"] == lr]
                 for lr in args.lrs}
        lr = qlora_gap.choose_lr(by_lr)
        test_correct = {str(seed): encode_correct(qlora_gap.score_snapshot(
            "qlora", seed, snapshots[(lr, seed)][step], tokenizer, test, preset.eval_batch_size)) for seed in args.seeds}
        table["chosen"][str(step)] = {"lr": lr, "test": test_correct}
        print(f"{step} steps: validation picks lr {lr:g}; test EM "
              + ", ".join(f"seed {s} {c.count('1') / len(c):.1%}" for s, c in test_correct.items()), flush=True)
        write()
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
