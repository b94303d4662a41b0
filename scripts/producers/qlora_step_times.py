#!/usr/bin/env python
"""Seconds per training step of QLoRA and LoRA, warm-up left out: the timing notebook 04 ships.

    python scripts/producers/qlora_step_times.py                  # seeds 0 1 2, 40 steps per run
    python scripts/producers/qlora_step_times.py --seeds 0 --steps 5 --out /tmp/check.json

``scripts/producers/qlora_vs_lora.py`` timed each 600-step run as a whole, so the first run of the process
(QLoRA, seed 0) carried the process's warm-up. Here each run is the same model and training as there
(:func:`lorakit.studies.qlora_vs_lora.lora_model` and ``train_sft``, no scoring), short, and timed step by
step (:class:`lorakit.course.timing.StepTimer`): the median step after the first. The methods alternate
and swap places from seed to seed (QLoRA, LoRA, LoRA, QLoRA, QLoRA, LoRA), so a drift in the machine's
load does not favour the one that runs second; every step's time is kept.
Writes ``data/results/04_step_times.json``.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from lorakit.course.paths import RESULTS_DATA_DIR
from lorakit.studies.tables import save_table

OUT = RESULTS_DATA_DIR / "04_step_times.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    from lorakit.course.timing import StepTimer
    from lorakit.studies import qlora_vs_lora

    preset, tokenizer, data, _ = qlora_vs_lora.producer_setup()
    runs, start = [], time.perf_counter()
    for seed in args.seeds:
        for method in (("qlora", "lora") if seed % 2 == 0 else ("lora", "qlora")):
            model = qlora_vs_lora.lora_model(None, method, r=16, seed=seed, checkpointing=False)
            every = StepTimer(warmup=1)
            _, seconds = qlora_vs_lora.train_sft(model, tokenizer, data["train"], args.steps, preset, seed=seed,
                                                 callbacks=[every])
            runs.append({"method": method, "seed": seed, "order": len(runs), "seconds_per_step": round(seconds, 4),
                         "first_step": round(every.times[0], 4),
                         "mean_with_first": round(statistics.mean(every.times), 4),
                         "step_times": [round(t, 4) for t in every.times]})
            print(f"{method} seed {seed}: {seconds:.3f} s/step (median after the first), first step "
                  f"{every.times[0]:.3f} s, {time.perf_counter() - start:.0f} s so far", flush=True)
    table = {"steps": args.steps, "warmup_steps_left_out": 1, "r": 16, "preset": preset.name,
             "batch_size": preset.batch_size, "seconds": round(time.perf_counter() - start, 1),
             "machine": "2 shared CPU cores, under load from other jobs", "runs": runs}
    save_table(table, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
