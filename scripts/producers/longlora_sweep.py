#!/usr/bin/env python
"""The LongLoRA notebook's sweep: every variant, several seeds, on the shipped model; JSON for the notebook.

    python scripts/producers/longlora_sweep.py                         # defaults = the notebook's settings
    python scripts/producers/longlora_sweep.py --seeds 0 --variants pi_only longlora --out /tmp/x.json
    python scripts/producers/longlora_sweep.py --seeds 0 --variants --out /tmp/x.json --save-format data/results/longlora_format_seed0

For each seed: teach the passkey format at the pretraining length (LoRA, merged), then for each
variant of ``lorakit.studies.longlora.VARIANTS`` extend the context 4x and fine-tune at the long
length for the same number of steps, and evaluate with full attention (passkey accuracy per example
and depth, held-out per-document loss); variants trained with S2-Attn are also evaluated under it.
Everything is seeded; the notebook re-runs one variant of seed 0 live and checks it against this
table. About 20 s per trained variant and 3 minutes per seed on two otherwise idle cores (the
shipped run took longer: the machine was shared).
Writes ``data/results/longlora_sweep.json``; with ``--save-format`` also seed 0's stage-1 LoRA adapter
(the notebook loads it instead of training stage 1, and re-trains one stage-2 variant live).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from lorakit.course.env import versions
from lorakit.evaluate import passkey_accuracy
from lorakit.studies.longlora import VARIANTS, ExperimentConfig, config_dict, make_data, run_longlora_variant, teach_format
from lorakit.models.loading import load
from lorakit.course.paths import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "data" / "results" / "longlora_sweep.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-format", type=Path, default=None,
                    help="save seed 0's stage-1 adapter here (the notebook loads it: data/results/longlora_format_seed0)")
    for f in dataclasses.fields(ExperimentConfig):
        if f.name != "seed":
            ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(ExperimentConfig) if f.name != "seed"}

    result = {"script": "scripts/producers/longlora_sweep.py", "versions": versions(), "config": None, "seeds": {}}
    start = time.perf_counter()
    for seed in args.seeds:
        config = ExperimentConfig(seed=seed, **overrides)
        result["config"] = {k: v for k, v in config_dict(config).items() if k != "seed"}
        model, tokenizer, _ = load(None, quiet=True)
        data = make_data(tokenizer, config)
        save_to = args.save_format if seed == 0 else None
        base, run = teach_format(model, tokenizer, data, config, save_to=save_to)
        short = passkey_accuracy(base, tokenizer, data.passkey_short, batch_size=config.eval_batch)
        runs = {"format": {"steps": run.steps, "seconds": round(run.seconds, 2), "final_loss": run.final_loss,
                           "passkey_short_correct": [int(c) for c in short["correct"]]}}
        print(f"seed {seed} format: passkey at {config.short_len} tokens {short['accuracy']:.1%} "
              f"after {run.steps} steps ({run.seconds:.0f} s)", flush=True)
        for name in args.variants:
            runs[name] = run_longlora_variant(base, tokenizer, name, data, config)
            r = runs[name]
            own = (f" (under S2-Attn: passkey {r['s2_eval']['passkey_accuracy']:.1%}, ppl {r['s2_eval']['ppl']:.3f})"
                   if "s2_eval" in r else "")
            print(f"seed {seed} {name:>10}: passkey {r['passkey_accuracy']:.1%}, ppl {r['ppl']:.3f}{own}, "
                  f"{r.get('train_seconds', 0):.0f} s, {time.perf_counter() - start:.0f} s total", flush=True)
        result["seeds"][str(seed)] = runs
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")       # after every seed: partial results survive
    result["total_seconds"] = round(time.perf_counter() - start, 1)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({result['total_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
