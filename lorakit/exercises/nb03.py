"""Checkers for notebook 03 (NF4 and double quantization).

Exercise 1, ``absmax_in_sigmas(blocksize)``: where the absmax of a block of normal weights sits,
in standard deviations (the median over blocks), from the normal distribution alone.
Exercise 2, ``scale_index(row, col, n_cols, blocksize)``: which absmax scales the value at
``(row, col)`` of a matrix with ``n_cols`` columns.
Exercise 3, ``storage_bytes(shape, blocksize, double_quant)``: the bytes bitsandbytes stores for a
tensor of ``shape``, packed indices and scales, any size.

None of the first three is a call to a function the notebook imports: each asks for a piece of reasoning
(an order statistic, flat block indexing, the partial blocks of two levels). The checkers compare
with an independent number (a simulation, the flattened tensor, the bytes in bitsandbytes'
``QuantState``) and name the usual slips. They follow :mod:`lorakit.exercises`: a stub returns
``None`` and gets a hint; nothing raises unless strict mode is on.
"""
from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable

import torch

from lorakit.exercises import call, exercise, named_slip, without

# ---------------------------------------------------------------- exercise 1: absmax in sigmas

ABSMAX_BLOCKSIZES = (32, 64, 4096)
ABSMAX_TOLERANCE = 0.02  # sigmas: a simulation of >= 10^4 blocks per size is this close; the mean is 0.05 further out
ABSMAX_SLIP_TOLERANCE = 0.01   # a slip is named only this close to its (exact) number: a noisy median is not "the mean"
ABSMAX_MIN_BLOCKS = 10_000     # blocks per size a simulation needs to land within ABSMAX_TOLERANCE


def _median_absmax(blocksize: int) -> float:
    """Median of max |z| over ``blocksize`` standard normals: solves (2 Phi(t) - 1)^B = 1/2."""
    from scipy.stats import norm

    return float(norm.ppf((1 + 0.5 ** (1 / blocksize)) / 2))


def _absmax_mean(blocksize: int, signed: bool = False) -> float:
    """The exact mean of a block's absmax (or, ``signed``, of its largest signed value), by integrating
    the survival function: E[M] = integral of P(M > t) dt over t > 0, less that of P(M < t) over t < 0."""
    from scipy.integrate import quad
    from scipy.stats import norm

    if signed:
        above = quad(lambda t: 1 - norm.cdf(t) ** blocksize, 0, 12)[0]
        below = quad(lambda t: norm.cdf(t) ** blocksize, -12, 0)[0]
        return float(above - below)
    return float(quad(lambda t: 1 - (2 * norm.cdf(t) - 1) ** blocksize, 0, 12)[0])


def _absmax_slips(blocksize: int) -> dict[str, float]:
    from scipy.stats import norm

    return {
        "that is the median of the largest SIGNED value, max z; the absmax is the largest MAGNITUDE, "
        "max |z|, which sits further out (both tails count)": float(norm.ppf(0.5 ** (1 / blocksize))),
        "that is the mean of the block absmax; the exercise asks for the median (the value half of the "
        "blocks stay below)": _absmax_mean(blocksize),
        "that is the mean of the largest SIGNED value (about 2.4 sigma for 64); the absmax takes |z|":
            _absmax_mean(blocksize, signed=True),
    }


@exercise(1)
def check_absmax_in_sigmas(absmax_in_sigmas: Callable) -> str:
    """Check ``absmax_in_sigmas(blocksize: int) -> float``: the median of a block's absmax, in sigmas."""
    for blocksize in ABSMAX_BLOCKSIZES:
        got = call(absmax_in_sigmas, blocksize)
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise AssertionError(f"absmax_in_sigmas must return a number, got {type(got).__name__}") from None
        expected = _median_absmax(blocksize)
        if abs(got - expected) <= ABSMAX_TOLERANCE:
            continue
        slip = named_slip(got, _absmax_slips(blocksize), lambda a, b: abs(a - b) <= ABSMAX_SLIP_TOLERANCE)
        if slip:
            raise AssertionError(f"blocksize {blocksize}: {got:.3f} sigma; {slip}")
        raise AssertionError(f"blocksize {blocksize}: got {got:.3f} sigma, expected about {expected:.3f} (within "
                             f"{ABSMAX_TOLERANCE}); a simulation needs at least {ABSMAX_MIN_BLOCKS:,} blocks per "
                             "size to land this close")
    shown = ", ".join(f"{b}: {_median_absmax(b):.2f}" for b in ABSMAX_BLOCKSIZES)
    return f"the median absmax in sigmas is right (blocksize {shown})"


# ---------------------------------------------------------------- exercise 2: which scale


SCALE_CASES = [(row, col, n_cols, blocksize)
               for n_cols, blocksize in ((256, 64), (64, 128), (96, 64), (100, 64), (7, 32))
               for row in (0, 1, 2, 5) for col in sorted({0, 1, n_cols // 2, n_cols - 1})]


def _scale_slips(row: int, col: int, n_cols: int, blocksize: int) -> dict[str, int]:
    return {
        "that assumes every row holds a whole number of blocks (row * (n_cols // blocksize) + "
        "col // blocksize): true only when n_cols is a multiple of blocksize. Blocks are chunks of the "
        "FLATTENED tensor and can cross rows. This is the very assumption that makes bitsandbytes' CPU "
        "dequantize wrong (see 'When the reference is wrong')": row * (n_cols // blocksize) + col // blocksize,
        "blocks do not restart at each row: count the values before (row, col) in the flattened tensor":
            col // blocksize,
        "one scale per row is what per-channel quantization does; here blocks are chunks of the flattened "
        "tensor": row,
        "that is the position inside the block (% blocksize); the block number is the integer quotient //":
            (row * n_cols + col) % blocksize,
    }


@exercise(2)
def check_scale_index(scale_index: Callable) -> str:
    """Check ``scale_index(row, col, n_cols, blocksize) -> int`` on rows shorter and longer than a block."""
    for row, col, n_cols, blocksize in SCALE_CASES:
        got = call(scale_index, row, col, n_cols, blocksize)
        expected = (row * n_cols + col) // blocksize
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, numbers.Integral) and not isinstance(got, bool):   # numpy integers too
            got = int(got)
        if not isinstance(got, int) or isinstance(got, bool):
            if isinstance(got, float) and got.is_integer():
                got = int(got)
            else:
                raise AssertionError(f"scale_index must return an int (an index into absmax), got {got!r}")
        if got == expected:
            continue
        where = f"(row {row}, col {col}) with {n_cols} columns in blocks of {blocksize}: got {got}, expected {expected}"
        slip = named_slip(got, _scale_slips(row, col, n_cols, blocksize))
        raise AssertionError(f"{slip}\n{where}" if slip else where)
    return f"scale_index is right on {len(SCALE_CASES)} positions, rows longer and shorter than a block"


# ---------------------------------------------------------------- exercise 3: bytes stored


STORAGE_CASES = [((64, 64), 64, False), ((3, 100), 64, False), ((5, 7), 64, False), ((1,), 32, False),
                 ((300, 64), 32, True), ((64, 64), 64, True), ((3, 100), 64, True), ((1024, 1024), 64, True),
                 ((5, 7), 128, True)]


def _bnb_bytes(shape: tuple[int, ...], blocksize: int, double_quant: bool) -> int:
    """Bytes of bitsandbytes' own tensors: packed weights, absmax, and the nested state's tensors."""
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    import bitsandbytes.functional as bnb_f

    w = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    packed, state = bnb_f.quantize_4bit(w, blocksize=blocksize, quant_type="nf4", compress_statistics=double_quant)
    tensors = [packed, state.absmax] + ([state.offset, state.state2.absmax] if double_quant else [])
    return sum(t.numel() * t.element_size() for t in tensors)


def _ceil(n: int, d: int) -> int:
    return -(-n // d)


def _storage_slips(shape: tuple[int, ...], blocksize: int, double_quant: bool) -> dict[str, int]:
    """What each slip answers for one case (a double-quantization slip answers right without it)."""
    numel = math.prod(shape)
    packed, blocks, floor_blocks = _ceil(numel, 2), _ceil(numel, blocksize), numel // blocksize

    def scales(n_blocks: int, offset: int = 4, level2: Callable[[int, int], int] = _ceil) -> int:
        return n_blocks + 4 * level2(n_blocks, 256) + offset if double_quant else 4 * n_blocks

    right = packed + scales(blocks)
    return {
        "the last block is partial when numel is not a multiple of blocksize, and it still gets its own "
        "absmax: ceil(numel / blocksize) scales": packed + scales(floor_blocks),
        "an odd number of indices still fills a whole last byte: ceil(numel / 2) bytes": numel // 2 + scales(blocks),
        "one index is 4 bits, so two share a byte: ceil(numel / 2) bytes, not numel": numel + scales(blocks),
        "double quantization stores the scales as 1 byte each, not as float32":
            packed + 4 * blocks if double_quant else right,
        "you counted the first-level float32 absmax as well; double quantization replaces it":
            packed + 4 * blocks + scales(blocks) if double_quant else right,
        "double quantization adds one float32 offset per tensor (the mean that was subtracted)":
            packed + scales(blocks, offset=0),
        "the second level has a partial block too: ceil(n_blocks / 256) float32 scales":
            packed + scales(blocks, level2=lambda n, d: n // d),
    }


@exercise(3)
def check_storage_bytes(storage_bytes: Callable) -> str:
    """Check ``storage_bytes(shape, blocksize, double_quant) -> int`` against bitsandbytes' ``QuantState``.

    A slip is named when the answers equal that slip's on every case (several slips give the same
    number on some shapes, e.g. a missing offset and a missing partial second-level block).
    """
    answers = [call(storage_bytes, *case) for case in STORAGE_CASES]
    expected = [_bnb_bytes(*case) for case in STORAGE_CASES]
    wrong = [i for i, (got, want) in enumerate(zip(answers, expected)) if got != want]
    if not wrong:
        return f"storage_bytes equals the bytes of bitsandbytes' QuantState on {len(STORAGE_CASES)} shapes"
    first = wrong[0]
    shape, blocksize, double_quant = STORAGE_CASES[first]
    where = (f"shape {shape}, blocksize {blocksize}, double_quant={double_quant}: got {answers[first]!r}, "
             f"bitsandbytes stores {expected[first]:,} bytes")
    slips = [_storage_slips(*case) for case in STORAGE_CASES]
    for message in slips[0]:
        if all(got == slip[message] for got, slip in zip(answers, slips)):
            raise AssertionError(f"{message}\n{where}")
    raise AssertionError(where)


# ---------------------------------------------------------------- exercise 4: one outlier, several block sizes

OUTLIER_SHAPE = (64, 1024)             # rows of 1024: whole blocks at every size below (the CPU fault: 03's Going deeper)
OUTLIER_BLOCKSIZES = (64, 256, 1024)   # under 2048: bitsandbytes' CPU build decodes these in its fast kernel
OUTLIER_AT = ((0, 5), (37, 700))       # the outlier's (row, col) in the two tensors checked
OUTLIER_VALUE = 1.0                    # 50 standard deviations of the other weights (0.02)
OUTLIER_RTOL = 1e-3


def outlier_tensor(at: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Normal weights (std 0.02) of :data:`OUTLIER_SHAPE` with one value :data:`OUTLIER_VALUE` at ``at``."""
    w = torch.randn(OUTLIER_SHAPE, generator=torch.Generator().manual_seed(seed)) * 0.02
    w[at] = OUTLIER_VALUE
    return w


def _quant_helpers() -> dict[str, Callable]:
    """lorakit's 4-bit round trip, imported by the notebook: exercise 4 asks for bitsandbytes'."""
    from lorakit import quant

    return {f"lorakit.quant.{name}": getattr(quant, name)
            for name in ("quantize_4bit", "dequantize_4bit", "quantization_mse", "fake_quantize_model_",
                         "describe_quantization") if hasattr(quant, name)}


def _measure(w: torch.Tensor, blocksize: int, quant_type: str = "nf4", keep_outlier: bool = False,
             relative: bool = True, row_blocks: bool = False,
             whole_denominator: bool = False) -> tuple[float, float, float]:
    """(in_block, elsewhere, whole) measured with bitsandbytes; the keywords give the usual slips
    (``whole_denominator``: every part's squared error over the whole tensor's squares)."""
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    import bitsandbytes.functional as bnb_f

    packed, state = bnb_f.quantize_4bit(w, blocksize=blocksize, quant_type=quant_type)
    x, err = w.reshape(-1), (bnb_f.dequantize_4bit(packed, state).reshape(-1) - w.reshape(-1)).pow(2)
    at = int(x.abs().argmax())
    block = (at % w.shape[-1] if row_blocks else at) // blocksize
    in_block = torch.zeros_like(x, dtype=torch.bool)
    in_block[block * blocksize:(block + 1) * blocksize] = True
    counted = torch.ones_like(in_block)
    if not keep_outlier:
        counted[at] = False

    def error(mask: torch.Tensor) -> float:
        mask = mask & counted
        below = counted if whole_denominator else mask
        return (err[mask].sum() / (x[below].pow(2).sum() if relative else mask.sum())).item()

    return error(in_block), error(~in_block), error(torch.ones_like(in_block))


def _outlier_slips(w: torch.Tensor, blocksize: int) -> dict[str, tuple[float, float, float]]:
    right = _measure(w, blocksize)
    return {
        "bitsandbytes' quantize_4bit defaults to FP4: pass quant_type=\"nf4\"": _measure(w, blocksize, "fp4"),
        "leave the outlier itself out: it is its block's absmax, stored exactly, and its square dwarfs the "
        "others' in the sum of squares": _measure(w, blocksize, keep_outlier=True),
        "relative means the summed squared error over the summed squares of the same values, not the mean "
        "squared error": _measure(w, blocksize, relative=False),
        "blocks are chunks of the flattened tensor (section 3, step 1), row after row: the outlier's block "
        "is found from its flat position, not from its column alone": _measure(w, blocksize, row_blocks=True),
        "the order is (in_block, elsewhere, whole): you swapped the first two": (right[1], right[0], right[2]),
        "relative SQUARED error: a norm ratio such as ‖error‖ / ‖w‖ is its square root; square it "
        "(or sum the squares)": tuple(v ** 0.5 for v in right),
        "leave the outlier out of \"whole\" too: it is its block's absmax, stored exactly, and its square "
        "dwarfs the others'": (right[0], right[1], _measure(w, blocksize, keep_outlier=True)[2]),
        "divide each part's squared error by the squares of the same values (the outlier's block for "
        "in_block, the other blocks for elsewhere), not by the whole tensor's":
            _measure(w, blocksize, whole_denominator=True),
        "divide the block's squared error by the squares of its own values (the outlier left out), not by "
        "the whole tensor's": (_measure(w, blocksize, whole_denominator=True)[0], right[1], right[2]),
    }


@exercise(4)
def check_outlier_errors(outlier_errors: Callable) -> str:
    """Check ``outlier_errors(w, blocksize) -> (in_block, elsewhere, whole)``, measured with bitsandbytes'
    NF4 round trip, on two tensors with one outlier and three block sizes, with lorakit's quantizer
    unavailable."""
    shown = []
    for at in OUTLIER_AT:
        for blocksize in OUTLIER_BLOCKSIZES:
            w = outlier_tensor(at)
            with without(outlier_errors, {**_quant_helpers(), "the checker's own _measure": _measure}):
                got = call(outlier_errors, w.clone(), blocksize)
            try:
                got = tuple(float(v) for v in got)
            except (TypeError, ValueError):
                raise AssertionError(f"return three numbers (in_block, elsewhere, whole), got {got!r}") from None
            if len(got) != 3:
                raise AssertionError(f"return three numbers (in_block, elsewhere, whole), got {len(got)}")
            expected = _measure(w, blocksize)

            def close(a, b):
                return all(abs(x - y) <= OUTLIER_RTOL * abs(y) + 1e-9 for x, y in zip(a, b))

            if close(got, expected):
                if at == OUTLIER_AT[0]:
                    shown.append((blocksize, expected))
                continue
            where = (f"(outlier at {at}, blocksize {blocksize}: got {', '.join(f'{v:.4g}' for v in got)}; "
                     f"expected {', '.join(f'{v:.4g}' for v in expected)})")
            slip = named_slip(got, _outlier_slips(w, blocksize), close)
            raise AssertionError(f"{slip or 'not the expected numbers'} {where}")
    table = "; ".join(f"{b}: {e[0]:.0%} in its block, {e[1]:.2%} elsewhere, {e[2]:.2%} overall" for b, e in shown)
    return (f"blocksize {table}. The outlier's block loses most of its signal at every size; the block size "
            "sets how many weights suffer it (blocksize - 1), which is why the whole tensor's error grows with "
            "the block size more than the other blocks' does")


__all__ = ["check_absmax_in_sigmas", "check_outlier_errors", "check_scale_index", "check_storage_bytes",
           "outlier_tensor"]
