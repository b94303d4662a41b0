#!/usr/bin/env python
"""Build, offline, a stand-in for a hub model: a real architecture's config cut to a few layers.

    python scripts/build_proxy_model.py build/t4-sim/proxy-model               # SmolLM2-135M, 2 layers
    python scripts/build_proxy_model.py OUT --config Qwen/Qwen2.5-0.5B --layers 2

``make t4-sim`` runs every notebook with ``LORAKIT_MODEL_ID`` pointing here, so the T4 path (a hub
model of another shape: grouped-query attention, 9 heads of 64, hidden 576, in float16) is exercised
on a CPU without the hub. The weights are random (seeded) and the vocabulary is the shipped
tokenizer's, so the notebooks' data tokenizes as usual; nothing it *says* is meaningful, only that
every cell runs. Saved as safetensors with the tokenizer, like a hub snapshot.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.utils import logging as hf_logging

from lorakit.count import load_config_dict
from lorakit.models.loading import load_tokenizer
from lorakit.course.paths import TINY_LM_DIR


def build(out: Path, config_name: str = "HuggingFaceTB/SmolLM2-135M", layers: int = 2, seed: int = 0) -> Path:
    """Save a ``layers``-layer random model of ``config_name``'s shape, with the shipped tokenizer, to ``out``."""
    hf_logging.disable_progress_bar()
    tokenizer = load_tokenizer(str(TINY_LM_DIR))
    raw = load_config_dict(config_name)
    raw.update(num_hidden_layers=layers, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
               eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    for per_layer in ("layer_types", "max_window_layers"):   # Qwen2: lists/counts tied to the depth
        raw.pop(per_layer, None)
    config = AutoConfig.for_model(raw.pop("model_type"), **raw)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    print(f"proxy model: {config_name} cut to {layers} layers, vocabulary {config.vocab_size}, "
          f"{n:,} parameters -> {out}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--config", default="HuggingFaceTB/SmolLM2-135M", help="a shipped config (data/configs/)")
    ap.add_argument("--layers", type=int, default=2)
    args = ap.parse_args()
    build(args.out, args.config, args.layers)


if __name__ == "__main__":
    main()
