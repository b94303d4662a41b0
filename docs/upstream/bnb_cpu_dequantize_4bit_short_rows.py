#!/usr/bin/env python
"""bitsandbytes' CPU dequantize_4bit decodes with the wrong absmax when a row is not a whole number
of blocks. Stand-alone: needs only torch and bitsandbytes (tested with 0.50.2, torch 2.13 CPU).

    python docs/upstream/bnb_cpu_dequantize_4bit_short_rows.py

Prints, for a few shapes, the round-trip error of bitsandbytes' quantize_4bit -> dequantize_4bit
and of a decode by hand of the same bytes (code[index] * absmax[flat index // blocksize]); then the
output error of a Linear4bit(96, 128) layer, whose forward dequantizes the same way.
"""
import logging

import torch

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # an unrelated warning about an optional kernel
import bitsandbytes  # noqa: E402
import bitsandbytes.functional as F  # noqa: E402


def by_hand(packed, state):
    """Decode bitsandbytes' own bytes and absmax: value i = code[index i] * absmax[i // blocksize]."""
    n = state.shape.numel()
    flat = packed.reshape(-1)
    index = torch.stack([flat >> 4, flat & 0x0F], dim=1).reshape(-1)[:n].long()  # high nibble first
    return (state.code[index] * state.absmax.repeat_interleave(state.blocksize)[:n]).reshape(state.shape)


print(f"bitsandbytes {bitsandbytes.__version__}, torch {torch.__version__}, "
      f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
print(f"{'shape':>12} {'blocksize':>9} {'bnb round trip':>15} {'by hand':>8}  bnb == by hand")
for shape, blocksize in [((1024, 64), 128), ((256, 128), 256), ((16, 96), 64), ((64, 256), 64), ((3, 100), 64)]:
    w = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 0.1
    packed, state = F.quantize_4bit(w, blocksize=blocksize, quant_type="nf4")
    out = F.dequantize_4bit(packed, state)
    hand = by_hand(packed, state)
    print(f"{str(shape):>12} {blocksize:>9} {(out - w).abs().max().item():15.3f} {(hand - w).abs().max().item():8.3f}"
          f"  {torch.equal(out, hand)}")

# the same fault in a layer's forward: Linear4bit(96, 128), default blocksize 64, rows of different scales
gen = torch.Generator().manual_seed(0)
dense = torch.nn.Linear(96, 128, bias=False)
with torch.no_grad():
    dense.weight.copy_(torch.randn(128, 96, generator=gen) * torch.rand(128, 1, generator=gen) * 0.2)
layer = bitsandbytes.nn.Linear4bit(96, 128, bias=False, quant_type="nf4", compress_statistics=False,
                                   compute_dtype=torch.float32)
layer.load_state_dict(dense.state_dict())
layer = layer.to("cpu")  # quantizes
x = torch.randn(8, 96, generator=gen)
with torch.no_grad():
    y, y_dense = layer(x), dense(x)
    y_hand = x @ by_hand(layer.weight.data, layer.weight.quant_state).T
print(f"Linear4bit(96, 128) forward, relative error: bnb {((y - y_dense).norm() / y_dense.norm()).item():.2f}, "
      f"same bytes decoded by hand {((y_hand - y_dense).norm() / y_dense.norm()).item():.2f}")
