#!/usr/bin/env python
"""Build, offline, a stand-in for a hub model: a real architecture's config cut to a few layers.

    python scripts/build_proxy_model.py build/t4-sim/proxy-model               # SmolLM2-135M, 2 layers
    python scripts/build_proxy_model.py OUT --narrow 3                         # ... and a third of its width
    python scripts/build_proxy_model.py OUT --config Qwen/Qwen2.5-0.5B --layers 2

``make t4-sim`` runs every notebook with ``LORAKIT_MODEL_ID`` pointing here, so the T4 path (a hub
model of another shape than the shipped one, in float16) is exercised on a CPU without the hub.
``--narrow K`` divides the width (hidden size, query and key/value heads, MLP size) by ``K`` and keeps
the head size: ``make t4-sim`` uses ``--narrow 3``, SmolLM2-135M's 9 query and 3 key/value heads of 64
becoming 3 and 1 (grouped-query attention, hidden 192: a multiple of 64 but not of 128, as 576 is),
because float16 matmuls are slow on a CPU and every notebook runs on it. The weights are random (seeded) and the vocabulary is the shipped
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


def narrow_config(raw: dict, k: int) -> dict:
    """``raw`` (a config.json dict) with its width divided by ``k``: same head size, ``1/k`` of the heads.

    ``{"hidden_size": 576, "num_attention_heads": 9, "num_key_value_heads": 3, "intermediate_size": 1536}``
    with ``k=3`` -> 192, 3, 1, 512 (``head_dim`` 64 kept).
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"narrow must be a positive integer, got {k!r}")
    heads, kv_heads = raw["num_attention_heads"], raw.get("num_key_value_heads", raw["num_attention_heads"])
    if heads % k or kv_heads % k or raw["intermediate_size"] % k:
        raise ValueError(f"narrow={k} must divide the heads ({heads}), key/value heads ({kv_heads}) and "
                         f"intermediate size ({raw['intermediate_size']}) of this config")
    head_dim = raw.get("head_dim") or raw["hidden_size"] // heads
    return dict(raw, hidden_size=head_dim * heads // k, num_attention_heads=heads // k,
                num_key_value_heads=kv_heads // k, intermediate_size=raw["intermediate_size"] // k, head_dim=head_dim)


def build(out: Path, config_name: str = "HuggingFaceTB/SmolLM2-135M", layers: int = 2, seed: int = 0,
          narrow: int = 1) -> Path:
    """Save a ``layers``-layer random model of ``config_name``'s shape (width divided by ``narrow``), with
    the shipped tokenizer, to ``out``."""
    hf_logging.disable_progress_bar()
    tokenizer = load_tokenizer(str(TINY_LM_DIR))
    raw = narrow_config(load_config_dict(config_name), narrow)
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
    width = "" if narrow == 1 else f" and 1/{narrow} of its width (hidden {config.hidden_size})"
    print(f"proxy model: {config_name} cut to {layers} layers{width}, vocabulary {config.vocab_size}, "
          f"{n:,} parameters -> {out}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--config", default="HuggingFaceTB/SmolLM2-135M", help="a shipped config (data/architectures/)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--narrow", type=int, default=1, help="divide the width (heads, hidden, MLP) by this")
    args = ap.parse_args()
    build(args.out, args.config, args.layers, narrow=args.narrow)


if __name__ == "__main__":
    main()
