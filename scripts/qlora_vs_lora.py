#!/usr/bin/env python
"""QLoRA against LoRA on the unquantized base, on the QA task at equal steps: the table notebook 04 ships.

    python scripts/qlora_vs_lora.py                       # seeds 0 1 2, 150 steps, 200 test questions
    python scripts/qlora_vs_lora.py --seeds 0 --steps 150 --out /tmp/check.json

Each run builds a fresh model with :func:`lorakit.qlora.lora_model` (QLoRA: NF4 + double quantization,
``prepare_model_for_kbit_training``, gradient checkpointing; LoRA: the base in the compute dtype, no
checkpointing; both: r = 16 on all linear layers), trains it with :func:`lorakit.qlora.train_sft`
(TRL's ``SFTTrainer``, ``optim="paged_adamw_32bit"``, the preset's learning rate and batch) and scores
exact match on the first ``--n-test`` test questions. Seeded: the notebook re-runs the seed-0 QLoRA
point live and checks it against this table. Writes ``data/results/04_qlora_vs_lora.json``.
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

from lorakit import presets, qlora
from lorakit.ablations import encode_correct
from lorakit.count import count_parameters
from lorakit.data.qa import make_split
from lorakit.evaluate import evaluate_qa
from lorakit.models import load_tokenizer
from lorakit.paths import RESULTS_DATA_DIR
from lorakit.sft import load_qa_splits

OUT = RESULTS_DATA_DIR / "04_qlora_vs_lora.json"


def run(method: str, seed: int, steps: int, n_test: int, preset, tokenizer, data, test) -> dict:
    model = qlora.lora_model(None, method, r=16, seed=seed)
    trainer, seconds = qlora.train_sft(model, tokenizer, data["train"], steps, preset,
                                       checkpointing=method == "qlora", seed=seed)
    scores = evaluate_qa(model, tokenizer, test, batch_size=preset.eval_batch_size)
    return {"method": method, "seed": seed, "steps": steps, "em": scores["exact_match"],
            "correct": encode_correct(scores["correct"]), "seconds_per_step": round(seconds, 4),
            "trainable": count_parameters(model)[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import datasets
    import transformers
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    preset = presets.resolve(None, preset="cpu")
    tokenizer = load_tokenizer(None)
    data = load_qa_splits(tokenizer.eos_token)
    test = make_split("test", args.n_test)
    runs, start = [], time.perf_counter()
    for seed in args.seeds:
        for method in ("qlora", "lora"):
            runs.append(run(method, seed, args.steps, args.n_test, preset, tokenizer, data, test))
            print(f"{method} seed {seed}: EM {runs[-1]['em']:.3f}, {runs[-1]['seconds_per_step']:.3f} s/step",
                  flush=True)
    table = {"steps": args.steps, "n_test": args.n_test, "r": 16, "preset": preset.name,
             "seconds": round(time.perf_counter() - start, 1), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
