#!/usr/bin/env python
"""Notebook 07's reach sweep: S²-Attn's group size, shift and depth, each read with full attention.

    python scripts/producers/longlora_reach.py                          # every S2 setting, seeds 0 1 2
    python scripts/producers/longlora_reach.py --seeds 0 --settings g1/2 --out /tmp/x.json   # one point
    python scripts/producers/longlora_reach.py --resume --redo --settings g1/8 g1/4 g1/2 g1/4_layers012 g1/4_layers123
        # re-train the shifted settings in place, adding their validation perplexity

For each seed: the sweep's stage 1 (``scripts/producers/longlora_sweep.py``: seed 0's saved adapter
is loaded, other seeds train it as the sweep did), then for each setting of
``lorakit.studies.longlora_reach.SETTINGS`` the sweep's stage 2 for LoRA on q, k, v, o (100 steps at
512 tokens) with that setting's attention in training, read with full attention on validation
passkey examples and validation long documents (``VALIDATION_DOC_SEED``: the setting is chosen
there), on the sweep's test examples and held-out documents, and under its own pattern on the test
examples. Writes ``data/results/07_longlora_reach.json`` after
every point, so a stopped run keeps what it measured. About 25-30 s per point on two idle cores.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from lorakit.course.env import versions
from lorakit.course.paths import REPO_ROOT
from lorakit.models.loading import load
from lorakit.studies.longlora import ExperimentConfig, config_dict, load_format, make_data, teach_format
from lorakit.studies.longlora_reach import (SETTINGS, VALIDATION_DOC_SEED, VALIDATION_SEED, evaluate_setting,
                                            question_position, train_setting, validation_documents, validation_examples)

DEFAULT_OUT = REPO_ROOT / "data" / "results" / "07_longlora_reach.json"
FORMAT_ADAPTER = REPO_ROOT / "data" / "results" / "longlora_format_seed0"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--settings", nargs="+", default=[n for n in SETTINGS if n != "full"], choices=list(SETTINGS),
                    help="default: every S2-Attn setting (LoRA with full attention is the sweep's lora_full)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true", help="keep the points already in --out and skip them")
    ap.add_argument("--redo", action="store_true", help="with --resume: re-run the named settings' points, keep the rest")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    previous = json.loads(args.out.read_text()) if args.resume and args.out.is_file() else {}
    result = {"script": "scripts/producers/longlora_reach.py", "versions": versions(),
              "config": config_dict(ExperimentConfig()) | {"seed": None}, "validation_seed": VALIDATION_SEED,
              "validation_doc_seed": VALIDATION_DOC_SEED,
              "settings": {n: {"group_size_ratio": s.group_size_ratio, "shift": s.shift, "layers": s.layers,
                               "label": s.label} for n, s in SETTINGS.items()},
              "runs": previous.get("runs", {}), "seconds": previous.get("seconds", 0.0)}
    start = time.perf_counter()
    for seed in args.seeds:
        todo = [n for n in args.settings if args.redo or str(seed) not in result["runs"].get(n, {})]
        if not todo:
            continue
        config = ExperimentConfig(seed=seed)
        model, tokenizer, _ = load(None, quiet=True)
        result["n_layers"] = model.config.num_hidden_layers
        data = make_data(tokenizer, config)
        if seed == 0 and FORMAT_ADAPTER.is_dir():
            base = load_format(model, FORMAT_ADAPTER)
        else:
            base, _ = teach_format(model, tokenizer, data, config)
        validation, val_docs = validation_examples(tokenizer, config), validation_documents(tokenizer, config)
        result["test_examples"] = {"depth": [e["depth"] for e in data.passkey_eval],       # the same for every seed
                                   "key_position": [e["key_position"] for e in data.passkey_eval],
                                   "question_position": [question_position(tokenizer, e) for e in data.passkey_eval]}
        for name in todo:
            t0 = time.perf_counter()
            model, run = train_setting(base, tokenizer, data, config, SETTINGS[name])
            record = evaluate_setting(model, tokenizer, data, validation, config, SETTINGS[name], val_docs=val_docs)
            record.update(steps=run.steps, train_seconds=round(run.seconds, 2), final_loss=run.final_loss,
                          seconds=round(time.perf_counter() - t0, 2))
            result["runs"].setdefault(name, {})[str(seed)] = record
            own = f", own pattern {record['own_accuracy']:.0%}" if "own_accuracy" in record else ""
            print(f"seed {seed} {name:>15}: val {record['val_accuracy']:.0%}, test {record['test_accuracy']:.0%}{own}, "
                  f"val ppl {record['val_ppl']:.3f}, ppl {record['ppl']:.3f}, {record['seconds']:.0f} s ({time.perf_counter() - start:.0f} s total)",
                  flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result | {"seconds": round(result["seconds"] + time.perf_counter() - start, 1)},
                                           indent=1) + "\n")
    result["seconds"] = round(result["seconds"] + time.perf_counter() - start, 1)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({result['seconds']:.0f} s in all)")


if __name__ == "__main__":
    main()
