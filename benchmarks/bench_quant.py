#!/usr/bin/env python
"""lorakit.quant against bitsandbytes on the CPU: NF4 quantize + dequantize of a 4096 x 4096 tensor.

    python benchmarks/bench_quant.py                       # 4096 x 4096, 7 repeats, 2 threads
    python benchmarks/bench_quant.py --size 2048 --repeats 11 --code fp4

Times both implementations side by side in one process (alternating, after a warm-up), checks
that their bytes agree, and prints the median times and the ratio ours / bitsandbytes. The target
is a ratio of at most 2.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time

import torch

from lorakit.quant import dequantize_4bit, quantize_4bit

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # its CPU backend warns about an optional kernel
import bitsandbytes.functional as bnb_f  # noqa: E402


def ours(w: torch.Tensor, code: str, blocksize: int) -> torch.Tensor:
    packed, state = quantize_4bit(w, code, blocksize)
    return dequantize_4bit(packed, state)


def theirs(w: torch.Tensor, code: str, blocksize: int) -> torch.Tensor:
    packed, state = bnb_f.quantize_4bit(w, blocksize=blocksize, quant_type=code)
    return bnb_f.dequantize_4bit(packed, state)


def seconds(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=4096, help="the tensor is size x size (default 4096)")
    ap.add_argument("--code", choices=("nf4", "fp4"), default="nf4")
    ap.add_argument("--blocksize", type=int, default=64,
                    help="below 2048: bnb's dequantization then runs its C kernel (--size must be a multiple "
                         "of it, or that kernel decodes wrong values: see lorakit.quant.quantize)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    w = torch.randn(args.size, args.size, generator=torch.Generator().manual_seed(0)) * 0.02
    packed, state = quantize_4bit(w, args.code, args.blocksize)
    ref_packed, ref_state = bnb_f.quantize_4bit(w, blocksize=args.blocksize, quant_type=args.code)
    same = torch.equal(packed, ref_packed.reshape(-1)) and torch.equal(state.absmax, ref_state.absmax)
    max_diff = (ours(w, args.code, args.blocksize) - theirs(w, args.code, args.blocksize)).abs().max().item()

    times = {"lorakit": [], "bitsandbytes": []}
    for _ in range(args.repeats):  # alternate, so background load hits both alike
        times["lorakit"].append(seconds(ours, w, args.code, args.blocksize))
        times["bitsandbytes"].append(seconds(theirs, w, args.code, args.blocksize))
    median = {name: statistics.median(t) for name, t in times.items()}
    ratio = median["lorakit"] / median["bitsandbytes"]

    print(f"{args.code}, {args.size} x {args.size} float32, blocksize {args.blocksize}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats} (quantize + dequantize)")
    print(f"bytes and absmax equal to bitsandbytes: {same}; max |dequantized difference|: {max_diff:.1e}")
    for name, value in median.items():
        print(f"  {name:>12}: {1000 * value:8.1f} ms   (all: {', '.join(f'{1000 * t:.0f}' for t in times[name])})")
    print(f"RATIO lorakit / bitsandbytes = {ratio:.2f}  (target <= 2: {'met' if ratio <= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
