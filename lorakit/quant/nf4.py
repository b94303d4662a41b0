"""NormalFloat4 (NF4): the 4-bit code book QLoRA stores its weights in.

Pretrained weights are close to normally distributed, so QLoRA places its 16 code values at
quantiles of the standard normal: each code then covers about the same share of the weights
(equal-probability bins), instead of spending codes on the sparse tails as an evenly spaced
(equal-width) code does. NF4 is a look-up table, not a float format: a 4-bit index selects one of
16 values; there is no sign, exponent or mantissa.
"""
from __future__ import annotations

import torch

NF4_OFFSET = 0.9677083
"""The outermost quantile QLoRA uses. ``norm.ppf(0.9677083)`` is about 1.848 standard deviations.
bitsandbytes calls the value "empirically optimized"; it equals 1/2 * ((1 - 1/30) + (1 - 1/32))."""


def nf4_code(offset: float = NF4_OFFSET) -> torch.Tensor:
    """Create the NF4 code book from quantiles of the standard normal distribution.

    Why: blockwise absmax scaling maps each block of weights into [-1, 1]. If the weights are
    normal, quantiles of N(0, 1), rescaled to [-1, 1], put the same probability mass between
    neighbouring codes, so every 4-bit index is used about equally often (QLoRA, Dettmers et al.
    2023, arXiv 2305.14314, section 3, "4-bit NormalFloat Quantization").

    How: 8 positive values are the normal quantiles at 8 probabilities spaced evenly from
    ``offset`` down towards 0.5 (``0.5`` itself, whose quantile is 0, is dropped); 7 negative values
    are the mirror image of 7 such quantiles; an exact 0 is added, so zero padding and zero weights
    stay exactly zero. The 16 values are sorted and divided by the largest, so the code spans
    [-1, 1] with -1 and 1 both present. The asymmetry (7 negative, 8 positive) is what lets a 4-bit
    code have an exact zero. The probabilities are computed in float32 exactly as bitsandbytes'
    ``create_normal_map`` does, so the result equals its hard-coded table bit for bit.

    Args:
        offset: the largest probability used; ``norm.ppf(offset)`` becomes the code value 1.0.
            Must lie in (0.5, 1).

    Returns:
        A float32 tensor of shape ``(16,)``, sorted ascending: index ``i`` is the value the 4-bit
        pattern ``i`` (0b0000 ... 0b1111) stands for. ``code[0] == -1``, ``code[7] == 0``,
        ``code[15] == 1``.
    """
    from scipy.stats import norm

    if not 0.5 < offset < 1:
        raise ValueError(f"offset must lie strictly between 0.5 and 1 (default {NF4_OFFSET}), got {offset}")
    positive = norm.ppf(torch.linspace(offset, 0.5, 9)[:-1].numpy())   # (8,) float64, largest first
    negative = -norm.ppf(torch.linspace(offset, 0.5, 8)[:-1].numpy())  # (7,)
    values = torch.tensor(sorted([*negative, 0.0, *positive]), dtype=torch.float32)  # (16,)
    return values / values.max()
