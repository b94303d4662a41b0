#!/usr/bin/env python
"""S²-Attn against full attention: attention FLOPs counted, training-step seconds measured, in one run.

    python benchmarks/bench_s2_attn.py                              # shipped model, 256 .. 2048 tokens
    python benchmarks/bench_s2_attn.py --lengths 512 1024 --tokens 8192 --model path/to/model

For each sequence length N, one LoRA training step (forward and backward; batch = tokens // N, so
the work outside attention is the same at every length) is timed with full causal attention and
with S²-Attn at G = N / 4, interleaved (lorakit.longlora.step_seconds), and so is the attention
operation alone (lorakit.longlora.attention_seconds). Prints the FLOPs ratio of the two quadratic
attention products (4 at G = N / 4, by construction) and the measured seconds and speed-ups per
length, then one JSON line. A whole step cannot speed up by the FLOPs ratio: the linear
layers cost the same with either attention. The attention-op column shows whether the grouped
attention itself is faster on this machine (its rolls, reshapes and masks cost time too).
"""
from __future__ import annotations

import argparse
import json

import torch

from lorakit.longlora import attention_seconds, longlora_trainable, model_attention_flops, step_seconds
from lorakit.models.loading import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder or hub id (default: data/tiny-lm)")
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048])
    ap.add_argument("--tokens", type=int, default=4096, help="tokens per batch at every length")
    ap.add_argument("--ratio", type=float, default=0.25, help="group size as a fraction of the length")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = longlora_trainable(load_model(args.model), extra=())
    timed = step_seconds(model, args.lengths, args.tokens, args.ratio, repeats=args.repeats, rounds=args.rounds)
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    op = attention_seconds(args.lengths, args.tokens, cfg.num_attention_heads, head_dim, args.ratio,
                           repeats=args.repeats, rounds=args.rounds)
    report = {"tokens_per_batch": args.tokens, "group_size_ratio": args.ratio, "lengths": {}}
    print(f"{'N':>6} {'FLOPs full/S2':>14} {'full s/step':>12} {'S2 s/step':>10} {'step speed-up':>14} "
          f"{'attention-op speed-up':>22}")
    for n in args.lengths:
        g = int(n * args.ratio)
        flops_ratio = model_attention_flops(cfg, n) / model_attention_flops(cfg, n, group_size=g)
        speedup, op_speedup = timed[n]["full"] / timed[n]["s2"], op[n]["full"] / op[n]["s2"]
        print(f"{n:>6} {flops_ratio:>14.2f} {timed[n]['full']:>12.3f} {timed[n]['s2']:>10.3f} {speedup:>13.2f}x "
              f"{op_speedup:>21.2f}x")
        report["lengths"][n] = {"flops_ratio": flops_ratio, **timed[n], "speedup": speedup,
                                "attention_op": op[n], "attention_op_speedup": op_speedup}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
