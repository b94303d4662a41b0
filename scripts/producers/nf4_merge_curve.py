#!/usr/bin/env python
"""Merging a QLoRA adapter into NF4: how much of the update survives, against its size. Notebook 04 ships it.

    python scripts/producers/nf4_merge_curve.py                     # seeds 0 1 2, snapshots at 150 and 450 steps
    python scripts/producers/nf4_merge_curve.py --seeds 0 --steps 150 --factors 1 --out /tmp/check.json

Each seed trains notebook 04's QLoRA run (:func:`lorakit.studies.qlora_vs_lora.lora_model` and ``train_sft``:
r = 16 on all linear layers, NF4 + double quantization, the preset's learning rate and batch, float32
adapters); seed 0 at 150 steps is the notebook's §3 adapter (same code, seed and steps), and a run stopped
at 150 steps equals the step-150 snapshot of a longer one (constant schedule after warm-up, as in
``qlora_vs_lora.py``). At each snapshot the update of every layer, :math:`\\Delta W`, is multiplied by each
``--factors`` value (1 is the adapter as trained), and for each:

* the relative size :math:`|\\Delta W| / |W|` over all 4-bit layers, and the fraction of :math:`\\Delta W`
  kept along :math:`\\Delta W` after re-quantizing :math:`Q(W) + \\Delta W` to NF4
  (:func:`lorakit.studies.nf4_merge.kept_fraction`);
* exact match on the first ``--n-test`` test questions of the three merges of
  :mod:`lorakit.studies.nf4_merge` (into the original float32 base, into the decoded NF4 base, re-quantized
  to NF4), per question, so ``lorakit.stats.compare`` can pair them.

Nothing is chosen here: the factors are a fixed grid and the test is scored once per point. Writes
``data/results/04_nf4_merge_curve.json``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from transformers import TrainerCallback

from lorakit.course.paths import RESULTS_DATA_DIR
from lorakit.studies.tables import save_table

OUT = RESULTS_DATA_DIR / "04_nf4_merge_curve.json"


class Snapshot(TrainerCallback):
    """The adapter's per-layer updates after each step in ``steps``."""

    def __init__(self, steps):
        self.steps, self.deltas, self.nf4 = set(steps), {}, None

    def on_step_end(self, args, state, control, model=None, **kwargs):
        from lorakit.studies.nf4_merge import adapter_parts

        if state.global_step in self.steps:
            self.nf4, self.deltas[state.global_step] = adapter_parts(model)
        return control


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=450)
    ap.add_argument("--snapshots", type=int, nargs="+", default=[150, 450])
    ap.add_argument("--factors", type=float, nargs="+", default=[1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0])
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if max(args.snapshots) > args.steps:
        ap.error("--snapshots must be <= --steps")
    import torch

    from lorakit.evaluate import evaluate_qa
    from lorakit.models.loading import load_model
    from lorakit.studies import nf4_merge, qlora_vs_lora
    from lorakit.studies.ablations import encode_correct

    preset, tokenizer, data, test = qlora_vs_lora.producer_setup(args.n_test)
    plain = load_model(None)                                   # the float32 base, rewritten for each merge
    base = {n: m.weight.detach().clone() for n, m in plain.named_modules() if isinstance(m, torch.nn.Linear)}
    runs, start = [], time.perf_counter()
    for seed in args.seeds:
        model = qlora_vs_lora.lora_model(None, "qlora", r=16, seed=seed, checkpointing=False)
        snap = Snapshot(args.snapshots)
        qlora_vs_lora.train_sft(model, tokenizer, data["train"], args.steps, preset, seed=seed, callbacks=[snap])
        for step, deltas in sorted(snap.deltas.items()):
            points = []
            for factor in args.factors:
                scaled = nf4_merge.scaled_deltas(deltas, factor)
                point = {"factor": factor, "rel_size": nf4_merge.relative_size(snap.nf4, scaled),
                         **nf4_merge.kept_fraction(snap.nf4, scaled), "em": {}, "correct": {}}
                for kind in nf4_merge.MERGES:
                    out = evaluate_qa(nf4_merge.merged_model(plain, kind, base, snap.nf4, scaled), tokenizer, test,
                                      batch_size=preset.eval_batch_size)
                    point["em"][kind], point["correct"][kind] = out["exact_match"], encode_correct(out["correct"])
                points.append(point)
                print(f"seed {seed} step {step} x{factor:g}: |dW|/|W| {point['rel_size']:.4f}, kept "
                      f"{point['kept']:.1%}, EM {point['em']}, {time.perf_counter() - start:.0f} s", flush=True)
            runs.append({"seed": seed, "step": step, "points": points})
    table = {"steps": args.steps, "snapshots": sorted(args.snapshots), "factors": args.factors,
             "n_test": args.n_test, "r": 16, "preset": preset.name, "lr": preset.lora_lr,
             "batch_size": preset.batch_size, "merges": list(nf4_merge.MERGES),
             "seconds": round(time.perf_counter() - start, 1), "runs": runs}
    save_table(table, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
